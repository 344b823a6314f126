"""The documentation is checked like code.

* Every command line shown in a fenced shell block of README.md or a reference page (docs/*.md;
  docs/experiments/ holds dated records and is not checked) that starts with ``see3d`` or
  ``python`` must either sit in a block marked as an illustration (an ``<!-- illustration -->``
  line right before the block) or be listed in ``EXERCISED`` with the test that runs it (or a fast
  variant of it). Either way a ``see3d`` command must name an existing subcommand and only options
  that subcommand knows, and a ``python`` script must exist and know its options.
* Every ``python`` block of those pages that is not marked as an illustration runs, and its own
  asserts hold (the pages' runnable examples).
* Every relative Markdown link in README.md, CHANGELOG.md and docs/ (experiments included)
  points at an existing file, and every ``#anchor`` at an existing heading.

When you add a command to a page: put it in ``EXERCISED`` with the test that runs it (that test's
module must mention every option the command uses), or mark its block ``<!-- illustration -->``.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ILLUSTRATION = "<!-- illustration -->"
SHELL_LANGS = {"bash", "sh", "shell", "console", ""}

#: Documented command -> the test that runs it (or a fast variant of it): "tests/FILE.py::test_name";
#: "ci" = the CI entry point runs it (.ci/run); "docs" = this module runs it (cheap commands).
EXERCISED: dict[str, str] = {
    # README.md: quick start, published models
    "see3d generate --example motorcycle -o out/": "tests/test_generate.py::test_generate_example_outputs",
    "python -m pytest -q": "ci",
    "see3d weights list": "docs",
    "see3d weights get metric3d-vit-small": "tests/test_weights.py::test_get_fetches_exactly_the_entrys_files_into_the_hf_cache",
    "see3d generate photo.jpg -o out/": "tests/test_weights.py::test_generate_uses_the_fetched_model_by_default",
    "see3d depth photo.jpg --fov 65 -o d/": "tests/test_depth_cli.py::test_intrinsics_file_and_fov",
    "see3d eval depth ann.json --model da2-metric-indoor-small": "tests/test_weights.py::test_eval_depth_by_name_equals_the_backend_built_by_hand",
    "see3d weights path metric3d-vit-small": "tests/test_weights.py::test_get_fetches_exactly_the_entrys_files_into_the_hf_cache",
    # README.md: mesh, edit, batch, prompt
    "see3d mesh out -o motorcycle.ply": "tests/test_mesh.py::test_mesh_of_a_generate_output",
    "see3d mesh out -o seen.ply --generated-weight 0": "tests/test_mesh.py::test_mesh_of_a_generate_output",
    "see3d edit out --mask mask.png --image new.png -o out_edited": "tests/test_edit.py::test_edit_regenerates_reached_views_and_copies_the_others",
    "see3d edit out --mask mask.png --prompt 'a blue tarp' --inpaint path/to/inpainting-pipeline -o out_tarp": "tests/test_edit.py::test_edit_with_an_inpainting_model",
    "see3d generate --batch jobs.jsonl --fill telea --no-gaussians -o runs/": "tests/test_batch.py::test_batch_runs_every_job_and_isolates_failures",
    "see3d weights get tiny-sd": "tests/test_text3d.py::test_default_model_comes_from_the_weights_cache",
    "see3d generate --prompt 'a red vintage motorcycle in a garage' --t2i tiny-sd -o car/": "tests/test_text3d.py::test_prompt_to_3d",
    # docs/cli.md
    "see3d generate photo.jpg --fov 65 --trajectory spiral --frames 24 -o out/": "tests/test_generate.py::test_generate_views_follow_trajectory_file",
    "see3d generate photo.jpg --depth photo_depth.npy --fx 1450 --fill telea --no-gaussians -o out/": "tests/test_generate.py::test_generate_bad_depth_and_focal",
    "see3d depth photo.jpg --fx 1450 -o out/": "tests/test_depth_cli.py::test_depth_outputs_are_consistent",
    "see3d depth photos/ --fov 65 -m metric3d-vit-small -o depths/": "tests/test_depth_cli.py::test_no_intrinsics_is_loud_and_folder_works",
    "see3d reconstruct out/ -o out3d/": "tests/test_gs_reconstruct.py::test_reconstruct_render_and_view_commands",
    "see3d render out/scene.ply --trajectory orbit -o orbit.mp4": "tests/test_gs_reconstruct.py::test_reconstruct_render_and_view_commands",
    "see3d view out/scene.ply --html scene.html": "tests/test_gs_reconstruct.py::test_reconstruct_render_and_view_commands",
    "see3d mesh out -o mesh.ply": "tests/test_mesh.py::test_mesh_of_a_generate_output",
    "see3d synth -o out/room0 --seed 0 --frames 20 --size 256 --video": "tests/test_docs.py::test_synth_commands_as_documented",
    # docs/synth.md
    "see3d synth -o out/set --clips 100 --kind objects --trajectory orbit --size 320 --height 240 --focal 300 -j 8": "tests/test_docs.py::test_synth_commands_as_documented",
    # docs/depth.md
    "see3d depth photos/ --model metric3d-onnx:metric3d_vit_small.onnx --intrinsics K.txt -o out/": "tests/test_depth_cli.py::test_intrinsics_file_and_fov",
    "see3d eval depth ../shared/data/metric3d_demo/test_annotations.json --model tiny --median-scale": "tests/test_depth_eval.py::test_eval_cli_on_demo",
    "see3d train depth --out runs/depth_tiny --export src/see3d/assets/depth_tiny.safetensors": "tests/test_docs.py::test_train_depth_export_as_documented",
    "see3d train depth --out runs/depth_tiny --threads 1 --export src/see3d/assets/depth_tiny.safetensors": "tests/test_docs.py::test_train_depth_export_as_documented",
    "see3d weights get metric3d-vit-large": "tests/test_weights.py::test_get_fetches_exactly_the_entrys_files_into_the_hf_cache",
    "see3d eval depth nyu_test/test_annotations.json --model metric3d-vit-large --protocol nyu --json nyu_vitl.json": "tests/test_docs.py::test_eval_depth_protocol_and_json_as_documented",
    "see3d eval depth kitti_eigen_test/test_annotations.json --model metric3d-vit-large --protocol kitti --json kitti_vitl.json": "tests/test_docs.py::test_eval_depth_protocol_and_json_as_documented",
    "see3d eval depth ../shared/data/metric3d_demo/test_annotations.json --model metric3d-vit-large": "tests/test_weights.py::test_eval_depth_by_name_equals_the_backend_built_by_hand",
    # docs/gs.md
    "see3d reconstruct data/fox -o fox3d --eval-every 2 --max-size 320": "tests/test_gs_reconstruct.py::test_fox_photos_load_undistorted",
    "see3d synth -o views --kind objects --trajectory orbit --frames 12 --size 128": "tests/test_docs.py::test_synth_commands_as_documented",
    "see3d reconstruct views --train-views 0,4,8 --densify 6 -o views3d": "tests/test_sparse.py::test_reconstruct_densify_scores_held_out_views_against_their_photos",
    "see3d render fox3d/scene.ply --trajectory orbit -n 48 -o orbit.mp4": "tests/test_gs_reconstruct.py::test_reconstruct_render_and_view_commands",
    "see3d view fox3d/scene.ply": "tests/test_gs_viewer.py::test_server_serves_only_the_page_and_the_scene",
    "see3d view fox3d/scene.ply --html fox.html": "tests/test_gs_reconstruct.py::test_reconstruct_render_and_view_commands",
    # docs/warp.md
    "python benchmarks/warp.py --agree": "tests/test_warp.py::test_numba_matches_torch_reference",
}
#: README.md: the edit example's mask and replacement made from a generate output (test_edit makes its own the same way)
EXERCISED[shlex.join(["python", "-c", (
    "import numpy as np; from PIL import Image; m = np.zeros((500, 741), np.uint8); m[120:300, 80:260] = 255; "
    "Image.fromarray(m).save('mask.png'); v = np.asarray(Image.open('out/views/0000.png')); "
    "Image.fromarray(v[:, :, ::-1].copy()).save('new.png')")])] = "tests/test_edit.py::test_edit_regenerates_reached_views_and_copies_the_others"

#: Options every test module may leave out (they only steer output and progress).
QUIET_OPTIONS = {"-q", "--quiet", "--help", "-o", "--out", "--overwrite"}


# ----------------------------------------------------------------------------- reading the pages
@dataclass
class Block:
    path: Path
    line: int  #: 1-based line of the opening fence
    lang: str
    text: str
    illustration: bool


@dataclass
class Command:
    path: Path
    line: int
    tokens: list[str]
    illustration: bool

    @property
    def key(self) -> str:
        return shlex.join(self.tokens)

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def reference_pages() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def linked_pages() -> list[Path]:
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md"] + sorted((ROOT / "docs").rglob("*.md"))
    return [p for p in pages if p.is_file()]


def fenced_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        prev = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1
        blocks.append(Block(path, start + 1, lang, "\n".join(body), prev == ILLUSTRATION))
    return blocks


def shell_commands(block: Block) -> list[Command]:
    """``see3d`` / ``python`` command lines of a shell block (``&&``, ``;`` and ``|`` split a line;
    ``$`` prompts, comments, continuation lines and leading ``VAR=value`` assignments are dropped)."""
    out = []
    logical: list[tuple[int, str]] = []
    pending, first = "", 0
    for n, raw in enumerate(block.text.splitlines()):
        if not pending:
            first = n
        pending += raw.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        logical.append((first, pending))
        pending = ""
    for n, text in logical:
        text = text.strip()
        if text.startswith("$ "):
            text = text[2:]
        try:
            tokens = shlex.split(text, comments=True)
        except ValueError:
            continue  # output or prose, not a command line
        part: list[str] = []
        for t in tokens + ["&&"]:
            if t in ("&&", ";", "|", "||"):
                while part and re.match(r"^[A-Z_][A-Z0-9_]*=", part[0]):
                    part.pop(0)
                if part and part[0] in ("see3d", "python", "python3"):
                    out.append(Command(block.path, block.line + 1 + n, part, block.illustration))
                part = []
            else:
                part.append(t)
    return out


def documented_commands() -> list[Command]:
    cmds = []
    for page in reference_pages():
        for b in fenced_blocks(page):
            if b.lang in SHELL_LANGS:
                cmds.extend(shell_commands(b))
    return cmds


def python_examples() -> list[Block]:
    return [b for page in reference_pages() for b in fenced_blocks(page) if b.lang == "python" and not b.illustration]


# ----------------------------------------------------------------------------- checking commands
def _cli_root():
    import typer.main

    from see3d.cli import app

    return typer.main.get_command(app)


def _check_see3d(tokens: list[str], root) -> str | None:
    """None when ``tokens`` name an existing subcommand and only options it knows, else the problem.
    (Duck-typed: typer may bring its own copy of click.)"""
    cmd, path, i = root, ["see3d"], 1
    while hasattr(cmd, "commands") and i < len(tokens) and tokens[i] in cmd.commands:
        cmd = cmd.commands[tokens[i]]
        path.append(tokens[i])
        i += 1
    rest = tokens[i:]
    if hasattr(cmd, "commands") and not any(t in ("--help", "--version") for t in rest):
        return f"{' '.join(path)} is a group: no subcommand {rest[:1]}"
    known = {"--help"}
    takes_value: set[str] = set()
    for p in cmd.params:
        if getattr(p, "param_type_name", "") == "option":
            known.update(p.opts + p.secondary_opts)
            if not p.is_flag and not p.count:
                takes_value.update(p.opts)
    skip = False
    for t in rest:
        if skip:
            skip = False
            continue
        if t == "--":
            break
        if t.startswith("-") and not re.match(r"^-\d", t):
            name = t.split("=", 1)[0]
            if name not in known:
                return f"{' '.join(path)} has no option {name} (known: {', '.join(sorted(known))})"
            skip = name in takes_value and "=" not in t
    return None


def _check_python(tokens: list[str]) -> str | None:
    if tokens[1:3] == ["-m", "pytest"]:
        return None
    if tokens[1:3] == ["-m", "see3d"]:
        return _check_see3d(["see3d"] + tokens[3:], _cli_root())
    if tokens[1:2] == ["-c"]:
        try:
            ast.parse(tokens[2])
        except SyntaxError as e:
            return f"python -c code does not parse: {e}"
        return None
    script = ROOT / tokens[1]
    if not script.is_file():
        return f"{tokens[1]} does not exist"
    source = script.read_text(encoding="utf-8")
    for t in tokens[2:]:
        if t.startswith("--"):
            name = t.split("=", 1)[0]
            if f'"{name}"' not in source and f"'{name}'" not in source:
                return f"{tokens[1]} has no option {name}"
    return None


def _test_exists(ref: str) -> str | None:
    file, _, name = ref.partition("::")
    p = ROOT / file
    if not p.is_file():
        return f"{file} does not exist"
    if name and not re.search(rf"^(async )?def {re.escape(name)}\(", p.read_text(encoding="utf-8"), re.M):
        return f"{file} has no {name}"
    return None


def test_pages_have_commands_and_the_extractor_reads_them():
    cmds = documented_commands()
    keys = {c.key for c in cmds}
    assert "see3d generate --example motorcycle -o out/" in keys  # the quick start
    assert any(c.tokens[:2] == ["python", "-m"] for c in cmds)
    # && chains, quotes and comments are split the way a shell splits them
    b = Block(ROOT / "README.md", 1, "bash", 'X=1 see3d a --b "c d" && python -c "print(1); x = 2"  # note', False)
    assert [c.tokens for c in shell_commands(b)] == [["see3d", "a", "--b", "c d"], ["python", "-c", "print(1); x = 2"]]


def test_every_documented_command_is_exercised_or_an_illustration():
    missing = [f"{c.where()}: {c.key}" for c in documented_commands() if not c.illustration and c.key not in EXERCISED]
    assert not missing, (
        "commands shown in the docs that no test runs; add each to EXERCISED in tests/test_docs.py with the test "
        "that runs it, or put '<!-- illustration -->' before its block:\n" + "\n".join(missing)
    )


def _option_names(tokens: list[str], root) -> list[set[str]]:
    """For each option a ``see3d`` command uses: every spelling of it (its aliases and the Python
    parameter name, as a test calling the library function would write it)."""
    cmd, i = root, 1
    while hasattr(cmd, "commands") and i < len(tokens) and tokens[i] in cmd.commands:
        cmd = cmd.commands[tokens[i]]
        i += 1
    spellings = {}
    for p in getattr(cmd, "params", []):
        if getattr(p, "param_type_name", "") == "option":
            names = set(p.opts + p.secondary_opts) | {f"{p.name}="}
            for o in p.opts + p.secondary_opts:
                spellings[o] = names
    out = []
    for t in tokens[i:]:
        name = t.split("=", 1)[0]
        if name.startswith("-") and not re.match(r"^-\d", name) and name not in QUIET_OPTIONS:
            out.append(spellings.get(name, {name}))
    return out


def test_registered_tests_exist_and_mention_the_options():
    """Each registered test exists, and its module uses every option of the documented command
    (in some spelling), so the test runs a variant of that command, not another one."""
    root = _cli_root()
    problems = []
    documented = {c.key: c for c in documented_commands()}
    for key, ref in EXERCISED.items():
        if ref in ("ci", "docs"):
            continue
        err = _test_exists(ref)
        if err:
            problems.append(f"{key}: {err}")
            continue
        file, _, name = ref.partition("::")
        source = (ROOT / file).read_text(encoding="utf-8")
        if file == "tests/test_docs.py":  # this module lists every option in EXERCISED: look at the test itself
            fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
            source = ast.get_source_segment(source, fn)
        tokens = documented[key].tokens if key in documented else shlex.split(key)
        if tokens[0] != "see3d":
            continue  # python scripts: the parse check covers their options
        for names in _option_names(tokens, root):
            if not any(n in source for n in names):
                problems.append(f"{key}: {ref.partition('::')[0]} never uses {' / '.join(sorted(names))}")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pytest -q" in ci
    assert not problems, "\n".join(problems)


def _placeholders_dropped(tokens: list[str]) -> list[str] | None:
    """An illustration's command without its synopsis placeholders (``[--opt X]``, ``...``), or
    None when it is not a concrete command line (a ``...`` before the options)."""
    out, depth = [], 0
    for t in tokens:
        if t == "...":
            return None if len(out) < 3 else out
        if t.startswith("["):
            depth += 1
        if depth == 0:
            out.append(t)
        if t.endswith("]"):
            depth = max(0, depth - 1)
    return out


def test_documented_commands_parse():
    """Every command line (illustrations too, placeholders aside) names a real subcommand or script
    and only options it knows."""
    root = _cli_root()
    problems = []
    for c in documented_commands():
        tokens = _placeholders_dropped(c.tokens) if c.illustration else c.tokens
        if not tokens:
            continue
        if tokens[0] == "python" and c.illustration and not (ROOT / tokens[1]).is_file() and tokens[1] not in ("-m", "-c"):
            continue  # an illustration may run a script from elsewhere
        err = _check_see3d(tokens, root) if tokens[0] == "see3d" else _check_python(tokens)
        if err:
            problems.append(f"{c.where()}: {c.key}: {err}")
    assert not problems, "\n".join(problems)


def test_the_quick_start_installs_what_ci_installs():
    """The README's second quick-start command installs the extras CI installs, with the pinned torch."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    extras = re.search(r'pip install -q -e "\.\[([^\]]+)\]"', ci).group(1)
    torch_pin = re.search(r'"(torch==[^"]+)"', ci).group(1)
    assert f'pip install {torch_pin} && pip install -e ".[{extras}]" && python -m pytest -q' in readme
    assert f"pip install {torch_pin} && pip install -e . && see3d generate --example motorcycle -o out/" in readme


