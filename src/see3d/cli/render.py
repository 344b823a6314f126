"""``see3d render``: fly a camera through a 3DGS scene and write a video."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from see3d.cli._options import overwrite_option, parse_background
from see3d.errors import See3DError


def _parse_size(size: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise See3DError(f"--size must look like 640x480, got {size!r}") from None
    if not (8 <= w <= 8192 and 8 <= h <= 8192):
        raise See3DError(f"--size must be 8-8192 pixels per side, got {size}")
    return w, h


def render_cmd(
    scene: Path = typer.Argument(..., help="3DGS scene: standard .ply, .splat, or a saved model folder."),
    out: Path = typer.Option(..., "-o", "--out", help="Output video (.mp4)."),
    trajectory: str = typer.Option("orbit", "--trajectory", "-t", help="orbit | dolly | pan | spiral (around the start camera), 'cameras' (the camera file's poses), or a pose file (.json/.npy/.txt OpenCV c2w, or transforms.json) used as is."),
    cameras: Optional[Path] = typer.Option(None, "--cameras", help="transforms.json with the start camera (default: the one beside SCENE, else a camera looking at the scene)."),
    frames: int = typer.Option(48, "--frames", "-n", min=1, max=5000, help="Frames of a built-in trajectory."),
    degrees: float = typer.Option(15.0, "--degrees", help="Half-sweep of orbit / pan in degrees."),
    size: Optional[str] = typer.Option(None, "--size", help="Output size WxH (default: the start camera's)."),
    fps: float = typer.Option(24.0, "--fps", help="Frames per second."),
    background: str = typer.Option("0,0,0", "--background", help="Background colour r,g,b in [0, 1]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Render a video of a Gaussian-splat scene along a camera path.

    Example: see3d render out/scene.ply --trajectory orbit -o orbit.mp4
    """
    import numpy as np

    from see3d.camera import TrajectoryConfig, make_trajectory
    from see3d.camera.trajectory import load_trajectory_file
    from see3d.gs import load_gaussians, render_views
    from see3d.io import atomic_file, check_output, write_video
    from see3d.viewer import scene_camera

    if out.suffix.lower() != ".mp4":
        raise See3DError(f"output must be an .mp4 file, got {out.name}")
    traj_file = None if trajectory in ("cameras", "orbit", "dolly", "pan", "spiral") else trajectory
    real_out = check_output(out, inputs=[scene, cameras, traj_file], overwrite=overwrite, kind="file")
    bg = parse_background(background)
    model = load_gaussians(scene)
    cam, cs = scene_camera(model, scene, cameras)
    intr = cam.intrinsics
    if trajectory == "cameras":
        if cs is None:
            raise See3DError("--trajectory cameras needs a transforms.json (--cameras, or one beside the scene)")
        poses = cs.poses
        intr = cs.intrinsics[0]
    elif trajectory in ("orbit", "dolly", "pan", "spiral"):
        depth = float(np.linalg.norm(cam.target - cam.c2w[:3, 3]))
        cfg = TrajectoryConfig(frames=frames, orbit_degrees=degrees, pan_degrees=degrees)
        poses = make_trajectory(trajectory, depth, cfg, c2w=cam.c2w)
    else:
        poses = load_trajectory_file(Path(trajectory))
    if size is not None:
        w, h = _parse_size(size)
        s = h / intr.height  # keep the vertical field of view, centre the width
        intr = type(intr)(intr.fx * s, intr.fy * s, (w - 1) / 2.0, (intr.cy + 0.5) * s - 0.5, w, h)
    poses = np.asarray(poses, dtype=np.float64)

    def frame_iter():  # one frame at a time: long or large videos never sit in memory
        it = range(len(poses))
        if not quiet:
            from see3d._progress import progress_bar

            it = progress_bar(it, desc="render", unit="frame")
        for i in it:
            yield render_views(model, intr, poses[i : i + 1], background=bg)[0]

    with atomic_file(real_out) as tmp:
        n = write_video(tmp, frame_iter(), fps=fps)
    if not quiet:
        print(f"wrote {out} ({n} frames, {intr.width}x{intr.height}, {len(model)} Gaussians)", file=sys.stderr)


def register(app: typer.Typer, groups: dict) -> None:
    app.command("render")(render_cmd)
