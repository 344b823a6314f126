"""Camera trajectories that start at the input camera and scale with the scene.

Every generator returns an array of OpenCV camera-to-world poses ``[N, 4, 4]``
whose first pose equals the input camera ``c2w`` (identity by default).  Motion
is expressed in the input camera's frame and sized by ``scene_depth`` (a
typical depth of the scene, e.g. the median of the input depth map), so the
same command moves sensibly in a room (2 m) and on a street (20 m).

- ``orbit``: arc around a look-at point ``scene_depth`` ahead of the camera,
  sweeping ``degrees`` left and right (yaw about the camera's vertical axis).
- ``dolly``: straight forward (then back) along the optical axis by
  ``amount * scene_depth``.
- ``pan``: rotation in place (film "pan": yaw sweep, no translation).
- ``spiral``: LLFF-style spiral, a circle in the image plane plus a forward
  and back motion, always looking at the look-at point.
- a file: a list of 4x4 matrices (JSON list, ``.npy`` or ``.txt`` with 16 numbers
  per pose, OpenCV convention) or a ``transforms.json`` (OpenGL convention).  The
  first pose of the file is the input camera; the others are placed relative to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from see3d.camera.pose import as_pose, invert, look_at, make_pose, rotation_y
from see3d.errors import See3DError

TRAJECTORIES = ("orbit", "dolly", "pan", "spiral")


@dataclass(frozen=True)
class TrajectoryConfig:
    """Sizes of the built-in trajectories (relative to the scene depth)."""

    frames: int = 16
    orbit_degrees: float = 15.0  #: half-sweep of the orbit arc
    dolly_amount: float = 0.3  #: forward distance as a fraction of the scene depth
    pan_degrees: float = 20.0  #: half-sweep of the pan
    spiral_radius: float = 0.08  #: circle radius as a fraction of the scene depth
    spiral_forward: float = 0.1  #: forward excursion as a fraction of the scene depth


def _check(frames: int, scene_depth: float) -> None:
    if frames < 1:
        raise See3DError(f"trajectory needs at least 1 frame, got {frames}")
    if not np.isfinite(scene_depth) or scene_depth <= 0:
        raise See3DError(f"scene depth for the trajectory must be positive, got {scene_depth}")


def _phases(frames: int) -> np.ndarray:
    """Phases in [0, 2pi) with frame 0 at phase 0 (a closed loop back to the start)."""
    return 2.0 * np.pi * np.arange(frames) / max(frames, 1)


def _relative(c2w: np.ndarray | None, rel: list[np.ndarray]) -> np.ndarray:
    base = np.eye(4) if c2w is None else as_pose(c2w, "input camera pose")
    return np.stack([base @ r for r in rel])


def orbit(scene_depth: float, frames: int = 16, degrees: float = 15.0, c2w: np.ndarray | None = None) -> np.ndarray:
    """Arc around the point ``scene_depth`` ahead: yaw ``degrees * sin(phase)``."""
    _check(frames, scene_depth)
    center = np.array([0.0, 0.0, scene_depth])
    rel = []
    for ph in _phases(frames):
        a = np.radians(degrees) * np.sin(ph)
        R = rotation_y(a)
        # rotate the camera position about the vertical axis through the look-at point
        eye = center + R @ (np.zeros(3) - center)
        rel.append(make_pose(R, eye))
    return _relative(c2w, rel)


def dolly(scene_depth: float, frames: int = 16, amount: float = 0.3, c2w: np.ndarray | None = None) -> np.ndarray:
    """Move forward to ``amount * scene_depth`` and back (``(1 - cos) / 2`` profile)."""
    _check(frames, scene_depth)
    rel = [make_pose(np.eye(3), [0.0, 0.0, amount * scene_depth * 0.5 * (1 - np.cos(ph))]) for ph in _phases(frames)]
    return _relative(c2w, rel)


def pan(scene_depth: float, frames: int = 16, degrees: float = 20.0, c2w: np.ndarray | None = None) -> np.ndarray:
    """Rotate in place, yaw ``degrees * sin(phase)`` (no parallax: only the borders are new)."""
    _check(frames, scene_depth)
    rel = [make_pose(rotation_y(np.radians(degrees) * np.sin(ph)), np.zeros(3)) for ph in _phases(frames)]
    return _relative(c2w, rel)


def spiral(
    scene_depth: float,
    frames: int = 16,
    radius: float = 0.08,
    forward: float = 0.1,
    c2w: np.ndarray | None = None,
) -> np.ndarray:
    """Circle of ``radius * scene_depth`` in the image plane with a forward/back swing, looking at the centre."""
    _check(frames, scene_depth)
    r = radius * scene_depth
    target = np.array([0.0, 0.0, scene_depth])
    rel = []
    for ph in _phases(frames):
        eye = np.array([r * np.sin(ph), r * (1 - np.cos(ph)) * 0.5, forward * scene_depth * 0.5 * (1 - np.cos(ph))])
        rel.append(look_at(eye, target))
    return _relative(c2w, rel)


def load_trajectory_file(path: str | Path) -> np.ndarray:
    """Poses from a file, OpenCV camera-to-world ``[N, 4, 4]`` (not yet re-based)."""
    path = Path(path)
    if not path.is_file():
        raise See3DError(f"trajectory file not found: {path}")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".txt":
            arr = np.loadtxt(path, ndmin=2)
        else:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "frames" in data:
                from see3d.io.cameras import read_transforms_json

                return read_transforms_json(path).poses
            if isinstance(data, dict) and "poses" in data:
                data = data["poses"]
            elif isinstance(data, dict):
                raise See3DError(f"trajectory file {path}: a JSON object needs 'frames' (transforms.json) or 'poses' (a list of 4x4 matrices)")
            arr = np.asarray(data, dtype=np.float64)
    except See3DError:
        raise
    except (ValueError, TypeError, OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise See3DError(f"trajectory file {path} is malformed: {str(e).splitlines()[0]}") from None
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 16:
        arr = arr.reshape(-1, 4, 4)
    if arr.ndim == 2 and arr.shape[1] == 12:
        arr = arr.reshape(-1, 3, 4)
    if arr.ndim != 3 or arr.shape[1:] not in ((4, 4), (3, 4)) or len(arr) == 0:
        raise See3DError(f"trajectory file {path}: expected a list of 4x4 matrices, got shape {arr.shape}")
    return np.stack([as_pose(p, f"{path.name} pose {i}") for i, p in enumerate(arr)])


def rebase(poses: np.ndarray, c2w: np.ndarray | None = None) -> np.ndarray:
    """Place ``poses`` so that the first equals ``c2w`` (identity by default), keeping relative motion."""
    base = np.eye(4) if c2w is None else as_pose(c2w, "input camera pose")
    inv0 = invert(poses[0])
    return np.stack([base @ inv0 @ p for p in poses])


def make_trajectory(
    kind: str,
    scene_depth: float,
    config: TrajectoryConfig = TrajectoryConfig(),
    c2w: np.ndarray | None = None,
) -> np.ndarray:
    """Build a trajectory by name (``orbit|dolly|pan|spiral``) or from a file path."""
    n = config.frames
    if kind == "orbit":
        return orbit(scene_depth, n, config.orbit_degrees, c2w)
    if kind == "dolly":
        return dolly(scene_depth, n, config.dolly_amount, c2w)
    if kind == "pan":
        return pan(scene_depth, n, config.pan_degrees, c2w)
    if kind == "spiral":
        return spiral(scene_depth, n, config.spiral_radius, config.spiral_forward, c2w)
    p = Path(kind)
    if p.suffix in (".json", ".npy", ".txt") or p.exists():
        return rebase(load_trajectory_file(p), c2w)
    raise See3DError(f"unknown trajectory {kind!r}: use one of {', '.join(TRAJECTORIES)} or a pose file")


def scene_depth_of(depth: np.ndarray) -> float:
    """A robust typical depth (median of the finite, positive values)."""
    d = np.asarray(depth)
    valid = d[np.isfinite(d) & (d > 0)]
    if valid.size == 0:
        raise See3DError("depth map has no valid (finite, positive) values")
    return float(np.median(valid))
