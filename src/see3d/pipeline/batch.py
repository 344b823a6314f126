"""``see3d generate --batch jobs.jsonl -o OUTROOT``: many generate jobs, one output folder each.

The jobs file holds one JSON object per line (blank lines and lines starting with ``#`` are
skipped). A job names its input with exactly one of ``input`` (a photo; a relative path is read
from the jobs file's folder), ``example`` or ``prompt``, and may set any other option of ``see3d
generate`` by its long name (``frames``, ``trajectory``, ``fill``, ``gaussians``, ``max_size`` /
``max-size``, ...); ``name`` sets its folder (default ``job_0001`` for the first job). Options
given on the command line beside ``--batch`` are every job's defaults; a job's own keys win::

    {"input": "photos/kitchen.jpg", "trajectory": "dolly", "frames": 8}
    {"name": "castle", "prompt": "a castle on a hill", "t2i": "models/tiny-sd"}
    {"example": "motorcycle", "fill": "telea", "gaussians": false}

The whole file is checked before any job runs (one line naming the line and the problem).
Each job writes ``OUTROOT/<name>/`` atomically; ``OUTROOT/results.jsonl`` gets one line per job
(``name``, ``status`` ok / error, ``seconds``, ``error``, ``output``) after every job, so a
crash loses nothing done. A failing job does not stop the others. Rerunning the same command
skips the jobs that finished with the same options (``"reused": true``) and reruns the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from see3d.errors import See3DError

#: Options that the batch runner sets itself (not allowed in a job line).
RESERVED = ("out", "batch", "overwrite", "quiet", "help")
#: Job keys whose relative path values are read from the jobs file's folder.
PATH_KEYS = ("input", "depth", "trajectory", "fill_model", "t2i")
#: Keys that name a job's input; exactly one per job.
INPUT_KEYS = ("input", "example", "prompt")
MARKER_COMMAND = "generate --batch"
RESULTS = "results.jsonl"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class Job:
    line: int  #: line number in the jobs file (1-based)
    name: str
    argv: list[str]  #: arguments of ``see3d generate`` (without -o)
    spec: str = ""  #: hash of argv: a finished job is reused only when it is unchanged
    options: dict = field(default_factory=dict)


def _click_context():
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # typer without a vendored click
        from click import get_current_context
    return get_current_context(silent=True)


def _param_source_is_commandline(ctx, name: str) -> bool:
    src = ctx.get_parameter_source(name)
    return src is not None and getattr(src, "name", str(src)).upper().endswith("COMMANDLINE")


def _params(command) -> dict:
    """``{option name: click parameter}`` of the generate command (positional IMAGE as ``input``)."""
    out = {}
    for p in command.params:
        key = "input" if p.name == "image" else p.name
        out[key] = p
    return out


def _check_value(param, value: str, ctx):
    """Convert ``value`` with the option's own type and range (typer's and click's parameter APIs)."""
    if ctx is not None and hasattr(param, "process_value"):
        return param.process_value(ctx, value)
    return param.type.convert(value, param, ctx)


def _to_args(key: str, value, param, where: str, ctx=None) -> list[str]:
    """One job key -> command-line arguments (checked with the option's own type)."""
    if key == "input":
        return [str(value)]
    is_flag = bool(getattr(param, "is_flag", False))
    if is_flag:
        if not isinstance(value, bool):
            raise See3DError(f"{where}: {key} must be true or false, got {value!r}")
        on, off = param.opts[-1], (param.secondary_opts[-1] if param.secondary_opts else None)
        if value:
            return [on]
        if off is None:
            return []
        return [off]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise See3DError(f"{where}: {key} must be a string or a number, got {value!r}")
    try:
        _check_value(param, str(value), ctx)
    except Exception as e:  # click.BadParameter and friends
        msg = e.format_message() if hasattr(e, "format_message") else str(e)
        raise See3DError(f"{where}: {key}: {msg.splitlines()[0] if msg else 'invalid value'}") from None
    long = max(param.opts, key=len)
    return [long, str(value)]


