"""Bad input and faults, every command: one line, the right exit code, nothing half-written.

Each case builds its own files in a fresh folder, runs the command line, and checks the exit code,
that the error is exactly one line matching the expected text, and that nothing in the folder was
created, changed or deleted (inputs intact, no partial output). The same runs generate the table
in ``docs/reliability.md``: ``test_reliability_doc_is_current`` fails when the document differs
from what the code prints; ``SEE3D_WRITE_DOCS=1 python -m pytest tests/test_reliability.py``
rewrites it.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from see3d.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
QUICK = ["--frames", "2", "--fill", "telea", "--no-gaussians", "--max-size", "64", "-q"]


# ------------------------------------------------------------------------------------ file makers
def photo(path: Path, w: int = 64, h: int = 48, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode).save(path)
    return path


def depth_npy(path: Path, value=2.0, w: int = 64, h: int = 48, dtype=np.float32) -> Path:
    arr = np.full((h, w), value, dtype=dtype) if not isinstance(value, np.ndarray) else value
    np.save(path, arr)
    return path


def see3d_output(path: Path) -> Path:
    """A folder an earlier see3d run wrote (its marker file and a view)."""
    (path / "views").mkdir(parents=True)
    (path / ".see3d.json").write_text('{"see3d": "0.1.0", "command": "generate"}\n')
    photo(path / "views" / "0000.png")
    return path


def user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thesis.txt").write_text("years of work\n")
    return path


def transforms(folder: Path, n: int = 3, frames: bool = True, missing: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fr = []
    for i in range(n):
        if not missing:
            photo(folder / f"{i}.png")
        c2w = np.eye(4)
        c2w[0, 3] = 0.1 * i
        fr.append({"file_path": f"{i}.png", "transform_matrix": c2w.tolist()})
    data = {"fl_x": 60.0, "fl_y": 60.0, "cx": 32.0, "cy": 24.0, "w": 64, "h": 48}
    if frames:
        data["frames"] = fr
    (folder / "transforms.json").write_text(json.dumps(data))
    return folder


def colmap(folder: Path, points3d: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.txt").write_text("1 PINHOLE 64 48 60 60 32 24\n")
    lines = []
    for i in range(2):
        photo(folder / "images" / f"{i}.png")
        lines += [f"{i + 1} 1 0 0 0 {0.1 * i} 0 0 1 {i}.png", ""]
    (folder / "images.txt").write_text("\n".join(lines) + "\n")
    (folder / "points3D.txt").write_text(points3d)
    return folder


def annotations(folder: Path, **entry) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    photo(folder / "rgb.png")
    e = {"rgb": "rgb.png", "cam_in": [60.0, 60.0, 32.0, 24.0], "depth_scale": 1000.0, **entry}
    (folder / "ann.json").write_text(json.dumps({"files": [e]}))
    return folder / "ann.json"


def tiny_mvd_config(path: Path, **kw) -> Path:
    from see3d.mvd.model import MVDConfig
    from see3d.mvd.train import TrainConfig
    from see3d.mvd.unet import MultiViewUNetConfig

    u = MultiViewUNetConfig(
        in_channels=7, out_channels=3, model_channels=kw.pop("channels", 16), channel_mult=(1, 2), num_res_blocks=1,
        attention_resolutions=(2,), num_head_channels=8, context_dim=None, norm_groups=4,
    )
    base = dict(
        model=MVDConfig(unet=u, space="pixel", prediction_type="sample", prefill="telea"),
        data="synth:objects", size=16, clip_frames=3, views=2, refs_max=1, batch=1, steps=1, lr=1e-3, warmup=1,
        ckpt_every=1, p_warp=0.0,
    )
    cfg = TrainConfig(**{**base, **kw})
    path.write_text(json.dumps(cfg.to_dict()))
    return path


def mvd_run(tmp: Path) -> Path:
    """A `train mvd` run folder with one checkpoint."""
    cfg = tiny_mvd_config(tmp / "cfg.json")
    assert main(["train", "mvd", "--config", str(cfg), "--out", str(tmp / "run"), "-q"]) == 0
    return tmp / "run"


def depth_train_config(path: Path, **kw) -> Path:
    base = {"steps": 2, "batch": 2, "scenes": 2, "frames_per_scene": 1, "image_size": [32, 32], "render_size": [32, 32],
            "channels": [8, 8], "log_every": 1, "checkpoint_every": 1}
    path.write_text(json.dumps({**base, **kw}))
    return path


def depth_run(tmp: Path) -> Path:
    cfg = depth_train_config(tmp / "dcfg.json")
    assert main(["train", "depth", "--config", str(cfg), "--out", str(tmp / "drun"), "-q"]) == 0
    return tmp / "drun"


def enospc(mp: pytest.MonkeyPatch) -> None:
    import see3d.pipeline.single_view as g

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    mp.setattr(g, "save_image", full)


def erofs(mp: pytest.MonkeyPatch) -> None:
    import see3d.io.atomic as atomic

    def ro(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    mp.setattr(atomic.tempfile, "mkdtemp", ro)


# ------------------------------------------------------------------------------------------ cases
@dataclass
class Case:
    id: str
    group: str
    what: str  #: the bad input or fault, as the document names it
    build: Callable[[Path], list[str]]  #: makes the files, returns the command line (without "see3d")
    code: int
    match: str  #: regex the one printed line must match
    patch: Callable[[pytest.MonkeyPatch], None] | None = None
    chdir: str | None = None  #: run from this sub-folder of the case folder
    check: Callable[[Path], None] | None = None  #: extra checks after the run (exit 0 cases)
    prepare: Callable[[Path], None] | None = None  #: run before the snapshot (e.g. an earlier run)


def _g(tmp, *extra, image="in/photo.png", depth=True):
    """`see3d generate` on a small photo with a known depth map (no depth model involved)."""
    photo(tmp / image)
    args = ["generate", str(tmp / image)]
    if depth:
        depth_npy(tmp / "in" / "d.npy")
        args += ["--depth", str(tmp / "in" / "d.npy")]
    return args + list(extra)


CASES: list[Case] = [
    # -------- output folders: never lose a user's files
    Case("o-is-input-folder", "output", "`-o` is the folder that holds the input photo",
         lambda t: _g(t, "-o", str(t / "in"), *QUICK), 2, r"contains the input"),
    Case("o-is-cwd", "output", "`-o .` (the current folder)",
         lambda t: (user_folder(t / "here"), _g(t, "-o", ".", *QUICK))[1], 2, r"contains the input|contains the current folder", chdir="here"),
    Case("o-parent-of-cwd", "output", "`-o ..` (a folder that contains the current one)",
         lambda t: ((t / "a" / "b").mkdir(parents=True), photo(t / "p.png"), ["depth", str(t / "p.png"), "-o", "..", "-m", "tiny", "--fx", "60", "-q"])[2],
         2, r"contains the current folder", chdir="a/b"),
    Case("o-user-folder", "output", "`-o` is a non-empty folder that see3d did not write",
         lambda t: (user_folder(t / "docs"), _g(t, "-o", str(t / "docs"), *QUICK))[1], 2, r"folder with other files \(not written by see3d\)"),
    Case("o-is-file", "output", "`-o` is an existing file",
         lambda t: ((t / "notes.txt").write_text("x"), _g(t, "-o", str(t / "notes.txt"), *QUICK))[1], 2, r"is a file; -o takes a folder"),
    Case("o-earlier-output", "output", "`-o` holds an earlier see3d result, no `--overwrite`",
         lambda t: (see3d_output(t / "out"), _g(t, "-o", str(t / "out"), *QUICK))[1], 2, r"earlier see3d result; pass --overwrite"),
    Case("o-overwrite", "output", "`-o` holds an earlier see3d result, with `--overwrite`",
         lambda t: (see3d_output(t / "out"), _g(t, "-o", str(t / "out"), "--overwrite", *QUICK))[1], 0, r"^$",
         check=lambda t: (_assert(len(list((t / "out" / "views").glob("*.png"))) == 2), _assert((t / "out" / "run.json").is_file()))),
    Case("depth-o-input", "output", "`see3d depth D -o D`",
         lambda t: (photo(t / "D" / "a.png"), ["depth", str(t / "D"), "-o", str(t / "D"), "-m", "tiny", "-q"])[1], 2, r"is the input"),
    Case("reconstruct-o-input", "output", "`see3d reconstruct V -o V`",
         lambda t: (transforms(t / "V"), ["reconstruct", str(t / "V"), "-o", str(t / "V"), "-q"])[1], 2, r"is the input"),
    Case("synth-o-user-folder", "output", "`see3d synth -o` a folder with other files",
         lambda t: (user_folder(t / "mine"), ["synth", "-o", str(t / "mine"), "--frames", "1", "--size", "16", "-q"])[1], 2, r"not written by see3d"),
    Case("mvd-o-contains-input", "output", "`see3d mvd --out` a folder that contains `--refs`",
         lambda t: (photo(t / "w" / "refs" / "r.png"), ["mvd", "--refs", str(t / "w" / "refs"), "--warps", str(t / "w" / "refs"), "--out", str(t / "w"), "-q"])[1],
         2, r"contains the input"),
    Case("render-o-exists", "output", "`see3d render -o video.mp4` over an existing file, no `--overwrite`",
         lambda t: ((t / "s.ply").write_text("x"), (t / "v.mp4").write_text("mine"), ["render", str(t / "s.ply"), "-o", str(t / "v.mp4"), "-q"])[2],
         2, r"exists; pass --overwrite"),
    Case("render-o-is-scene", "output", "`see3d render S -o S` (the output is the input scene)",
         lambda t: ((t / "s.mp4").write_text("x"), ["render", str(t / "s.mp4"), "-o", str(t / "s.mp4"), "--overwrite", "-q"])[1],
         2, r"is the input"),
    Case("view-html-is-scene", "output", "`see3d view S.ply --html S.ply`",
         lambda t: ((t / "s.ply").write_text("x"), ["view", str(t / "s.ply"), "--html", str(t / "s.ply"), "--overwrite"])[1],
         2, r"--html .* is the input"),
    Case("train-mvd-other-folder", "output", "`see3d train mvd --out` a folder of another kind",
         lambda t: (user_folder(t / "mine"), ["train", "mvd", "--config", str(tiny_mvd_config(t / "c.json")), "--out", str(t / "mine"), "-q"])[1],
         2, r"not a `see3d train mvd` run folder"),
    Case("train-depth-other-folder", "output", "`see3d train depth --out` a folder of another kind",
         lambda t: (user_folder(t / "mine"), ["train", "depth", "--config", str(depth_train_config(t / "c.json")), "--out", str(t / "mine"), "-q"])[1],
         2, r"not a `see3d train depth` run folder"),
    # -------- faults while writing
    Case("read-only-location", "faults", "read-only output location (EROFS)",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK), 2, r"cannot write .*read-only file system", patch=erofs),
    Case("disk-full", "faults", "disk full while writing the views (ENOSPC)",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK), 2, r"no space left on the device while writing", patch=enospc),
    Case("o-under-a-file", "faults", "`-o` inside a path whose parent is a file",
         lambda t: ((t / "f").write_text("x"), _g(t, "-o", str(t / "f" / "out"), *QUICK))[1], 2, r"is a file, not a folder"),
    # -------- training runs
    Case("train-mvd-other-arch", "training", "`train mvd` resumed with another architecture",
         lambda t: ["train", "mvd", "--config", str(tiny_mvd_config(t / "c2.json", channels=8)), "--out", str(t / "run"), "-q"],
         2, r"trained with another model \(model\.unet\.model_channels", prepare=lambda t: mvd_run(t)),
    Case("train-mvd-other-seed", "training", "`train mvd` resumed with another seed and learning rate",
         lambda t: ["train", "mvd", "--config", str(tiny_mvd_config(t / "c2.json", seed=5)), "--out", str(t / "run"), "--steps", "2", "-q"],
         2, r"different config \(seed 0 -> 5\); pass --allow-config-change", prepare=lambda t: mvd_run(t)),
    Case("train-depth-other-config", "training", "`train depth` resumed with another config (`--scenes`)",
         lambda t: ["train", "depth", "--config", str(t / "dcfg.json"), "--out", str(t / "drun"), "--scenes", "3", "-q"],
         2, r"different training config; use a new run folder", prepare=lambda t: depth_run(t)),
    Case("train-depth-size", "training", "`train depth` with an image size the network cannot take (not a multiple of its stride)",
         lambda t: ["train", "depth", "--config", str(depth_train_config(t / "c.json", image_size=[42, 42])), "--out", str(t / "r"), "-q"],
         2, r"input size .* must be divisible by"),
    # -------- images
    Case("image-missing", "images", "the photo does not exist",
         lambda t: ["depth", str(t / "nope.jpg"), "-o", str(t / "out"), "-m", "tiny", "-q"], 2, r"image not found"),
    Case("image-empty", "images", "an empty (0-byte) photo",
         lambda t: ((t / "e.jpg").write_bytes(b""), ["depth", str(t / "e.jpg"), "-o", str(t / "out"), "-m", "tiny", "-q"])[1], 2, r"empty \(0 bytes\)"),
    Case("image-truncated", "images", "a truncated JPEG",
         lambda t: (photo(t / "p.jpg", 256, 256), (t / "p.jpg").write_bytes((t / "p.jpg").read_bytes()[:300]),
                    ["depth", str(t / "p.jpg"), "-o", str(t / "out"), "-m", "tiny", "-q"])[2], 2, r"cannot read image"),
    Case("image-not-an-image", "images", "a text file named .jpg",
         lambda t: ((t / "p.jpg").write_text("hello"), ["depth", str(t / "p.jpg"), "-o", str(t / "out"), "-m", "tiny", "-q"])[1], 2, r"cannot read image"),
    Case("image-huge", "images", "an 8000x7000 photo (56 Mpixel)",
         lambda t: (Image.new("L", (8000, 7000)).save(t / "h.png"), ["depth", str(t / "h.png"), "-o", str(t / "out"), "-m", "tiny", "-q"])[1], 2, r"Mpixel limit"),
    Case("image-1x1", "images", "a 1x1 photo",
         lambda t: (photo(t / "p.png", 1, 1), ["depth", str(t / "p.png"), "-o", str(t / "out"), "-m", "tiny", "-q"])[1], 2, r"at least 8 pixels per side"),
    Case("image-16bit", "images", "a 16-bit PNG given as the photo",
         lambda t: (Image.fromarray(np.zeros((16, 16), np.uint16)).save(t / "d.png"), ["depth", str(t / "d.png"), "-o", str(t / "out"), "-m", "tiny", "-q"])[1],
         2, r"looks like a depth map"),
    Case("image-cmyk", "images", "a CMYK JPEG (converted to RGB)",
         lambda t: (photo(t / "c.jpg", mode="CMYK"), ["depth", str(t / "c.jpg"), "-o", str(t / "out"), "-m", "tiny", "--fx", "60", "-q"])[1], 0, r"^$",
         check=lambda t: _assert((t / "out" / "c.depth.npy").is_file())),
    Case("depth-same-stem", "images", "a folder with `x.jpg` and `x.png` (same stem)",
         lambda t: (photo(t / "D" / "x.jpg"), photo(t / "D" / "x.png"), ["depth", str(t / "D"), "-o", str(t / "out"), "-m", "tiny", "--fx", "60", "-q"])[2], 0, r"^$",
         check=lambda t: _assert({"x.jpg.depth.npy", "x.png.depth.npy"} <= {p.name for p in (t / "out").iterdir()})),
    # -------- depth maps
    Case("depth-nan", "depth", "a depth map with NaN values",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK, depth=False) + ["--depth", str(depth_npy(t / "d.npy", np.where(np.eye(48, 64) > 0, np.nan, 2.0)))],
         2, r"NaN/inf values"),
    Case("depth-negative", "depth", "a depth map with no positive value",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK, depth=False) + ["--depth", str(depth_npy(t / "d.npy", -1.0))], 2, r"no valid \(positive\) depth"),
    Case("depth-tiny", "depth", "a depth map of 1e-30 m everywhere",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK, depth=False) + ["--depth", str(depth_npy(t / "d.npy", 1e-30))], 2, r"implausible median depth"),
    Case("depth-bool", "depth", "a depth .npy of dtype bool",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK, depth=False) + ["--depth", str(depth_npy(t / "d.npy", True, dtype=bool))], 2, r"dtype bool is not a depth map"),
    Case("depth-complex", "depth", "a depth .npy of dtype complex",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK, depth=False) + ["--depth", str(depth_npy(t / "d.npy", 2.0, dtype=np.complex64))], 2, r"dtype complex64 is not a depth map"),
    Case("depth-strings", "depth", "a depth .npy of strings",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK, depth=False) + ["--depth", str(depth_npy(t / "d.npy", np.full((48, 64), "a")))], 2, r"dtype <U1 is not a depth map"),
    Case("depth-uint16-no-scale", "depth", "a uint16 depth .npy (millimetres) without `--depth-scale`",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK, depth=False) + ["--depth", str(depth_npy(t / "d.npy", 2500, dtype=np.uint16))], 2, r"holds integers \(uint16\); pass the depth scale"),
    Case("depth-scale-zero", "depth", "`--depth-scale 0`",
         lambda t: _g(t, "-o", str(t / "out"), "--depth-scale", "0", *QUICK), 2, r"depth scale must be a positive number, got 0\.0"),
    Case("depth-scale-nan", "depth", "`--depth-scale nan`",
         lambda t: _g(t, "-o", str(t / "out"), "--depth-scale", "nan", *QUICK), 2, r"depth scale must be a positive number, got nan"),
    Case("depth-size-mismatch", "depth", "a depth map of another size than the photo",
         lambda t: _g(t, "-o", str(t / "out"), *QUICK, depth=False) + ["--depth", str(depth_npy(t / "d.npy", 2.0, w=10, h=10))], 2, r"does not match the image"),
    # -------- cameras
    Case("fx-tiny", "cameras", "`--fx 1e-6`",
         lambda t: _g(t, "-o", str(t / "out"), "--fx", "1e-6", *QUICK), 2, r"focal length 1e-06 px is too short"),
    Case("fx-negative", "cameras", "`--fx -5`",
         lambda t: _g(t, "-o", str(t / "out"), "--fx", "-5", *QUICK), 2, r"focal length must be positive"),
    Case("fx-nan", "cameras", "`--fx nan`",
         lambda t: _g(t, "-o", str(t / "out"), "--fx", "nan", *QUICK), 2, r"fx is not a finite number"),
    Case("fov-179", "cameras", "`--fov 179.999`",
         lambda t: _g(t, "-o", str(t / "out"), "--fov", "179.999", *QUICK), 2, r"too short for a 64x48 image"),
    Case("fov-200", "cameras", "`--fov 200`",
         lambda t: _g(t, "-o", str(t / "out"), "--fov", "200", *QUICK), 2, r"field of view must be in \(0, 180\)"),
    Case("cx-outside", "cameras", "a principal point far outside the image (`--cx 5000`)",
         lambda t: _g(t, "-o", str(t / "out"), "--fx", "60", "--cx", "5000", *QUICK), 2, r"principal point .* lies far outside the 64x48 image"),
    Case("traj-not-json", "cameras", "a trajectory file that is not JSON",
         lambda t: ((t / "t.json").write_text("{oops"), _g(t, "-o", str(t / "out"), "-t", str(t / "t.json"), *QUICK))[1], 2, r"trajectory file .* is malformed"),
    Case("traj-no-frames", "cameras", "a trajectory JSON object without `frames`",
         lambda t: ((t / "t.json").write_text('{"camera": 1}'), _g(t, "-o", str(t / "out"), "-t", str(t / "t.json"), *QUICK))[1], 2, r"needs 'frames' \(transforms.json\) or 'poses'"),
    Case("traj-not-rigid", "cameras", "a trajectory pose that is not a rigid transform",
         lambda t: ((t / "t.json").write_text(json.dumps([np.eye(4).tolist(), (2 * np.eye(4)).tolist()])), _g(t, "-o", str(t / "out"), "-t", str(t / "t.json"), *QUICK))[1],
         2, r"pose 1"),
    Case("transforms-no-frames", "cameras", "a `transforms.json` without `frames`",
         lambda t: (transforms(t / "V", frames=False), ["reconstruct", str(t / "V"), "-o", str(t / "out"), "-q"])[1], 2, r"no 'frames' list"),
    Case("transforms-missing-views", "cameras", "a `transforms.json` whose images are missing",
         lambda t: (transforms(t / "V", missing=True), ["reconstruct", str(t / "V"), "-o", str(t / "out"), "-q"])[1], 2, r"not found|missing"),
    Case("colmap-short-point", "cameras", "a short row in COLMAP `points3D.txt`",
         lambda t: (colmap(t / "C", "1 0.5 0.2\n"), ["reconstruct", str(t / "C"), "-o", str(t / "out"), "-q"])[1], 2, r"points3D.txt point 1"),
    Case("annotation-scale-text", "cameras", "`depth_scale: \"abc\"` in an annotation file",
         lambda t: ["eval", "depth", str(annotations(t / "A", depth="d.png", depth_scale="abc")), "-m", "gt", "-q"], 2, r"depth_scale must be a positive number, got 'abc'"),
    Case("annotation-rgb-null", "cameras", "`rgb: null` in an annotation file",
         lambda t: ["eval", "depth", str(annotations(t / "A", rgb=None)), "-m", "gt", "-q"], 2, r"rgb must be an image path, got None"),
    # -------- scenes
    Case("ply-corrupt", "scenes", "a corrupt `.ply` scene",
         lambda t: ((t / "s.ply").write_text("ply\nformat nonsense\n"), ["render", str(t / "s.ply"), "-o", str(t / "v.mp4"), "-q"])[1], 2, r"ply"),
    Case("scene-missing", "scenes", "a scene file that does not exist",
         lambda t: ["render", str(t / "none.ply"), "-o", str(t / "v.mp4"), "-q"], 2, r"file not found"),
]


def _assert(cond: bool) -> None:
    assert cond


@dataclass
class Result:
    argv: list[str]
    code: int
    lines: list[str]
    changed: list[str] = field(default_factory=list)


_RESULTS: dict[str, Result] = {}


def _snapshot(root: Path) -> dict[str, str]:
    snap = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            snap[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            snap[rel] = "dir"
        else:
            snap[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return snap


def _run(case: Case, base: Path) -> Result:
    if case.id in _RESULTS:
        return _RESULTS[case.id]
    tmp = base / case.id
    tmp.mkdir(parents=True)
    if case.prepare is not None:
        with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
            case.prepare(tmp)
    argv = case.build(tmp)
    before = _snapshot(tmp)
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        if case.chdir:
            mp.chdir(tmp / case.chdir)
        if case.patch:
            case.patch(mp)
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            code = main(argv)
    after = _snapshot(tmp)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    res = Result(argv, code, [ln for ln in err.getvalue().splitlines() if ln.strip()], changed)
    _RESULTS[case.id] = res
    if case.check is not None and code == 0:
        case.check(tmp)
    return res


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, base: Path):
    res = _run(case, base)
    assert res.code == case.code, (res.code, res.lines)
    if case.code == 0:
        assert res.lines == [], res.lines
        return
    assert len(res.lines) == 1, res.lines  # one line, never a traceback
    line = res.lines[0]
    assert line.startswith("error: "), line
    assert re.search(case.match, line), line
    assert res.changed == [], f"files changed: {res.changed}"  # inputs intact, nothing half-written


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


# ----------------------------------------------------------------- signals (separate processes)
def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "see3d", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for_temporary(parent: Path, name: str, proc, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if list(parent.glob(f".{name}.tmp-*")):
            time.sleep(0.5)
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it started writing: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no temporary output appeared")


LONG_SYNTH = ["--frames", "400", "--size", "96", "-q"]
#: signal -> (what, exit code, last line printed, what is left behind); the tests below check them
SIGNALS = {
    "SIGINT": ("Ctrl-C (SIGINT) during a run", 130, "interrupted", "nothing (the temporary output is removed)"),
    "SIGTERM": ("`kill` (SIGTERM) during a run", 143, "terminated", "nothing (the temporary output is removed)"),
    "SIGKILL": ("`kill -9` (SIGKILL) during a run", -9, "(none: the process is killed)",
                "a hidden `.OUT.tmp-PID-*` folder, removed by the next run into OUT"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_signal_exits_with_its_code_and_leaves_nothing(tmp_path, name):
    sig = getattr(signal, name)
    _, code, word, _ = SIGNALS[name]
    proc = _cli("synth", "-o", str(tmp_path / "out"), *LONG_SYNTH)
    _wait_for_temporary(tmp_path, "out", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == word
    assert list(tmp_path.iterdir()) == []  # no output, no temporary


@pytest.mark.slow
def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path):
    proc = _cli("synth", "-o", str(tmp_path / "out"), *LONG_SYNTH)
    _wait_for_temporary(tmp_path, "out", proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == SIGNALS["SIGKILL"][1]
    left = list(tmp_path.glob(".out.tmp-*"))
    assert len(left) == 1  # a killed process cannot clean up ...
    assert main(["synth", "-o", str(tmp_path / "out"), "--frames", "1", "--size", "16", "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # ... the next run into OUT does


# ---------------------------------------------------------------------------- the document
GROUPS = {
    "output": "Output paths (`-o`): never lose a user's files",
    "faults": "Faults while writing",
    "training": "Training runs",
    "images": "Photos",
    "depth": "Depth maps",
    "cameras": "Cameras, trajectories and camera files",
    "scenes": "3DGS scenes",
}


def _command(argv: list[str], tmp: Path) -> str:
    parts = []
    for a in argv:
        a = a.replace(str(tmp) + os.sep, "").replace(str(tmp), ".")
        parts.append(a if a and not re.search(r"[\s\"'{}]", a) else json.dumps(a))
    return "see3d " + " ".join(parts)


def _message(line: str, tmp: Path) -> str:
    for root in sorted({str(tmp), os.path.realpath(tmp)}, key=len, reverse=True):
        line = line.replace(root + os.sep, "").replace(root, ".")
    return line


def _code(text: str) -> str:
    """A Markdown code span for a table cell (double backticks when the text holds one)."""
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render_doc(base: Path) -> str:
    out = [
        "# Reliability: what see3d does with bad input and faults",
        "",
        "Every row is a case of `tests/test_reliability.py`, which runs the command and checks the exit",
        "code, that the message is exactly the one line shown, and that nothing in the folder was created,",
        "changed or deleted (inputs intact, no partial output). The test fails when this page differs",
        "from what the code prints; `SEE3D_WRITE_DOCS=1 python -m pytest tests/test_reliability.py`",
        "regenerates it. Paths are shown relative to the case's folder.",
        "",
        "Exit codes: 0 success; 2 bad input or usage (one line, `error: ...`); 130 interrupted (Ctrl-C);",
        "143 terminated (SIGTERM); 1 an unexpected error (a bug: please report it with its traceback).",
        "",
        "Outputs are written to a hidden temporary folder or file beside the target and renamed into place",
        "when the job succeeds. `-o` must be a new or empty folder, or an earlier see3d output (marked by",
        "its `.see3d.json`) together with `--overwrite`; a folder with other files, a file, an input, a",
        "folder that contains an input, or one that contains the current folder is refused before any work.",
        "",
    ]
    for g, title in GROUPS.items():
        out += [f"## {title}", "", "| input or fault | command | exit | message |", "|---|---|---|---|"]
        for c in (c for c in CASES if c.group == g):
            res = _run(c, base)
            tmp = base / c.id
            msg = _message(res.lines[0], tmp) if res.lines else "(none; the output is written)"
            cmd = _command(res.argv, tmp)
            out.append(f"| {c.what} | {_code(cmd)} | {res.code} | {_code(msg)} |")
        out.append("")
    out += ["## Signals", "", "| fault | exit | last line | left behind |", "|---|---|---|---|"]
    for what, code, line, left in SIGNALS.values():
        out.append(f"| {what} | {code} | `{line}` | {left} |")
    out += [
        "",
        "The signal rows are checked by `test_signal_exits_with_its_code_and_leaves_nothing` and",
        "`test_sigkill_leftovers_are_removed_by_the_next_run` (separate processes).",
        "",
        "## The viewer (`see3d view`)",
        "",
        "It serves exactly two paths, `/` (the page) and `/scene.splat`, on 127.0.0.1. Any other path",
        "(`../secret.txt`, `%2e%2e/etc/passwd`, `transforms.json`, ...) answers 404, and a request whose",
        "`Host` header is not a loopback name (`127.0.0.1`, `localhost`, `[::1]`, any port) answers 403,",
        "so a web page whose domain is re-pointed at 127.0.0.1 (DNS rebinding) cannot read the scene",
        "(`tests/test_gs_viewer.py`).",
        "",
    ]
    return "\n".join(out)


def test_reliability_doc_is_current(base):
    text = render_doc(base)
    if os.environ.get("SEE3D_WRITE_DOCS") == "1":
        DOC.write_text(text)
    assert DOC.is_file() and DOC.read_text() == text, (
        "docs/reliability.md differs from what the code prints: run `SEE3D_WRITE_DOCS=1 python -m pytest tests/test_reliability.py`"
    )


# ------------------------------------------------------------------- behaviours behind the table
def test_colmap_images_without_points2d_lines_keeps_every_view(tmp_path):
    """COLMAP's images.txt alternates a pose line and a POINTS2D line, which some writers leave out
    entirely: every view must still be read (the old reader dropped every second one)."""
    from see3d.gs.reconstruct import read_colmap_text

    (tmp_path / "cameras.txt").write_text("# cameras\n1 PINHOLE 64 48 60 60 32 24\n")
    body = [f"{i + 1} 1 0 0 0 {0.1 * i} 0 0 1 v{i}.png" for i in range(6)]
    for text, n in (("\n".join(body), 6), ("\n".join(f"{b}\n" for b in body), 6), ("\n".join(f"{b}\n1.0 2.0 -1" for b in body), 6)):
        (tmp_path / "images.txt").write_text("# images\n" + text + "\n")
        poses, intrs, paths, *_ = read_colmap_text(tmp_path, tmp_path)
        assert [p.name for p in paths] == [f"v{i}.png" for i in range(n)]
        # camera centres: -R^T t with R = I -> x = -0.1 i
        assert np.allclose(poses[:, 0, 3], [-0.1 * i for i in range(n)])


def test_symlinked_output_is_written_through_the_link(tmp_path):
    real = see3d_output(tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    args = _g(tmp_path, "-o", str(tmp_path / "link"), "--overwrite", *QUICK)
    assert main(args) == 0
    assert (tmp_path / "link").is_symlink() and (real / "run.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "link", "real"]  # no .link.old-PID left


def test_output_folders_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["synth", "-o", str(tmp_path / "s"), "--frames", "1", "--size", "16", "-q"]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    from see3d.io.atomic import check_output

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (tmp_path / f".out.tmp-{dead}-abc").mkdir()
    (tmp_path / f".out.old-{dead}").mkdir()
    (tmp_path / f".out.tmp-{os.getpid()}-mine").mkdir()  # a live process's temporary stays
    (tmp_path / ".other.tmp-1-x").mkdir()  # another output's stays
    check_output(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-1-x", f".out.tmp-{os.getpid()}-mine"]


def test_generate_reports_the_views_it_wrote(tmp_path):
    (tmp_path / "one.json").write_text(json.dumps([np.eye(4).tolist()]))
    args = _g(tmp_path, "-o", str(tmp_path / "out"), "-t", str(tmp_path / "one.json"), "--frames", "3", "--fill", "telea", "--no-gaussians", "--max-size", "64")
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(args) == 0
    assert len(list((tmp_path / "out" / "views").glob("*.png"))) == 1
    assert re.search(r"wrote .*out \(1 views\)", err.getvalue().strip().splitlines()[-1])


def test_train_depth_log_has_each_step_once_after_a_kill_and_resume(tmp_path):
    from see3d.depth.train import DepthTrainConfig, train_depth

    cfg = DepthTrainConfig.from_file(depth_train_config(tmp_path / "c.json", steps=4, checkpoint_every=2))

    def kill_after_3(step, n, loss):
        if step == 3:
            raise KeyboardInterrupt  # step 3 is logged, the checkpoint holds step 2

    with pytest.raises(KeyboardInterrupt):
        train_depth(cfg, tmp_path / "run", on_step=kill_after_3)
    train_depth(cfg, tmp_path / "run")
    steps = [int(m.group(1)) for m in re.finditer(r" step (\d+)/4 ", (tmp_path / "run" / "train.log").read_text())]
    assert steps == [1, 2, 3, 4]


def test_train_mvd_config_change_with_the_flag_is_logged(tmp_path):
    run = mvd_run(tmp_path)
    cfg = tiny_mvd_config(tmp_path / "c2.json", seed=5, lr=2e-3)
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["train", "mvd", "--config", str(cfg), "--out", str(run), "--steps", "2", "--allow-config-change", "-q"]) == 0
    log = (run / "config_changes.log").read_text()
    assert "lr 0.001 -> 0.002" in log and "seed 0 -> 5" in log and "step_0000001" in log
    assert "warning: " in err.getvalue()
    assert json.loads((run / "train_config.json").read_text())["seed"] == 5
