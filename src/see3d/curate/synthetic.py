"""Synthetic clips with a known answer for the curation filters (tests, docs, benchmark).

Rendered with :mod:`see3d.synth` (a procedural room, exact geometry, three checkered balls
floating in front of the camera), each of a kind that one filter must catch:

=============  ==============================================================  =========================
kind           what moves                                                      expected decision
=============  ==============================================================  =========================
``translate``  the camera walks through the static room                        keep
``fixed``      nothing (a camera on a tripod)                                  drop ``static``
``dynamic``    the camera walks, and the balls drift and bob up and down       drop ``dynamic``
``rotate``     the camera stays in place, its view direction circles by        drop ``small_viewpoint``
               ``wobble_deg`` (a hand that trembles)
=============  ==============================================================  =========================

Every frame gets Gaussian sensor noise (sigma 1.5/255 by default), so a fixed camera is not
bit-identical. Which seeds show the balls moving clearly enough is a property of the scene
(the camera may walk along the balls' motion): the tests use seed 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from see3d.errors import See3DError

KINDS = ("translate", "fixed", "dynamic", "rotate")


def _rot(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return ry @ rx


def _with_balls(scene, cam: np.ndarray, intr, rng: np.random.Generator, count: int = 3):
    """``scene`` plus ``count`` checkered balls floating in front of the camera ``cam``
    (camera-to-world) at about half the distance of what it sees, spread across its view;
    returns the scene, the balls' primitive indices and their distance."""
    from see3d.synth import render
    from see3d.synth.scene import SPHERE, Material

    depth = render(scene, intr, cam).depth
    finite = depth[np.isfinite(depth)]
    d0 = float(np.clip(0.5 * np.median(finite), 0.9, 2.4)) if finite.size else 2.0
    R, eye = cam[:3, :3], cam[:3, 3]
    tints = [(1.0, 0.6, 0.3), (0.4, 0.9, 0.5), (0.4, 0.6, 1.0)]
    mats = list(scene.materials) + [Material("checker", 0.08, tints[j % 3]) for j in range(count)]
    centres, halves, fm = [], [], []
    for j in range(count):
        d = d0 * rng.uniform(0.9, 1.1)
        lateral = (j - (count - 1) / 2) * 0.32 * d + rng.uniform(-0.05, 0.05) * d
        centres.append(eye + d * R[:, 2] + lateral * R[:, 0] + rng.uniform(-0.08, 0.08) * d * R[:, 1])
        r = 0.09 * d
        halves.append([r, r, r])
        fm.append([len(scene.materials) + j] * 6)
    n = scene.n_primitives
    out = dataclasses.replace(
        scene,
        ptype=np.concatenate([scene.ptype, np.full(count, SPHERE, np.int32)]),
        center=np.concatenate([scene.center, np.array(centres)]),
        rot=np.concatenate([scene.rot, np.repeat(np.eye(3)[None], count, 0)]),
        half=np.concatenate([scene.half, np.array(halves)]),
        face_mat=np.concatenate([scene.face_mat, np.array(fm, np.int32)]),
        labels=list(scene.labels) + ["ball"] * count,
        materials=mats,
    )
    return out, list(range(n, n + count)), d0


def camera_clip(
    kind: str,
    seed: int = 0,
    frames: int = 48,
    size: tuple[int, int] = (120, 160),
    scene_kind: str = "room",
    wobble_deg: float = 0.8,
    object_speed: float = 0.015,
    bounce: float = 0.12,
    noise: float = 1.5,
) -> np.ndarray:
    """``[frames, H, W, 3]`` uint8 frames of one synthetic clip of ``kind`` (see the module doc).

    ``wobble_deg``: amplitude of the view-direction circle of ``rotate`` (two turns per clip);
    ``object_speed``: how far the balls of ``dynamic`` drift per frame and ``bounce`` the amplitude
    of their bobbing (one period every 16 frames), both as a share of their distance;
    ``noise``: sensor noise sigma in 8-bit levels."""
    from see3d.camera import Intrinsics
    from see3d.synth import make_scene, render, render_views, sample_trajectory

    if kind not in KINDS:
        raise See3DError(f"unknown synthetic clip kind {kind!r}: use one of {', '.join(KINDS)}")
    h, w = size
    rng = np.random.default_rng([seed, KINDS.index(kind), 11])
    scene = make_scene(seed, scene_kind)
    f = 0.9 * w
    intr = Intrinsics(f, f, (w - 1) / 2, (h - 1) / 2, w, h)
    walk = sample_trajectory(scene, np.random.default_rng([seed, 3]), frames, "random", motion=1.5)
    if kind in ("translate", "dynamic"):
        poses = walk
    elif kind == "fixed":
        poses = np.repeat(walk[:1], frames, axis=0)
    else:  # rotate: same eye, the view direction circles around the first one
        s = np.linspace(0.0, 1.0, frames)
        a = np.radians(wobble_deg)
        poses = np.repeat(walk[:1], frames, axis=0).copy()
        for i, si in enumerate(s):
            poses[i, :3, :3] = walk[0, :3, :3] @ _rot(a * np.sin(4 * np.pi * si), a * np.cos(4 * np.pi * si))
    scene, balls, d0 = _with_balls(scene, walk[0], intr, rng)
    if kind != "dynamic":
        rgb = render_views(scene, intr, poses).rgb
    else:
        # the balls fly: each drifts sideways and bobs up and down (a vertical motion: a drift
        # alone can run along the epipolar lines of a sideways camera, where no two-view test sees it)
        ang = rng.uniform(-np.pi, np.pi, len(balls))
        phase = rng.uniform(0, 2 * np.pi, len(balls))
        right, down = walk[0, :3, 0], walk[0, :3, 1]
        rgb = []
        for i in range(frames):
            c = scene.center.copy()
            for j, b in enumerate(balls):
                c[b] += object_speed * d0 * i * np.cos(ang[j]) * right
                c[b] += bounce * d0 * np.sin(2 * np.pi * i / 16 + phase[j]) * down
            rgb.append(render(dataclasses.replace(scene, center=c), intr, poses[i]).rgb)
        rgb = np.stack(rgb)
    out = rgb * 255.0 + rng.normal(0.0, noise, rgb.shape)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def write_clip_video(path, frames: np.ndarray, fps: float = 30.0, crf: int = 18) -> None:
    """Write frames as an H.264 mp4 (what a real input looks like; ``crf`` 18: a high bitrate,
    23: x264's default, about what video sites serve at 480p)."""
    from see3d.io import write_video

    write_video(path, frames, fps=fps, crf=crf)


def write_clip_folder(folder, frames: np.ndarray) -> None:
    """Write frames as ``00000.jpg`` ... (a folder of ordered frames)."""
    import cv2
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, fr in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), cv2.cvtColor(fr, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