def parse_jobs(path: str | Path, command, defaults: dict | None = None, ctx=None) -> list[Job]:
    """Read and check the whole jobs file (see the module docstring); raises :class:`See3DError`.

    ``command``: the click command of ``see3d generate`` (its options are the jobs' keys);
    ``ctx``: a click context of it, to check values with the options' types and ranges."""
    path = Path(path)
    if not path.is_file():
        raise See3DError(f"jobs file not found: {path}")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise See3DError(f"cannot read the jobs file {path}: {e}") from None
    params = _params(command)
    base = path.resolve().parent
    jobs: list[Job] = []
    names: dict[str, int] = {}
    for ln, text in enumerate(lines, 1):
        s = text.strip()
        if not s or s.startswith("#"):
            continue
        where = f"{path.name} line {ln}"
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as e:
            raise See3DError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise See3DError(f"{where}: a job must be a JSON object, got {type(obj).__name__}")
        job = {str(k).replace("-", "_"): v for k, v in obj.items()}
        name = job.pop("name", None)
        unknown = [k for k in job if k not in params or k in RESERVED]
        if unknown:
            bad = unknown[0]
            why = "is set by the batch runner" if bad in RESERVED else "is not an option of see3d generate"
            raise See3DError(f"{where}: {bad!r} {why}")
        given = [k for k in INPUT_KEYS if job.get(k) is not None]
        if len(given) != 1:
            what = "no input" if not given else f"more than one input ({', '.join(given)})"
            raise See3DError(f"{where}: {what}; give exactly one of input, example, prompt")
        if "prompt" in job and not (isinstance(job["prompt"], str) and job["prompt"].strip()):
            raise See3DError(f"{where}: the prompt is empty")
        index = len(jobs) + 1
        if name is None:
            name = f"job_{index:04d}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise See3DError(f"{where}: name must be letters, digits, '.', '_' or '-' (a folder name), got {name!r}")
        if name in names:
            raise See3DError(f"{where}: name {name!r} is already used on line {names[name]}")
        if name == RESULTS:
            raise See3DError(f"{where}: name {name!r} is reserved")
        names[name] = ln
        for k in PATH_KEYS:
            v = job.get(k)
            if isinstance(v, str) and v and not Path(v).expanduser().is_absolute() and (base / v).exists():
                job[k] = str(base / v)
        opts = {**(defaults or {}), **job}
        argv: list[str] = []
        if opts.get("input") is not None:
            argv += _to_args("input", opts["input"], params["input"], where, ctx)
        for k, v in opts.items():
            if k == "input" or v is None:
                continue
            argv += _to_args(k, v, params[k], where, ctx)
        spec = hashlib.sha256(json.dumps(argv).encode()).hexdigest()[:16]
        jobs.append(Job(ln, name, argv, spec, opts))
    if not jobs:
        raise See3DError(f"jobs file {path} has no jobs (one JSON object per line)")
    return jobs


def _read_results(path: Path) -> dict[str, dict]:
    out = {}
    if not path.is_file():
        return out
    for s in path.read_text().splitlines():
        try:
            r = json.loads(s)
        except json.JSONDecodeError:
            continue  # a damaged line: that job reruns
        if isinstance(r, dict) and isinstance(r.get("name"), str):
            out[r["name"]] = r
    return out


