"""Camera paths through a procedural scene, like a hand-held video.

Every path starts at a random eye point in free space (at least ``clearance``
metres from every surface, so with any field of view up to ~100 degrees the
nearest depth stays above ~0.3 m), at eye height (1.1-1.7 m above the floor in
rooms), looking at a piece of content (furniture, an object, a poster) 1-6 m
away (1.5-9 m outdoors, 4-12 m in streets) from at most ~30 degrees above or
below the horizon.  Over the clip the camera moves a few tens of centimetres
and turns by 8-32 degrees in total (``motion`` scales both):

- ``random``: a smooth walk in a random direction (0.15-0.6 m) with a slow
  turn and small hand-held jitter (a few cm, ~1 degree of roll);
- ``orbit``: an arc of 0.3-1.0 m around the content point, always looking at it;
- ``forward``: walking 0.3-0.8 m along the view direction with a slight sway
  and a slow turn.

Every pose of the returned path is checked to be in free space.
"""

from __future__ import annotations

import math

import numpy as np

from see3d.camera.intrinsics import Intrinsics
from see3d.camera.pose import look_at
from see3d.errors import See3DError
from see3d.synth.raycast import cast_rays
from see3d.synth.scene import UP, Scene

TRAJECTORY_KINDS = ("random", "orbit", "forward")

#: Total rotation of a sampled path (first to last frame, degrees) is kept in this range.
ROTATION_RANGE_DEG = (8.0, 32.0)

#: Content is looked at from at most ~30 degrees above or below the horizon (tan 30 deg).
MAX_PITCH = 0.58


