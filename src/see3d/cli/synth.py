"""``see3d synth``: render procedural clips with exact depth and cameras to disk."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from see3d.cli._options import overwrite_option
from see3d.errors import See3DError


def write_clip(clip, folder: Path, meta: dict, video: bool = False) -> None:
    """Write one clip: images/*.png, depth/*.npy (metres, 0 = sky), transforms.json (+ video.mp4)."""
    import numpy as np

    from see3d.io import save_depth_npy, save_image, to_uint8, write_transforms_json, write_video

    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(len(clip)):
        name = f"{i:05d}"
        save_image(folder / "images" / f"{name}.png", to_uint8(clip.rgb[i]))
        d = clip.depth[i]
        save_depth_npy(folder / "depth" / f"{name}.npy", np.where(np.isfinite(d), d, 0.0))
        names.append(f"images/{name}.png")
    write_transforms_json(folder / "transforms.json", clip.poses, clip.intrinsics, names, extra={"see3d_synth": meta})
    if video:
        write_video(folder / "video.mp4", (to_uint8(f) for f in clip.rgb), fps=10.0)


def synth_cmd(
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: new or empty, or an earlier see3d output with --overwrite; written atomically when the job succeeds."),
    seed: int = typer.Option(0, "--seed", min=0, help="Scene seed (the first one with --clips)."),
    clips: int = typer.Option(1, "--clips", min=1, max=100000, help="Number of clips (seeds SEED, SEED+1, ...); more than one go to `OUT/clip_<seed>/`."),
    frames: int = typer.Option(20, "--frames", "-n", min=1, max=2000, help="Frames per clip."),
    size: int = typer.Option(256, "--size", min=8, max=8192, help="Image width and height (see --height)."),
    height: Optional[int] = typer.Option(None, "--height", min=8, max=8192, help="Image height if it differs from --size (then --size is the width)."),
    focal: Optional[float] = typer.Option(None, "--focal", help="Focal length in pixels (default: random 0.6-1.2 x width per clip)."),
    kind: str = typer.Option("room", "--kind", help="Scene kind: room | objects | street."),
    trajectory: str = typer.Option("random", "--trajectory", "-t", help="Camera path: random (hand-held walk) | orbit | forward."),
    motion: float = typer.Option(1.0, "--motion", help="Scale of the camera motion (1 = a few tens of cm and 8-32 degrees over the clip)."),
    antialias: int = typer.Option(1, "--antialias", min=1, max=9, help="Colour samples per pixel side (odd; depth stays the exact pixel-centre depth)."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, max=256, help="Frames rendered in parallel threads (same output)."),
    video: bool = typer.Option(False, "--video/--no-video", help="Also write video.mp4 per clip."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Render procedural scenes (rooms, objects on a ground plane, streets) with exact metric depth.

    Writes `OUT/images/*.png`, `OUT/depth/*.npy` (camera-z metres, 0 = sky) and
    OUT/transforms.json (OpenGL camera-to-world, as nerfstudio / instant-ngp read it).

    Example: see3d synth -o out/room0 --seed 0 --frames 20 --size 256 --video
    """
    from see3d.io import atomic_output_dir, check_output
    from see3d.synth import SCENE_KINDS, TRAJECTORY_KINDS, render_clip

    real_out = check_output(out, overwrite=overwrite)

    if kind not in SCENE_KINDS:
        raise See3DError(f"unknown scene kind {kind!r}: use one of {', '.join(SCENE_KINDS)}")
    if trajectory not in TRAJECTORY_KINDS:
        raise See3DError(f"unknown trajectory {trajectory!r}: use one of {', '.join(TRAJECTORY_KINDS)}")
    if antialias % 2 == 0:
        raise See3DError(f"--antialias must be odd, got {antialias}")
    if focal is not None and not focal > 0:
        raise See3DError(f"--focal must be a positive number of pixels, got {focal}")
    shape = (size, size) if height is None else (height, size)

    from see3d._progress import progress_bar

    bar = progress_bar(total=clips * frames, unit="frame", disable=quiet, desc="synth")
    with atomic_output_dir(real_out, marker="synth") as tmp:
        for k in range(clips):
            s = seed + k
            clip = render_clip(
                s, frames=frames, size=shape, focal=focal, kind=kind, trajectory=trajectory,
                antialias=antialias, motion=motion, workers=workers, progress=lambda i, n: bar.update(1),
            )  # fmt: skip
            meta = {"seed": s, "kind": kind, "trajectory": trajectory, "motion": motion, "depth": "depth/<name>.npy, metres, 0 = sky", **clip.scene.facts}
            write_clip(clip, tmp if clips == 1 else tmp / f"clip_{s:06d}", meta, video=video)
    bar.close()
    if not quiet:
        print(f"wrote {clips} clip(s) of {frames} frames to {out}")


def register(app: typer.Typer, groups: dict) -> None:
    app.command("synth")(synth_cmd)