def test_cheap_documented_commands_run(tmp_path):
    """The commands registered as "docs" run here as documented (no network, a private cache)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"))
    ran = 0
    for key, ref in EXERCISED.items():
        if ref != "docs":
            continue
        tokens = shlex.split(key)
        argv = [sys.executable, "-m", "see3d"] + tokens[1:] if tokens[0] == "see3d" else [sys.executable] + tokens[1:]
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{key}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        ran += 1
    assert ran >= 1
    # `see3d weights list` names the models the README's table lists
    r = subprocess.run([sys.executable, "-m", "see3d", "weights", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    for name in ("metric3d-vit-small", "da2-metric-indoor-small", "tiny-sd"):
        assert name in r.stdout


def test_synth_commands_as_documented(tmp_path):
    """Fast variants of the pages' `see3d synth` commands (every option they use): clips, kinds,
    trajectories, focal, size, workers, video."""
    import json

    from see3d.cli import main

    out = tmp_path / "set"
    argv = ["synth", "-o", str(out), "--seed", "0", "--clips", "2", "--kind", "objects", "--trajectory", "orbit",
            "--size", "32", "--height", "24", "--focal", "30", "-j", "2", "--frames", "2", "--video", "-q"]
    assert main(argv) == 0
    clips = sorted(out.glob("clip_*"))
    assert [c.name for c in clips] == ["clip_000000", "clip_000001"]
    for c in clips:
        t = json.loads((c / "transforms.json").read_text())
        f = t["frames"][0]
        assert (t.get("fl_x", f.get("fl_x")), t.get("w", f.get("w")), t.get("h", f.get("h"))) == (30.0, 32, 24)
        assert len(list((c / "images").glob("*.png"))) == 2 and (c / "video.mp4").stat().st_size > 0


def test_train_depth_export_as_documented(tmp_path):
    """A fast variant of `see3d train depth --out RUN --threads 1 --export FILE`: the exported pair is
    the trained model's weights and config, byte for byte."""
    from see3d.cli import main

    run, export = tmp_path / "run", tmp_path / "depth_tiny.safetensors"
    argv = ["train", "depth", "--out", str(run), "--threads", "1", "--export", str(export),
            "--steps", "2", "--scenes", "2", "--frames", "1", "--batch", "2", "-q"]
    assert main(argv) == 0
    assert export.read_bytes() == (run / "model" / "model.safetensors").read_bytes()
    assert export.with_suffix(".json").read_bytes() == (run / "model" / "config.json").read_bytes()