def rotation_angle_deg(R0: np.ndarray, R1: np.ndarray) -> float:
    """Angle of the relative rotation ``R0^T R1`` in degrees."""
    c = (np.trace(np.asarray(R0).T @ np.asarray(R1)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def _ease(s: np.ndarray) -> np.ndarray:
    """Half constant speed, half smooth start/stop: 0 -> 1."""
    return 0.5 * s + 0.5 * (s - np.sin(2 * np.pi * s) / (2 * np.pi))


def _wobble(rng: np.random.Generator, s: np.ndarray, amp: float, dims: int) -> np.ndarray:
    """Smooth random jitter ``[len(s), dims]``, zero at ``s = 0``."""
    out = np.zeros((len(s), dims))
    for _ in range(3):
        f = rng.uniform(0.5, 2.5, dims)
        ph = rng.uniform(0, 2 * np.pi, dims)
        a = amp * rng.uniform(0.3, 1.0, dims) / 3.0
        out += a * (np.sin(2 * np.pi * f * s[:, None] + ph) - np.sin(ph))
    return out


def _yaw_pitch_roll(c2w: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Turn a camera about its own axes (yaw about camera y, pitch about x, roll about z)."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    out = c2w.copy()
    out[:3, :3] = c2w[:3, :3] @ Ry @ Rx @ Rz
    return out


def _eye_range(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = scene.bounds[0].copy(), scene.bounds[1].copy()
    if scene.kind == "room":
        lo[1], hi[1] = -1.7, -1.1
    return lo, hi


def _probe(scene: Scene, c2w: np.ndarray) -> np.ndarray:
    """Low-resolution depth (32 x 32, 70 degree field of view) from ``c2w``."""
    intr = Intrinsics.from_fov(70.0, 32, 32)
    return cast_rays(scene, intr, c2w)[0]


def sample_trajectory(
    scene: Scene,
    rng: np.random.Generator,
    frames: int,
    kind: str = "random",
    *,
    clearance: float = 0.5,
    motion: float = 1.0,
    max_tries: int = 400,
) -> np.ndarray:
    """A camera path ``[frames, 4, 4]`` (OpenCV camera-to-world) in free space, looking at content.

    ``clearance``: minimum distance (m) of every camera centre to every surface.
    ``motion``: scales the path length and the turn (and the accepted total rotation,
    ``motion x`` 8-32 degrees, at most 90); hand-held jitter is not scaled.
    Deterministic given the state of ``rng``.  Raises :class:`See3DError` for an
    unknown ``kind`` or when no valid path is found in ``max_tries`` attempts.
    """
    if kind not in TRAJECTORY_KINDS:
        raise See3DError(f"unknown trajectory kind {kind!r}: use one of {', '.join(TRAJECTORY_KINDS)}")
    if int(frames) < 1:
        raise See3DError(f"trajectory needs at least 1 frame, got {frames}")
    if not isinstance(rng, np.random.Generator):
        raise See3DError("sample_trajectory: rng must be a numpy.random.Generator")
    if not (0.0 < float(motion) <= 4.0):
        raise See3DError(f"trajectory motion scale must be in (0, 4], got {motion}")
    if not (0.0 <= float(clearance) < 2.0):
        raise See3DError(f"trajectory clearance must be in [0, 2) metres, got {clearance}")
    frames = int(frames)
    lo, hi = _eye_range(scene)
    s = np.linspace(0.0, 1.0, frames)
    near, far = {"room": (1.0, 6.0), "objects": (1.5, 9.0), "street": (4.0, 12.0)}.get(scene.kind, (1.0, 9.0))
    for _ in range(max_tries):
        eye0 = rng.uniform(lo, hi)
        if scene.clearance(eye0) < clearance + 0.1:
            continue
        if len(scene.content) == 0:
            break
        dist = np.linalg.norm(scene.content - eye0, axis=1)
        cand = np.nonzero((dist > near) & (dist < far))[0]
        if len(cand) == 0:
            continue
        target = scene.content[rng.choice(cand)] + rng.uniform(-0.15, 0.15, 3)
        horiz = target - eye0
        horiz[1] = 0.0
        if abs(target[1] - eye0[1]) > MAX_PITCH * np.linalg.norm(horiz):  # no steep looks down / up
            continue
        start = look_at(eye0, target, UP)
        depth = _probe(scene, start)
        finite = np.isfinite(depth)
        if finite.mean() < 0.4 or np.median(depth[finite]) < 0.9:
            continue
        poses = _path(rng, kind, start, target, s, float(motion))
        if poses is None:
            continue
        if np.all(scene.clearance(poses[:, :3, 3]) >= clearance):
            return poses
    raise See3DError(f"could not find a free-space {kind} trajectory in scene {scene.kind}/{scene.seed}")


def _path(rng, kind: str, start: np.ndarray, target: np.ndarray, s: np.ndarray, motion: float) -> np.ndarray | None:
    eye0 = start[:3, 3]
    N = len(s)
    if kind == "random":
        ang = rng.uniform(-np.pi, np.pi)
        direction = np.array([math.cos(ang), rng.uniform(-0.15, 0.15), math.sin(ang)])
        direction /= np.linalg.norm(direction)
        eyes = eye0 + motion * rng.uniform(0.15, 0.6) * _ease(s)[:, None] * direction + _wobble(rng, s, 0.03, 3)
        turn = motion * np.radians(rng.uniform(5.0, 25.0)) * rng.choice([-1, 1])
        tilt = np.radians(rng.uniform(-5.0, 5.0))
        rot = _wobble(rng, s, np.radians(1.5), 3)
        poses = []
        for i in range(N):
            base = look_at(eyes[i], target, UP)
            poses.append(_yaw_pitch_roll(base, turn * _ease(s[i]) + rot[i, 0], tilt * _ease(s[i]) + rot[i, 1], rot[i, 2]))
    elif kind == "orbit":
        rel = eye0 - target
        r = float(np.hypot(rel[0], rel[2]))
        arc = motion * rng.uniform(0.3, 1.0)
        total = min(arc / max(r, 1e-6), motion * np.radians(30.0)) * rng.choice([-1, 1])
        bob = _wobble(rng, s, 0.02, 1)[:, 0]
        poses = []
        for i in range(N):
            a = total * s[i]
            c, sn = math.cos(a), math.sin(a)
            e = target + np.array([c * rel[0] + sn * rel[2], rel[1] + bob[i], -sn * rel[0] + c * rel[2]])
            poses.append(look_at(e, target, UP))
    else:  # forward
        fwd = start[:3, 2].copy()
        fwd[1] = 0.0
        fwd /= np.linalg.norm(fwd)
        dist = motion * rng.uniform(0.3, 0.8)
        side = np.cross(fwd, UP)
        sway = np.radians(1.0)
        eyes = eye0 + dist * _ease(s)[:, None] * fwd + _wobble(rng, s, 0.04, 1) * side + _wobble(rng, s, 0.015, 1) * UP
        turn = motion * np.radians(rng.uniform(8.0, 25.0)) * rng.choice([-1, 1])
        rot = _wobble(rng, s, sway, 3)
        poses = []
        for i in range(N):
            base = start.copy()
            base[:3, 3] = eyes[i]
            poses.append(_yaw_pitch_roll(base, turn * _ease(s[i]) + rot[i, 0], rot[i, 1], rot[i, 2]))
    poses = np.stack(poses)
    if N > 1:
        total_rot = rotation_angle_deg(poses[0, :3, :3], poses[-1, :3, :3])
        lo, hi = motion * ROTATION_RANGE_DEG[0], min(motion * ROTATION_RANGE_DEG[1], 90.0)
        if not (lo <= total_rot <= hi):
            return None
    return poses
