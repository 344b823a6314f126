"""Run folders of ``see3d app`` and the job that fills one (no Gradio needed here).

Every job gets a new folder under the output root (never reused, never deleted)::

    OUT_ROOT/20261206-004512/
        input.png      the photo as the job saw it (validated, EXIF orientation applied)
        job.json       the settings and the exact command line
        log.txt        what the command printed (stages, progress, errors)
        result/        the ``see3d generate`` output (views/, masks/, video.mp4, scene.ply, ...);
                       written under a temporary name and renamed when the job succeeds
        see3d-20261206-004512.zip   the whole folder for download (made after success)
        viewer.ply     the scene as the page's 3D viewer shows it (:mod:`see3d.app.scene`)

A job is the ``see3d generate`` command line in a child process: the app shows the same stages
the command prints, and Cancel terminates the child (SIGTERM), whose atomic output removes the
half-written temporary folder on the way out (SIGKILL after a grace period; the temporary of a
killed child is then removed by :func:`see3d.io.atomic.remove_stale_temporaries`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from see3d.errors import See3DError

RESULT = "result"
INPUT = "input.png"
JOB = "job.json"
LOG = "log.txt"
VIEWER_SCENE = "viewer.ply"
#: Largest photo the app accepts (pixels); the upload size is limited separately (bytes).
MAX_PIXELS = 40_000_000
#: Seconds a cancelled job gets to remove its temporary output before it is killed.
CANCEL_GRACE_S = 10.0

TRAJECTORIES = ("orbit", "dolly", "pan", "spiral")
_RUN_NAME = re.compile(r"^\d{8}-\d{6}(?:-\d+)?$")


@dataclass
class PhotoJob:
    """Settings of one photo-to-3D job (mapped one to one onto ``see3d generate`` options)."""

    image: str | None = None  #: the validated input (``input.png`` of the run); None with ``example``
    example: str | None = None
    fov: float | None = None
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    depth_model: str = "auto"
    fill: str = "mvd"
    trajectory: str = "orbit"
    frames: int = 12
    seed: int = 0
    max_size: int = 512
    gaussians: bool = True
    gs_iterations: int = 200
    gs_max_gaussians: int = 30_000
    prompt: str | None = None  #: text to 3D: the picture is made by a text-to-image model
    t2i_steps: int = 25
    t2i_size: int = 512
    t2i: str | None = None  #: text-to-image model (a cached registry name or a folder); None = the command's default
    upload_name: str | None = None  #: the uploaded file's name (for the list of runs)
    kind: str = "photo"

    def validate(self) -> None:
        if self.prompt is not None:
            if not self.prompt.strip():
                raise See3DError("write a prompt: what the picture should show")
            if self.image is not None or self.example is not None:
                raise See3DError("a text job makes its own picture; no photo or example with it")
            if not 1 <= int(self.t2i_steps) <= 200:
                raise See3DError(f"text-to-image steps must be 1-200, got {self.t2i_steps}")
            if int(self.t2i_size) % 8 or not 16 <= int(self.t2i_size) <= 2048:
                raise See3DError(f"picture size must be a multiple of 8 in 16-2048, got {self.t2i_size}")
        elif (self.image is None) == (self.example is None):
            raise See3DError("upload a photo or choose the bundled example")
        if self.trajectory not in TRAJECTORIES:
            raise See3DError(f"unknown trajectory {self.trajectory!r}: use one of {', '.join(TRAJECTORIES)}")
        if not 2 <= int(self.frames) <= 120:
            raise See3DError(f"number of views must be 2-120, got {self.frames}")
        if self.fov is not None and not 1.0 <= self.fov <= 170.0:
            raise See3DError(f"field of view must be 1-170 degrees, got {self.fov:g}")
        for name in ("fx", "fy"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise See3DError(f"{name} must be a positive focal length in pixels, got {v:g}")
        if (self.fy is not None or self.cx is not None or self.cy is not None) and self.fx is None and self.fov is None:
            raise See3DError("give fx (or a field of view) together with fy / cx / cy")
        if not 16 <= int(self.max_size) <= 4096:
            raise See3DError(f"working size must be 16-4096 pixels, got {self.max_size}")
        if not 1 <= int(self.gs_iterations) <= 30_000:
            raise See3DError(f"3DGS iterations must be 1-30000, got {self.gs_iterations}")
        if not 100 <= int(self.gs_max_gaussians) <= 2_000_000:
            raise See3DError(f"the number of Gaussians must be 100-2000000, got {self.gs_max_gaussians}")

    def command(self, out: Path) -> list[str]:
        """The ``see3d generate`` command line that runs this job into ``out``."""
        cmd = [sys.executable, "-m", "see3d", "generate"]
        if self.prompt is not None:
            cmd += ["--prompt", self.prompt, "--t2i-steps", str(int(self.t2i_steps)), "--t2i-size", str(int(self.t2i_size))]
            cmd += ["--t2i", self.t2i] if self.t2i else []
        else:
            cmd += ["--example", self.example] if self.example else [str(self.image)]
        cmd += ["-o", str(out)]
        for opt, v in (("--fov", self.fov), ("--fx", self.fx), ("--fy", self.fy), ("--cx", self.cx), ("--cy", self.cy)):
            if v is not None:
                cmd += [opt, f"{float(v):.10g}"]
        if not self.example:
            cmd += ["--depth-model", self.depth_model]
        cmd += ["--fill", self.fill, "--trajectory", self.trajectory, "--frames", str(int(self.frames))]
        cmd += ["--seed", str(int(self.seed)), "--max-size", str(int(self.max_size))]
        if self.gaussians:
            cmd += ["--gs-iterations", str(int(self.gs_iterations)), "--gs-max-gaussians", str(int(self.gs_max_gaussians))]
        else:
            cmd += ["--no-gaussians"]
        return cmd

    def stages(self) -> list[str]:
        """The stages the command will report, in order (for the overall progress)."""
        s = ([] if self.prompt is None else ["text to image"]) + ([] if self.example else ["depth"])
        s += ["trajectory", "warp", "fill", "write"]
        return s + (["3D Gaussian splatting"] if self.gaussians else [])


@dataclass
class EditJob:
    """Settings of one edit of a finished run (``see3d edit``): the painted region of its input
    view is replaced by the same pixels of ``image`` and regenerated in every view it reaches."""

    source: str  #: the source run's result folder
    mask: str = ""  #: PNG, white = the region to change (stored in the new run folder)
    image: str = ""  #: the replacement picture, the size of the views
    fill: str | None = None  #: None = the filler the source was generated with
    seed: int = 0
    gaussians: bool = True
    upload_name: str | None = None
    kind: str = "edit"

    def command(self, out: Path) -> list[str]:
        cmd = [sys.executable, "-m", "see3d", "edit", self.source, "--mask", self.mask, "--image", self.image,
               "-o", str(out), "--seed", str(int(self.seed))]
        return cmd + (["--fill", self.fill] if self.fill else [])

    def stages(self) -> list[str]:
        return ["reach", "warp", "fill", "write"] + (["3D Gaussian splatting"] if self.gaussians else [])


@dataclass
class SparseJob:
    """Settings of one sparse-view job (``see3d reconstruct --densify``): a few photos, with a
    ``transforms.json`` for their poses or without (then pycolmap poses them, extra ``sfm``)."""

    folder: str = ""  #: run_dir/input: the photos and, with poses, transforms.json
    views: int = 0  #: number of photos (all are training views)
    densify: int = 8  #: generated views between and around them
    fill: str = "mvd"
    depth_model: str = "tiny"
    iterations: int = 1500
    max_size: int = 512
    max_gaussians: int = 200_000
    seed: int = 0
    posed: bool = True
    upload_name: str | None = None
    kind: str = "sparse"

    def command(self, out: Path) -> list[str]:
        cmd = [sys.executable, "-m", "see3d", "reconstruct", self.folder, "-o", str(out),
               "--train-views", ",".join(str(i) for i in range(self.views)),
               "--iterations", str(int(self.iterations)), "--max-size", str(int(self.max_size)),
               "--max-gaussians", str(int(self.max_gaussians)), "--seed", str(int(self.seed))]
        if self.densify:
            cmd += ["--densify", str(int(self.densify)), "--fill", self.fill, "--depth-model", self.depth_model]
        return cmd

    def stages(self) -> list[str]:
        s = ["depth", "warp", "fill"] if self.densify else []
        return s + ["fit", "evaluate", "write"]


# ---------------------------------------------------------------- run folders


def new_run_dir(out_root: str | Path) -> Path:
    """Create and return a new, empty run folder named after the current time (never an existing one)."""
    root = Path(out_root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(10_000):
        d = root / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            d.mkdir()
        except FileExistsError:
            continue
        return d
    raise See3DError(f"cannot create a new run folder in {root}")  # pragma: no cover


def save_input(upload: str | Path, run_dir: Path, max_pixels: int = MAX_PIXELS) -> Path:
    """Validate an uploaded photo (one-line :class:`See3DError` if it is not a usable image) and
    store it as ``run_dir/input.png``."""
    from see3d.io import load_image, save_image

    img = load_image(upload, max_pixels=max_pixels)
    out = run_dir / INPUT
    save_image(out, img)
    return out


def run_dir_of(out_root: str | Path, name: str) -> Path:
    """The run folder ``name`` directly under ``out_root`` (a name from :func:`list_runs`, nothing else)."""
    if not isinstance(name, str) or not _RUN_NAME.match(name):
        raise See3DError(f"no such run: {name!r}")
    d = Path(out_root) / name
    if not (d / RESULT).is_dir():
        raise See3DError(f"run {name} has no result (it failed or was cancelled)")
    return d


def list_runs(out_root: str | Path) -> list[tuple[str, str]]:
    """``(label, name)`` of the finished runs under ``out_root``, newest first."""
    root = Path(out_root)
    if not root.is_dir():
        return []
    runs = []
    for d in root.iterdir():
        if not (_RUN_NAME.match(d.name) and d.is_dir() and (d / RESULT / "transforms.json").is_file()):
            continue
        label = d.name
        try:
            job = json.loads((d / JOB).read_text())["settings"]
            if job.get("kind") == "sparse":
                label += f"  -  {job.get('views')} photos, {job.get('densify')} generated views, fill {job.get('fill')}"
            elif job.get("kind") == "edit":
                label += f"  -  edit of {Path(job['source']).parent.name} with {job.get('upload_name')}"
            else:
                what = job.get("example") or job.get("upload_name") or (f"text {job['prompt'][:40]!r}" if job.get("prompt") else "photo")
                label += f"  -  {what}, {job.get('frames')} views, {job.get('trajectory')}, fill {job.get('fill')}"
        except (OSError, ValueError, KeyError, TypeError):
            pass
        runs.append((label, d.name))
    runs.sort(key=lambda r: r[1], reverse=True)
    return runs


@dataclass
class RunFiles:
    """The files of a finished run that the app shows."""

    name: str
    views: list[Path]
    masks: list[Path]
    video: Path | None
    splat_video: Path | None
    scene: Path | None  #: the fitted 3DGS scene (result/scene.ply)
    viewer_scene: Path | None  #: its copy for the page's 3D viewer (see :mod:`see3d.app.scene`)
    zip: Path
    timings: dict = field(default_factory=dict)


def run_files(run_dir: Path, viewer_height: float = 380.0) -> RunFiles:
    """The files of a finished run; makes the run's zip and the 3D viewer's copy of the scene
    (for a canvas ``viewer_height`` pixels high) on first use."""
    res = run_dir / RESULT
    sub = res if (res / "views").is_dir() or not (res / "generated" / "views").is_dir() else res / "generated"
    views = sorted((sub / "views").glob("*.png"))  # reconstruct: the generated views
    masks = sorted((sub / "masks").glob("*.png"))
    opt = lambda p: p if p.is_file() else None  # noqa: E731
    timings = {}
    try:
        timings = json.loads((res / "run.json").read_text()).get("timings_s", {})
    except (OSError, ValueError):
        pass
    scene = opt(res / "scene.ply")
    viewer = None
    if scene is not None:
        from see3d.app.scene import fit_factor, write_viewer_scene

        from see3d.io import read_transforms_json

        try:  # the viewer starts at the first camera (generate: the input camera)
            cams = read_transforms_json(res / "transforms.json", probe_image_size=False)
            k, pose = cams.intrinsics[0], cams.poses[0]
            fit = fit_factor(int(k.height), float(k.fy), viewer_height)
        except (OSError, ValueError, KeyError, TypeError, IndexError, See3DError):
            fit, pose = 1.0, None
        viewer = write_viewer_scene(scene, run_dir / VIEWER_SCENE, fit, pose)
    return RunFiles(
        run_dir.name, views, masks, opt(res / "video.mp4"), opt(res / "splats.mp4"), scene, viewer,
        make_zip(run_dir), timings,
    )


def make_zip(run_dir: Path) -> Path:
    """``run_dir/see3d-NAME.zip``: the run folder (input, settings, log, result), written atomically."""
    from see3d.io import atomic_file

    out = run_dir / f"see3d-{run_dir.name}.zip"
    if out.is_file():
        return out
    with atomic_file(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for p in sorted(run_dir.rglob("*")):
                if p.is_file() and p.suffix != ".zip" and p.name != VIEWER_SCENE and not any(part.startswith(".") and part != ".see3d.json" for part in p.relative_to(run_dir).parts):
                    z.write(p, f"{run_dir.name}/{p.relative_to(run_dir).as_posix()}")
    return out


# ---------------------------------------------------------------- the job (a child process)

_STAGE = re.compile(r"^\[(\d+)\] (.+) \.\.\.$")
_DASHED = re.compile(r"^-- (.+)$")  # the stages ``see3d reconstruct`` prints
_BAR = re.compile(r"^(?P<desc>[^:|]*?):?\s*(?P<pct>\d+)%\|.*?\|\s*(?P<n>\d+)/(?P<total>\d+)")


@dataclass
class JobState:
    """What the child has reported so far (updated by a reader thread)."""

    stage: str | None = None
    stage_index: int = -1  #: index into the expected stages
    stage_t0: float = 0.0
    bar: tuple[str, int, int] | None = None  #: (description, n, total) of the current progress bar
    info: list[str] = field(default_factory=list)  #: the command's informational lines (intrinsics guess, depth model)
    error: str | None = None  #: the command's ``error: ...`` line
    last_line: str = ""


class Job:
    """A see3d command (``generate``, ``edit``, ``reconstruct``) in a child process, its progress
    parsed from what it prints (the stage lines of its ``on_stage`` printer and its progress bars)."""

    def __init__(self, job: "PhotoJob | EditJob | SparseJob", run_dir: Path):
        self.job, self.run_dir = job, run_dir
        self.out = run_dir / RESULT
        self.stages = job.stages()
        self.state = JobState()
        self.t0 = time.monotonic()
        self.cancelled = False
        self._lock = threading.Lock()
        cmd = job.command(self.out)
        (run_dir / JOB).write_text(json.dumps({"settings": asdict(job), "command": cmd}, indent=2))
        env = dict(os.environ, TQDM_MININTERVAL="0.5", PYTHONUNBUFFERED="1", COLUMNS="100")
        self._log = open(run_dir / LOG, "w", encoding="utf-8")
        try:
            self.proc = subprocess.Popen(
                cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            )
        except OSError:
            self._log.close()
            raise
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # -- progress
    def _read(self) -> None:
        buf = b""
        stream = self.proc.stderr
        while True:
            chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
            if not chunk:
                break
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            for p in parts:
                self._line(p.decode("utf-8", "replace"))
        if buf:
            self._line(buf.decode("utf-8", "replace"))
        self._log.close()

    def _line(self, line: str) -> None:
        line = line.rstrip()
        if not line.strip():
            return
        with self._lock:
            s = self.state
            m = _BAR.match(line.strip())
            if m:  # tqdm redraws are not logged one by one
                s.bar = (m.group("desc").strip(), int(m.group("n")), int(m.group("total")))
                return
            self._log.write(line + "\n")
            self._log.flush()
            s.last_line = line.strip()
            m = _STAGE.match(line.strip()) or _DASHED.match(line.strip())
            if m:
                name = m.group(m.lastindex)
                idx = next((i for i, st in enumerate(self.stages) if name.startswith(st)), s.stage_index)
                s.stage, s.stage_index, s.stage_t0, s.bar = name, idx, time.monotonic(), None
            elif line.startswith(("depth:", "text to image:")):
                name = "depth" if line.startswith("depth:") else "text to image"
                s.stage, s.stage_index, s.stage_t0, s.bar = name, self.stages.index(name) if name in self.stages else 0, time.monotonic(), None
                s.info.append(line)
            elif line.startswith(("intrinsics:", "WARNING")):
                s.info.append(line)
            elif line.startswith("error:"):
                s.error = line[len("error:"):].strip()

    def progress(self) -> tuple[float, str]:
        """Overall fraction done and a one-line description (stage, its progress, elapsed time)."""
        with self._lock:
            s = self.state
            n = len(self.stages)
            if s.stage is None:
                return 0.0, f"starting ({self.elapsed():.0f} s)"
            if s.stage == "finished":
                return 1.0, f"finished in {self.elapsed():.1f} s"
            inner = s.bar[1] / s.bar[2] if s.bar and s.bar[2] else 0.0
            frac = (max(s.stage_index, 0) + min(inner, 1.0)) / n
            desc = f"[{max(s.stage_index, 0) + 1}/{n}] {s.stage}"
            if s.bar:
                desc += f": {s.bar[0] + ' ' if s.bar[0] else ''}{s.bar[1]}/{s.bar[2]}"
            return frac, f"{desc} ({time.monotonic() - s.stage_t0:.0f} s; total {self.elapsed():.0f} s)"

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    # -- life cycle
    def poll(self) -> int | None:
        return self.proc.poll()

    def finish(self) -> int:
        """Wait for the child and its output reader; return the exit status."""
        rc = self.proc.wait()
        self._reader.join(timeout=10)
        return rc

    def failure(self, rc: int) -> str:
        """One line saying why the job did not finish (``rc`` != 0)."""
        if self.cancelled or rc in (143, -signal.SIGTERM, -signal.SIGKILL):
            return "cancelled; nothing was written"
        if self.state.error:
            return self.state.error
        return f"the job failed (exit status {rc}): {self.state.last_line or 'no message'}; see {self.run_dir / LOG}"

    def cancel(self, wait: bool = False) -> None:
        """Terminate the child (its atomic output removes the temporary folder); kill it after
        :data:`CANCEL_GRACE_S` and remove what it left. Returns at once unless ``wait``."""
        self.cancelled = True
        if self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:  # pragma: no cover - exited meanwhile
            return
        t = threading.Thread(target=self._reap, daemon=True)
        t.start()
        if wait:
            t.join()

    def _reap(self) -> None:
        from see3d.io.atomic import remove_stale_temporaries

        try:
            self.proc.wait(timeout=CANCEL_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        remove_stale_temporaries(self.out)

    def running(self) -> bool:
        return self.proc.poll() is None


def remove_run_if_empty(run_dir: Path) -> None:
    """After a failed or cancelled job: keep the folder (input, settings, log) unless it is empty."""
    try:
        run_dir.rmdir()
    except OSError:
        pass


__all__ = [
    "EditJob", "Job", "JobState", "PhotoJob", "SparseJob", "RunFiles", "list_runs", "make_zip", "new_run_dir", "run_dir_of",
    "run_files", "save_input",
]