def _write_results(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


def _one_line(e: BaseException) -> str:
    msg = e.format_message() if hasattr(e, "format_message") else str(e)
    first = msg.strip().splitlines()[0] if msg.strip() else ""
    return first if isinstance(e, See3DError) or hasattr(e, "format_message") else f"{type(e).__name__}: {first}"


def prepare_outroot(outroot: Path, jobs_file: Path, overwrite: bool) -> tuple[Path, bool]:
    """Validate ``-o`` of a batch: ``(real path, resume)``. An earlier batch output is resumed
    (``--overwrite`` reruns every job); anything else goes through :func:`see3d.io.check_output`."""
    from see3d.io import MARKER, check_output

    real = Path(os.path.realpath(os.path.abspath(outroot)))
    marker = real / MARKER
    if marker.is_file():
        try:
            cmd = json.loads(marker.read_text()).get("command")
        except (json.JSONDecodeError, OSError, AttributeError):
            cmd = None
        if cmd == MARKER_COMMAND:
            check_output(outroot, inputs=[jobs_file], overwrite=True, kind="dir")  # inputs / cwd checks
            return real, not overwrite
    return check_output(outroot, inputs=[jobs_file], overwrite=overwrite, kind="dir"), False


def run_batch(jobs: list[Job], outroot: Path, resume: bool, run_job, quiet: bool = False) -> list[dict]:
    """Run ``jobs`` into ``outroot``; ``run_job(argv)`` runs one ``see3d generate``. Returns the result rows."""
    from see3d import __version__
    from see3d.io import MARKER, is_see3d_output

    outroot.mkdir(parents=True, exist_ok=True)
    (outroot / MARKER).write_text(json.dumps({"see3d": __version__, "command": MARKER_COMMAND}) + "\n")
    results_path = outroot / RESULTS
    previous = _read_results(results_path) if resume else {}
    rows: dict[str, dict] = {}
    order = [j.name for j in jobs]

    def save():
        _write_results(results_path, [rows[n] for n in order if n in rows])

    for i, job in enumerate(jobs, 1):
        out = outroot / job.name
        prev = previous.get(job.name)
        if prev and prev.get("status") == "ok" and prev.get("spec") == job.spec and is_see3d_output(out):
            rows[job.name] = {**prev, "reused": True}
            if not quiet:
                print(f"[{i}/{len(jobs)}] {job.name}: done before, skipped", file=sys.stderr)
            continue
        if not quiet:
            print(f"[{i}/{len(jobs)}] {job.name} ...", file=sys.stderr)
        t0 = time.perf_counter()
        error = None
        try:
            run_job([*job.argv, "-o", str(out), "--overwrite", *(["-q"] if quiet else [])])
        except Exception as e:  # noqa: BLE001 - one failing job must not stop the batch
            if type(e).__name__ == "Abort":  # click's wrapper of Ctrl-C inside the job
                save()
                raise KeyboardInterrupt from None
            error = _one_line(e) or type(e).__name__
        except SystemExit as e:
            error = None if not e.code else f"exit status {e.code}"
        except BaseException:  # Ctrl-C, SIGTERM: stop the batch; what finished stays recorded
            save()
            raise
        dt = time.perf_counter() - t0
        rows[job.name] = {
            "name": job.name,
            "line": job.line,
            "status": "ok" if error is None else "error",
            "seconds": round(dt, 3),
            "error": error,
            "output": job.name if error is None else None,
            "spec": job.spec,
        }
        if not quiet:
            print(f"      {job.name}: {'ok' if error is None else 'error: ' + error} ({dt:.1f} s)", file=sys.stderr)
        save()
    save()
    return [rows[n] for n in order]


def batch_from_cli(batch: Path, out: Path, overwrite: bool, quiet: bool) -> None:
    """The ``--batch`` mode of ``see3d generate``: called from inside the command."""
    ctx = _click_context()
    if ctx is None:
        raise See3DError("--batch runs from the see3d command line")
    for name, opt in (("image", "IMAGE"), ("example", "--example"), ("prompt", "--prompt")):
        if ctx.params.get(name) is not None:
            raise See3DError(f"--batch takes the inputs from the jobs file; drop {opt} (or put it in a job line)")
    defaults = {
        k: v for k, v in ctx.params.items()
        if k not in RESERVED and k != "image" and _param_source_is_commandline(ctx, k)
    }
    jobs = parse_jobs(batch, ctx.command, defaults, ctx)
    real, resume = prepare_outroot(out, batch, overwrite)
    from see3d.cli import app

    def run_job(argv):
        rv = app(args=["generate", *argv], standalone_mode=False)
        if rv == 130:  # typer returns 130 for a Ctrl-C inside the command
            raise KeyboardInterrupt

    t0 = time.perf_counter()
    rows = run_batch(jobs, real, resume, run_job, quiet)
    failed = [r for r in rows if r["status"] != "ok"]
    if not quiet:
        print(f"batch: {len(rows) - len(failed)} of {len(rows)} jobs ok in {time.perf_counter() - t0:.1f} s; "
              f"results in {out / RESULTS}", file=sys.stderr)
    if failed:
        raise See3DError(f"{len(failed)} of {len(rows)} jobs failed (first: {failed[0]['name']}: {failed[0]['error']}); see {out / RESULTS}")