def test_eval_depth_protocol_and_json_as_documented(tmp_path):
    """A variant of the published-model evaluation commands (`--protocol`, `--json`) on the bundled
    demo frames, with the ground truth as the model: AbsRel 0, delta1 1 under either protocol."""
    import json

    from see3d.cli import main

    ann = ROOT.parent / "shared" / "data" / "metric3d_demo" / "test_annotations.json"
    if not ann.is_file():
        pytest.skip(f"needs the real data: {ann} is absent")
    for protocol in ("nyu", "kitti"):
        out = tmp_path / f"{protocol}.json"
        assert main(["eval", "depth", str(ann), "--model", "gt", "--protocol", protocol, "--json", str(out), "-q"]) == 0
        res = json.loads(out.read_text())
        flat = json.dumps(res)
        assert '"abs_rel": 0.0' in flat and '"delta1": 1.0' in flat, flat[:400]


@pytest.mark.slow
def test_readme_figure_script_draws_a_generate_output(tmp_path):
    """scripts/make_readme_figure.py (which draws docs/readme.png) composes a `see3d generate` folder:
    the photo is pasted unchanged, and the PNG stays small."""
    import importlib.util

    import numpy as np
    from PIL import Image

    from see3d.cli import main

    out = tmp_path / "out"
    argv = ["generate", "--example", "motorcycle", "--frames", "3", "--max-size", "96", "--gs-iterations", "5",
            "--gs-max-size", "64", "--fill", "telea", "-q", "-o", str(out)]
    assert main(argv) == 0
    spec = importlib.util.spec_from_file_location("make_readme_figure", ROOT / "scripts" / "make_readme_figure.py")
    fig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fig)
    png = tmp_path / "fig.png"
    assert fig.main([str(out), "-o", str(png), "--width", "400"]) == 0
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[1] == 400 and png.stat().st_size < 400_000
    photo = np.asarray(fig._fit(Image.open(out / "views" / "0000.png").convert("RGB"), (400 - 3 * 12) // 2))
    h, w = photo.shape[:2]
    assert np.abs(img[42 : 42 + h, 12 : 12 + w].astype(int) - photo.astype(int)).max() <= 1
    assert (ROOT / "docs" / "readme.png").stat().st_size < 400_000


@pytest.mark.slow
@pytest.mark.parametrize("block", python_examples(), ids=lambda b: f"{b.path.name}:{b.line}")
def test_python_examples_run(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = compile(block.text, f"{block.path.relative_to(ROOT)}:{block.line}", "exec")
    exec(code, {"__name__": "__doc_example__"})


# ----------------------------------------------------------------------------- links
def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # links keep their text
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^\s*(```|~~~)", line):
            in_fence = not in_fence
            continue
        m = None if in_fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            a = github_anchor(m.group(1))
            n = seen.get(a, 0)
            seen[a] = n + 1
            out.add(a if n == 0 else f"{a}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    out = []
    in_fence = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(r"^\s*(```|~~~)", line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        for m in re.finditer(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
            out.append((n, m.group(1)))
    return out


def test_github_anchor_rules():
    assert github_anchor("Use the published models") == "use-the-published-models"
    assert github_anchor("The canonical camera space (`see3d.camera.canonical`)") == "the-canonical-camera-space-see3dcameracanonical"
    assert github_anchor("2026-11-25: the gather blend") == "2026-11-25-the-gather-blend"


@pytest.mark.parametrize("page", linked_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_internal_links_resolve(page):
    problems = []
    for n, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue  # http(s), mailto, ...
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            problems.append(f"{page.relative_to(ROOT)}:{n}: {target}: no such file")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{page.relative_to(ROOT)}:{n}: {target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not problems, "\n".join(problems)
