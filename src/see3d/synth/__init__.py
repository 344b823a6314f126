"""Procedural 3D scenes with exact ground truth (RGB, metric depth, normals, cameras).

>>> from see3d.synth import make_scene, render_clip
>>> clip = render_clip(seed=0, frames=20, size=256)          # doctest: +SKIP
>>> clip.rgb.shape, clip.depth.shape, clip.poses.shape       # doctest: +SKIP
((20, 256, 256, 3), (20, 256, 256), (20, 4, 4))

World frame: metres, ``y`` down (floor at ``y = 0``), OpenCV camera-to-world
poses; depth is the camera-z of the first surface hit (``inf`` for the sky).
See ``docs/synth.md``.
"""

from __future__ import annotations

import numpy as np

from see3d.camera.intrinsics import Intrinsics
from see3d.errors import See3DError
from see3d.synth.render import SynthClip, SynthFrame, render, render_views, sky_color
from see3d.synth.scene import SCENE_KINDS, UP, Material, Scene, make_scene
from see3d.synth.trajectory import TRAJECTORY_KINDS, rotation_angle_deg, sample_trajectory

#: Random focal lengths of :func:`render_clip` span this range times the image width.
FOCAL_RANGE = (0.6, 1.2)


def _size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(x) for x in size)
        except (TypeError, ValueError):
            raise See3DError(f"size must be an int or (height, width), got {size!r}") from None
    if h < 1 or w < 1 or h > 8192 or w > 8192:
        raise See3DError(f"image size must be 1-8192 pixels per side, got {h}x{w}")
    return h, w


def render_clip(
    seed: int,
    frames: int = 20,
    size: int | tuple[int, int] = 256,
    focal: float | None = None,
    kind: str = "room",
    trajectory: str = "random",
    *,
    normals: bool = False,
    antialias: int = 1,
    motion: float = 1.0,
    workers: int = 1,
    progress=None,
) -> SynthClip:
    """Scene + camera path + render, all from ``seed``.

    ``size``: an int (square) or ``(height, width)``.  ``focal`` in pixels
    (``None`` = random in 0.6-1.2 x width, i.e. a 80-45 degree horizontal field of
    view); principal point at the image centre.  ``kind`` is the scene kind
    (``room``, ``objects``, ``street``), ``trajectory`` the path kind
    (``random``, ``orbit``, ``forward``).  ``normals`` keeps camera-frame normals,
    ``antialias`` (odd) averages that many sub-pixel colour samples per side (depth
    stays the exact pixel-centre depth), ``motion`` scales the camera path (see
    :func:`sample_trajectory`), ``workers`` renders frames in parallel threads (same
    result), ``progress(done, total)`` is called per frame.
    """
    h, w = _size(size)
    scene = make_scene(seed, kind)
    rng = np.random.default_rng([int(seed), SCENE_KINDS.index(kind), 7919])
    f = float(rng.uniform(*FOCAL_RANGE)) * w if focal is None else float(focal)
    if not np.isfinite(f) or f <= 0:
        raise See3DError(f"focal length must be a positive number of pixels, got {focal}")
    intr = Intrinsics(f, f, (w - 1) / 2.0, (h - 1) / 2.0, w, h)
    poses = sample_trajectory(scene, rng, frames, trajectory, motion=motion)
    return render_views(scene, intr, poses, normals=normals, antialias=antialias, workers=workers, progress=progress)


__all__ = [
    "FOCAL_RANGE",
    "SCENE_KINDS",
    "TRAJECTORY_KINDS",
    "UP",
    "Material",
    "Scene",
    "SynthClip",
    "SynthFrame",
    "make_scene",
    "render",
    "render_clip",
    "render_views",
    "rotation_angle_deg",
    "sample_trajectory",
    "sky_color",
]
