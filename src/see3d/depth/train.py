"""Train the tiny depth network on procedural ``synth`` scenes (a consistent metric world).

The data: ``scenes`` clips of ``frames_per_scene`` views each, every clip rendered with its own
focal length drawn log-uniformly from ``focal_range`` (300-2000 px by default), scene kinds
cycling through room / objects / street. The rendered set is cached in the run folder, so a
resumed run does not render again.

Training sample = :func:`see3d.camera.canonical.training_sample` (canonical label, optional
random resize, random crop/pad with label -1) plus a horizontal flip. Loss: mean absolute
error of log depth over valid labels. AdamW, linear warm-up then cosine decay. The run folder
holds ``train.log`` (one line per ``log_every`` steps), ``checkpoint.pt`` (model, optimiser,
step; loaded with ``weights_only=True``) written every ``checkpoint_every`` steps, and the final
model in ``model/`` (``config.json`` + ``model.safetensors``). Running again with the same
folder resumes from the checkpoint.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from see3d.camera import canonical as cano
from see3d.camera.intrinsics import Intrinsics
from see3d.depth.tiny import TinyDepthConfig, TinyDepthNet
from see3d.errors import See3DError
from see3d.io.config import check_fields, read_config_file

KINDS = ("room", "objects", "street")
CAMERAS = ("path", "level", "mixed")
LOSSES = ("log_l1", "log_l1+abs_rel")
FOCAL_SAMPLING = ("log", "inverse")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise See3DError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


@dataclass
class DepthTrainConfig:
    """Everything that decides the trained weights (seeded: the same config gives the same file)."""

    variant: str | None = "label"  #: "label" (CSTM_label), "image" (CSTM_image) or None (no canonical transform)
    steps: int = 1500
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    image_size: tuple[int, int] = (96, 128)  #: network canvas (height, width)
    render_size: tuple[int, int] = (192, 256)  #: rendered images (fit-resized into the canvas, s = 0.5)
    channels: tuple[int, ...] = (16, 32, 64, 96, 128)
    focal_range: tuple[float, float] = (300.0, 2000.0)
    #: how a clip's focal is drawn from ``focal_range``: "log" (log-uniform) or "inverse"
    #: (uniform in 1 / f, i.e. in the tangent of the half field of view: more wide views)
    focal_sampling: str = "log"
    scenes: int = 500
    frames_per_scene: int = 3
    kinds: tuple[str, ...] = KINDS
    resize_range: tuple[float, float] | None = None  #: Metric3D's random resize r (labels x 1/r); None = off
    resize_centred: bool = False  #: keep the resized image centred (no random crop/pad offset; allows ``coord``)
    close_up: float = 0.0  #: fraction of views moved towards the surface they look at (see :func:`dolly_poses`)
    near: float = 0.3  #: closest surface distance (m) of a moved view
    init_from_data: bool = False  #: start the output bias at the median training label (not 3 m)
    global_scale: bool = False  #: per-image log-scale head on pooled multi-level features (TinyDepthConfig)
    norm: str = "group"  #: "group" or "batch" normalisation layers (TinyDepthConfig)
    #: train on random crops of this size (height, width) of the canvas-sized image (more images per
    #: second; the network is fully convolutional); None = the whole canvas
    crop: tuple[int, int] | None = None
    #: camera placement of the rendered views: "path" (:func:`see3d.synth.sample_trajectory`, hand-held
    #: paths at 1.1-1.7 m looking at content) or "level" (:func:`level_poses`: every view at one
    #: fixed eye height, near-horizontal, a consistent metric world like a car's camera) or
    #: "mixed" (every other scene "level", the rest "path")
    camera: str = "path"
    eye_height: float = 1.65  #: "level": camera height above the ground (m)
    tilt_deg: float = 1.0  #: "level": pitch and roll drawn uniformly in +- this (degrees)
    plain_ground: bool = False  #: "level": nearly uniform ground colour (:func:`extend_ground`)
    coord: bool = False  #: CoordConv input channels (TinyDepthConfig.coord)
    #: "level", training data only: this fraction of the views gets 1-2 extra objects 1-4 m
    #: from the camera beside the open view ahead (:func:`add_side_objects`); the held-out views of
    #: the benchmark never get them (:func:`level_options` leaves it out)
    side_objects: float = 0.0
    #: training loss: "log_l1" (mean |ln pred - ln label|) or "log_l1+abs_rel" (plus the mean of
    #: |pred / label - 1|, the evaluation's AbsRel per pixel: over-prediction costs more than
    #: under-prediction, see :func:`depth_loss`)
    loss: str = "log_l1"
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 100
    threads: int | None = None

    def __post_init__(self) -> None:
        self.image_size = tuple(int(x) for x in self.image_size)
        self.render_size = tuple(int(x) for x in self.render_size)
        self.channels = tuple(int(x) for x in self.channels)
        self.focal_range = tuple(float(x) for x in self.focal_range)
        self.kinds = tuple(self.kinds)
        if self.resize_range is not None:
            self.resize_range = tuple(float(x) for x in self.resize_range)
        if self.crop is not None:
            self.crop = tuple(int(x) for x in self.crop)
        if self.variant in ("none", "None", ""):
            self.variant = None
        if self.variant not in ("label", "image", None):
            raise See3DError(f"variant must be 'label', 'image' or 'none', got {self.variant!r}")
        if self.steps < 1 or self.batch < 1 or self.scenes < 1 or self.frames_per_scene < 1:
            raise See3DError("steps, batch, scenes and frames per scene must be positive")
        lo, hi = self.focal_range
        if not (0 < lo <= hi):
            raise See3DError(f"focal range must be 0 < low <= high, got {self.focal_range}")
        _check_choice("focal_sampling", self.focal_sampling, FOCAL_SAMPLING)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("camera", self.camera, CAMERAS)
        if self.camera != "path" and not (0.3 <= self.eye_height <= 3.0 and 0.0 <= self.tilt_deg <= 20.0):
            raise See3DError(f"level camera: eye height must be 0.3-3 m and tilt 0-20 degrees, got {self.eye_height}, {self.tilt_deg}")
        if self.coord and (self.crop is not None or (self.resize_range is not None and not self.resize_centred)):
            raise See3DError("coord (CoordConv) needs the principal point at the canvas centre: use it without crop, and resize_range only with resize_centred")
        if not (0.0 <= self.side_objects <= 1.0):
            raise See3DError(f"side_objects must be a fraction in [0, 1], got {self.side_objects}")
        if self.side_objects and self.camera == "path":
            raise See3DError("side_objects needs camera='level' or 'mixed'")
        if not (0.0 <= self.close_up <= 1.0) or not (0.05 <= self.near <= 10.0):
            raise See3DError(f"close_up must be in [0, 1] and near in [0.05, 10] m, got {self.close_up}, {self.near}")

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> "DepthTrainConfig":
        """A config from a TOML / JSON file of its fields (e.g. ``src/see3d/depth/configs/*.toml``);
        ``overrides`` (not None) replace the file's values."""
        d = read_config_file(path, "depth train config")
        d.update({k: v for k, v in overrides.items() if v is not None})
        check_fields(cls, d, "depth train config")
        return cls(**d)

    def data_key(self) -> dict:
        """The fields that decide the rendered data set."""
        keys = ("render_size", "focal_range", "scenes", "frames_per_scene", "kinds", "seed") + (("close_up", "near") if self.close_up else ())
        keys += ("camera", "eye_height", "tilt_deg", "plain_ground") if self.camera != "path" else ()
        keys += ("side_objects",) if self.side_objects else ()
        keys += ("focal_sampling",) if self.focal_sampling != "log" else ()
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k in keys}


@dataclass
class SynthDepthSet:
    """Rendered training/eval images: ``rgb uint8 [N, H, W, 3]``, ``depth float16 [N, H, W]`` metres (0 = sky),
    ``focal float64 [N]``."""

    rgb: np.ndarray
    depth: np.ndarray
    focal: np.ndarray
    kind: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.focal)

    def intrinsics(self, i: int) -> Intrinsics:
        h, w = self.depth.shape[1:]
        f = float(self.focal[i])
        return Intrinsics(f, f, (w - 1) / 2.0, (h - 1) / 2.0, w, h)


def dolly_poses(scene, poses: np.ndarray, rng: np.random.Generator, fraction: float, near: float = 0.3, margin: float = 0.08) -> np.ndarray:
    """Move a ``fraction`` of the camera poses ``[N, 4, 4]`` forward along their optical axis.

    A moved view gets a new distance to the surface it looks at (the nearest hit of a 10-degree
    probe around the optical axis) drawn log-uniformly between ``near`` and the original distance,
    so the set holds close-ups (0.3-1 m: a table top, a wall, a ball) as well as room- and
    street-scale views of the *same* metric world. The camera keeps ``margin`` metres of free
    space (the move is halved until it does). The draw does not depend on the focal length:
    a scene rendered at several focals keeps the same camera path.
    """
    from see3d.synth.raycast import cast_rays

    probe = Intrinsics.from_fov(10.0, 5, 5)
    out = np.array(poses, dtype=np.float64, copy=True)
    for i in range(len(out)):
        pick, u = rng.random(), rng.random()  # always two draws: the stream does not depend on the scene
        if pick >= fraction:
            continue
        t = cast_rays(scene, probe, out[i])[0]
        t = t[np.isfinite(t)]
        if t.size == 0 or t.min() <= near * 1.05:
            continue
        t0 = float(t.min())
        d = math.exp(math.log(near) + u * (math.log(t0) - math.log(near)))
        eye, axis, move = out[i, :3, 3].copy(), out[i, :3, 2], t0 - d
        for _ in range(8):
            if scene.clearance(eye + move * axis) >= margin:
                out[i, :3, 3] = eye + move * axis
                break
            move *= 0.5
    return out


#: "level" views: the ground plane reaches this far (m), so it recedes to (nearly) the horizon at
#: every focal; depths beyond ``LEVEL_MAX_DEPTH`` are stored as unknown (like sky, and like the
#: 80 m cap of KITTI's ground truth; the held-out evaluation counts depths up to 200 m)
LEVEL_GROUND_RADIUS = 2000.0
LEVEL_MAX_DEPTH = 200.0


def extend_ground(scene, radius: float = LEVEL_GROUND_RADIUS, plain: bool = False):
    """The scene with its ground slab (outdoor kinds) widened to ``radius`` m (in place; returned).

    ``plain``: the ground texture stretched to one repeat per 10 km, i.e. a nearly uniform
    colour: its foreshortening (texture squashed by ``y / f`` towards the horizon) no longer
    shows the focal length (rendered views of a plain world also get one sky colour, see
    :func:`_render_views_at`)."""
    import dataclasses

    for p, lab in enumerate(scene.labels):
        if lab == "ground":
            scene.half[p, 0] = scene.half[p, 2] = max(float(scene.half[p, 0]), float(radius))
            if plain:
                for m in set(int(i) for i in scene.face_mat[p]):
                    scene.materials[m] = dataclasses.replace(scene.materials[m], tile=1e4)
    return scene


#: :func:`level_poses` in rooms: free space (m) required along the optical axis.
INDOOR_MIN_FREE = 1.0


def level_poses(
    scene,
    rng: np.random.Generator,
    n: int,
    height: float = 1.65,
    tilt_deg: float = 1.0,
    min_free: float = 20.0,
    clearance: float = 0.5,
    open_view: tuple[float, float] | None = (2.3, 3.0),
    open_depth: float = 40.0,
    max_tries: int = 400,
) -> np.ndarray:
    """``n`` independent camera poses ``[n, 4, 4]`` at one eye height, looking near-horizontally.

    Each view: eye at ``height`` m above the ground (world ``y = -height``) anywhere in the
    scene's camera region with ``clearance`` m of free space, a random heading (in a street,
    3 of 4 views look along it, +-20 degrees), pitch and roll uniform in +-``tilt_deg``, at
    least ``min_free`` m of free space (or sky) along the optical axis, and an open view ahead:
    every ray of a 12 x 16 probe within ``open_view`` = (vertical, horizontal) half-angles in
    degrees of the axis (2.3 x 3.0 covers a 2500 px view of a 192 x 256 image) meets the
    ground, the sky, or a surface at least ``open_depth`` m away - as from a car on an open
    road, the ground is seen receding towards the horizon in the middle of every view, and
    nothing near stands in it whose foot is out of sight at a long focal length. In a room
    (``scene.kind == "room"``) the eye stands on the floor's level the same way, but only
    ``INDOOR_MIN_FREE`` m must be free ahead and there is no open-view probe (floor and walls
    fill the view, as in a handheld indoor photo). In such a world the ground at image row
    offset ``y`` (pixels below the principal point) has depth ``f * height / y`` for a level
    camera: its canonical depth ``1000 * height / y`` does not depend on the focal length.
    Deterministic given ``rng``; poses do not depend on the focal length.
    """
    from see3d.camera.pose import look_at
    from see3d.synth.raycast import cast_rays
    from see3d.synth.scene import UP
    from see3d.synth.trajectory import _yaw_pitch_roll

    if scene.kind == "room":  # indoors: a wall a few metres ahead is the norm, no horizon to keep open
        min_free, open_view = min(min_free, INDOOR_MIN_FREE), None
    lo, hi = scene.bounds
    probe = Intrinsics(1.0, 1.0, 0.0, 0.0, 1, 1)  # the optical axis only
    ground = np.array([p for p, lab in enumerate(scene.labels) if lab == "ground"], np.int64)
    cone = None
    if open_view is not None:
        tv, th = (math.tan(math.radians(a)) for a in open_view)
        cone = Intrinsics(7.5 / th, 5.5 / tv, 7.5, 5.5, 16, 12)
    tilt = math.radians(tilt_deg)
    out = []
    for _ in range(int(n)):
        for _ in range(max_tries):
            eye = rng.uniform(lo, hi)
            eye[1] = -float(height)
            yaw = rng.uniform(-math.pi, math.pi)
            along, jitter = rng.random(), rng.uniform(-1.0, 1.0)
            pitch, roll = rng.uniform(-tilt, tilt, 2)
            if scene.kind == "street" and along < 0.75:  # streets run along z
                yaw = (0.0 if along < 0.375 else math.pi) + math.radians(20.0) * jitter
            if scene.clearance(eye) < clearance:
                continue
            c2w = look_at(eye, eye + np.array([math.sin(yaw), 0.0, math.cos(yaw)]), UP)
            c2w = _yaw_pitch_roll(c2w, 0.0, pitch, roll)  # pitch about the camera x axis, then roll
            t = float(cast_rays(scene, probe, c2w)[0][0, 0])
            if cone is not None:
                ct, cid, _ = cast_rays(scene, cone, c2w)
                if not np.all(np.isin(cid, ground) | (ct >= open_depth)):  # sky: t = inf
                    continue
            if t >= min_free:  # inf (sky) included
                out.append(c2w)
                break
        else:
            raise See3DError(f"could not place a level camera in scene {scene.kind}/{scene.seed}")
    return np.stack(out)


#: :func:`add_side_objects`: distance (m) of an added object's centre from the camera, log-uniform
SIDE_DISTANCE = (1.2, 4.0)


def add_side_objects(scene, c2w: np.ndarray, focal: float, width: int, rng: np.random.Generator, open_half_deg: float = 3.0):
    """A copy of ``scene`` with 1-2 objects (box or cylinder, 0.3-1.4 m wide, 0.4-2.2 m tall,
    standing on the ground) 1.2-4 m from the camera of pose ``c2w``, beside its optical axis.

    Each object is at a heading offset left or right of the view's heading: its whole horizontal
    extent between ``open_half_deg`` + 1 degree (outside :func:`level_poses`' open-view probe, so
    the ground still recedes to the horizon in the middle) and 95% of the horizontal half field
    of view of ``focal`` px over ``width`` px (so it is in the image). At the eye height of the
    level recipe its foot is below the image bottom at every training focal: the near objects
    whose depth a row cannot tell. Objects that do not fit (field of view too narrow, or too close
    to the camera: less than 0.4 m of free space left at the eye) are skipped."""
    import dataclasses

    from see3d.synth.scene import BOX, CYLINDER, _object_material, _rot_y

    eye, fwd = c2w[:3, 3], c2w[:3, 2]
    yaw0 = math.atan2(fwd[0], fwd[2])
    hfov = math.atan(0.95 * (width / 2.0) / float(focal))
    ptype, center, rot, half, face_mat, labels, mats = [list(a) for a in (scene.ptype, scene.center, scene.rot, scene.half, scene.face_mat)] + [list(scene.labels), list(scene.materials)]
    for _ in range(1 + int(rng.random() < 0.5)):
        d = math.exp(rng.uniform(math.log(SIDE_DISTANCE[0]), math.log(SIDE_DISTANCE[1])))
        w, h = rng.uniform(0.3, 1.4), rng.uniform(0.4, 2.2)
        cyl, side, u, spin = rng.random() < 0.35, (-1.0 if rng.random() < 0.5 else 1.0), rng.random(), rng.uniform(-math.pi, math.pi)
        r = w / 2.0 * (1.0 if cyl else math.sqrt(2.0))  # bounding radius in the ground plane
        if d - r < 0.4 + 0.2:
            continue
        lo = math.radians(open_half_deg + 1.0) + math.asin(min(1.0, r / d))
        if lo >= hfov:
            continue
        a = yaw0 + side * (lo + u * (hfov - lo))
        c = np.array([eye[0] + d * math.sin(a), -h / 2.0, eye[2] + d * math.cos(a)])
        if float(scene.clearance(c[None])[0]) < r + 0.05:  # inside / touching the scene's solids
            continue
        ptype.append(CYLINDER if cyl else BOX)
        center.append(c)
        rot.append(_rot_y(spin))
        half.append(np.array([w / 2.0, h / 2.0, w / 2.0]))
        mats.append(_object_material(rng, 0.6))
        face_mat.append(np.full(6, len(mats) - 1, np.int32))
        labels.append("side_object")
    if len(labels) == len(scene.labels):
        return scene
    return dataclasses.replace(
        scene,
        ptype=np.asarray(ptype, np.int32),
        center=np.asarray(center, np.float64),
        rot=np.asarray(rot, np.float64),
        half=np.asarray(half, np.float64),
        face_mat=np.asarray(face_mat, np.int32),
        labels=labels,
        materials=mats,
    )


def _render_views_at(
    seed: int, kind: str, frames: int, size: tuple[int, int], focal: float, close_up: float, near: float, level: dict | None = None
):
    """:func:`see3d.synth.render_clip` (same scene and path for the same seed) with :func:`dolly_poses` applied;
    ``level`` (``{"height", "tilt_deg"}``): independent :func:`level_poses` views instead of a path."""
    from see3d.synth import render_clip

    if level is not None:
        from see3d.synth import SCENE_KINDS, make_scene, render_views

        h, w = size
        scene = extend_ground(make_scene(seed, kind), plain=bool(level.get("plain_ground", False)))
        poses = level_poses(scene, np.random.default_rng([int(seed), SCENE_KINDS.index(kind), 5151]), frames, level["height"], level["tilt_deg"])
        K = Intrinsics(focal, focal, (w - 1) / 2.0, (h - 1) / 2.0, w, h)
        clip = render_views(scene, K, poses)
        side = float(level.get("side_objects", 0.0))
        if side:  # own stream: the poses and the views without side objects stay as without the option
            srng = np.random.default_rng([int(seed), SCENE_KINDS.index(kind), 6262])
            for i in range(len(poses)):
                pick, sub = srng.random(), np.random.default_rng(srng.integers(1 << 62))
                if pick < side:
                    moved = add_side_objects(scene, poses[i], focal, w, sub)
                    if moved is not scene:
                        one = render_views(moved, K, poses[i : i + 1])
                        clip.rgb[i], clip.depth[i] = one.rgb[0], one.depth[0]
        if level.get("plain_ground", False):
            # one sky colour (that of the horizon): the renderer's gradient by elevation spans more
            # colours at a short focal length than at a long one - a focal cue in every image
            from see3d.synth.render import sky_color

            clip.rgb[~np.isfinite(clip.depth)] = sky_color(np.array([[0.0, 0.0, 1.0]]))[0]
        clip.depth[clip.depth > LEVEL_MAX_DEPTH] = np.inf  # the far plain near the horizon: unknown, as sky
        return clip
    if not close_up:
        return render_clip(seed, frames=frames, size=size, focal=focal, kind=kind)
    from see3d.synth import SCENE_KINDS, make_scene, render_views, sample_trajectory

    h, w = size
    scene = make_scene(seed, kind)
    rng = np.random.default_rng([int(seed), SCENE_KINDS.index(kind), 7919])  # render_clip's stream
    poses = sample_trajectory(scene, rng, frames, "random")
    poses = dolly_poses(scene, poses, np.random.default_rng([int(seed), SCENE_KINDS.index(kind), 4242]), close_up, near)
    return render_views(scene, Intrinsics(focal, focal, (w - 1) / 2.0, (h - 1) / 2.0, w, h), poses)


def draw_focal(rng: np.random.Generator, focal_range: tuple[float, float], sampling: str = "log") -> float:
    """One focal length from ``focal_range``: "log" = log-uniform (as many views per octave of
    focal), "inverse" = uniform in ``1 / f`` (in the tangent of the half field of view; more wide
    views: 47% below 500 px in 300-2000 px, against 27% log-uniform)."""
    _check_choice("focal_sampling", sampling, FOCAL_SAMPLING)
    lo, hi = focal_range
    if sampling == "inverse":
        return float(1.0 / rng.uniform(1.0 / hi, 1.0 / lo))
    return float(np.exp(rng.uniform(math.log(lo), math.log(hi))))


def render_depth_set(
    scenes: int,
    frames_per_scene: int,
    image_size: tuple[int, int],
    focal_range: tuple[float, float] | None = None,
    focals: list[float] | None = None,
    kinds: tuple[str, ...] = KINDS,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    close_up: float = 0.0,
    near: float = 0.3,
    level: dict | None = None,
    mixed: bool = False,
    focal_sampling: str = "log",
) -> SynthDepthSet:
    """Render ``scenes`` clips (scene seeds from ``seed * 100003 + 1`` on, skipping seeds whose
    scene has no free-space camera path), focal drawn from ``focal_range`` (``focal_sampling``:
    "log" = log-uniform, "inverse" = uniform in 1 / f) or cycling through ``focals``; ``close_up`` > 0 moves that fraction of
    the views closer (:func:`dolly_poses`); ``level`` = ``{"height": m, "tilt_deg": deg}`` renders
    :func:`level_poses` views instead; ``mixed``: only every other scene (even ``i``) gets them,
    the others hand-held camera paths."""
    from see3d.io.images import to_uint8

    rng = np.random.default_rng([seed, 17])
    rgbs, depths, fs, ks = [], [], [], []
    scene_seed = seed * 100003
    for i in range(scenes):
        kind = kinds[i % len(kinds)]
        if focals is not None:
            f = float(focals[i % len(focals)])
        else:
            f = draw_focal(rng, focal_range, focal_sampling)
        for _ in range(20):  # a few scenes have no free-space camera path: take the next seed
            scene_seed += 1
            try:
                lv = None if (mixed and i % 2 == 1) else level
                clip = _render_views_at(scene_seed, kind, frames_per_scene, tuple(image_size), f, close_up, near, lv)
                break
            except See3DError:
                continue
        else:
            raise See3DError(f"could not render a {kind} scene near seed {scene_seed}")
        d = np.where(np.isfinite(clip.depth), clip.depth, 0.0).astype(np.float32)
        rgbs.append(to_uint8(clip.rgb))
        depths.append(d.astype(np.float16))  # half the memory; 1e-3 relative precision
        fs += [f] * len(d)
        ks += [kind] * len(d)
        if progress is not None:
            progress(i + 1, scenes)
    return SynthDepthSet(np.concatenate(rgbs), np.concatenate(depths), np.asarray(fs), ks)


def level_options(cfg: DepthTrainConfig) -> dict | None:
    """The ``level`` argument of :func:`render_depth_set` for a config (None for camera paths)."""
    return {"height": cfg.eye_height, "tilt_deg": cfg.tilt_deg, "plain_ground": cfg.plain_ground} if cfg.camera != "path" else None


def _load_or_render(cfg: DepthTrainConfig, run: Path, log: Callable[[str], None]) -> SynthDepthSet:
    cache = run / "data.npz"
    key = json.dumps(cfg.data_key(), sort_keys=True)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key:
                log(f"data: loaded {len(z['focal'])} cached images from {cache.name}")
                return SynthDepthSet(z["rgb"], z["depth"], z["focal"], list(z["kind"]))
    t0 = time.perf_counter()
    step = max(1, cfg.scenes // 10)
    data = render_depth_set(
        cfg.scenes,
        cfg.frames_per_scene,
        cfg.render_size,
        cfg.focal_range,
        kinds=cfg.kinds,
        seed=cfg.seed,
        progress=lambda i, n: log(f"data: rendered {i}/{n} scenes") if i % step == 0 else None,
        close_up=cfg.close_up,
        near=cfg.near,
        level=None if cfg.camera == "path" else {**level_options(cfg), **({"side_objects": cfg.side_objects} if cfg.side_objects else {})},
        mixed=cfg.camera == "mixed",
        focal_sampling=cfg.focal_sampling,
    )
    from see3d.io.atomic import atomic_file

    with atomic_file(cache) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, rgb=data.rgb, depth=data.depth, focal=data.focal, kind=np.asarray(data.kind), key=np.asarray(key))
    log(f"data: rendered {len(data)} images in {time.perf_counter() - t0:.0f} s")
    return data


def make_batch(
    data: SynthDepthSet, idx: np.ndarray, cfg: DepthTrainConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised images ``[B, 3, H, W]`` and labels ``[B, H, W]`` (canonical or metric; -1 invalid)."""
    xs, ys = [], []
    for i in idx:
        k = data.intrinsics(int(i))
        s = cano.training_sample(
            data.rgb[i],
            data.depth[i].astype(np.float32),
            k,
            cfg.crop or cfg.image_size,
            rng,
            variant=cfg.variant,
            resize_range=cfg.resize_range,
            base_scale=cano.fit_scale(k.height, k.width, cfg.image_size) if cfg.crop else None,
            centred=cfg.resize_centred,
        )
        x, y = s.image, s.label
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)


def median_label(data: SynthDepthSet, cfg: DepthTrainConfig) -> float:
    """Median valid label (canonical with the fit-resize, or metric) over every 4th training image."""
    vals = []
    for i in range(0, len(data), 4):
        d = data.depth[i].astype(np.float32)
        d = d[d > 0]
        if cfg.variant == "label":
            k = data.intrinsics(i)
            d = cano.to_canonical(d, k.fx * cano.fit_scale(k.height, k.width, cfg.image_size))
        elif cfg.variant == "image":
            pass  # image resized to the canonical focal: labels stay metric
        vals.append(d[::7])
    return float(np.median(np.concatenate(vals)))


def log_depth_loss(log_pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Mean ``|ln pred - ln label|`` over pixels with a positive label (``log_pred [B, 1, H, W]``)."""
    valid = label > 0
    if not valid.any():
        return log_pred.sum() * 0.0
    return (log_pred[:, 0][valid] - torch.log(label[valid])).abs().mean()


def depth_loss(log_pred: torch.Tensor, label: torch.Tensor, kind: str = "log_l1") -> torch.Tensor:
    """The training loss over pixels with a positive label: ``"log_l1"`` = :func:`log_depth_loss`;
    ``"log_l1+abs_rel"`` adds the mean ``|pred / label - 1|`` (AbsRel per pixel). For a pixel the
    network cannot place, log-L1 alone is minimised by the median of the possible depths; the
    AbsRel term moves the optimum towards the near ones (an over-prediction by ``k`` costs
    ``k - 1``, an under-prediction at most 1), and its gradient grows with the over-prediction.
    The log-L1 term keeps a unit gradient where the AbsRel term's vanishes (strong under-prediction)."""
    _check_choice("loss", kind, LOSSES)
    loss = log_depth_loss(log_pred, label)
    if kind == "log_l1+abs_rel":
        valid = label > 0
        if valid.any():
            loss = loss + (torch.exp(log_pred[:, 0][valid] - torch.log(label[valid])) - 1.0).abs().mean()
    return loss


def _lr(cfg: DepthTrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 1e-5 + (cfg.lr - 1e-5) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))


def _same_config(stored: str | None, current: str) -> bool:
    """Resume check: fields a checkpoint predates count as their (backwards compatible) defaults."""
    if stored is None:
        return False
    try:
        old, new = json.loads(stored), json.loads(current)
    except json.JSONDecodeError:
        return False
    defaults = json.loads(json.dumps(asdict(DepthTrainConfig()), default=list))
    old = {**{k: defaults[k] for k in new if k not in old and k in defaults}, **old}
    return old == new


def _check_run_folder(run: Path, ck: Path) -> None:
    """A training run folder is new, empty, or one of ``train depth``'s own (never another kind)."""
    if run.exists() and not run.is_dir():
        raise See3DError(f"run folder {run} is a file")
    if not run.is_dir() or not any(run.iterdir()):
        return
    cfg_file = run / "train_config.json"
    if ck.is_file() or (cfg_file.is_file() and "variant" in _read_json(cfg_file)):
        return
    raise See3DError(f"{run} is not a `see3d train depth` run folder (no checkpoint.pt or depth train_config.json); choose a new or empty folder")


def _read_json(path: Path) -> dict:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


_STEP_ROW = re.compile(r" step (\d+)/\d+ ")


def _truncate_train_log(path: Path, step: int) -> None:
    """Drop the log's step rows after ``step`` (written after the checkpoint a resumed run starts from)."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = [ln for ln in lines if not ((m := _STEP_ROW.search(ln)) and int(m.group(1)) > step)]
    if len(keep) != len(lines):
        from see3d.io.atomic import atomic_file

        with atomic_file(path) as tmp:
            tmp.write_text("".join(keep))


def train_depth(
    cfg: DepthTrainConfig,
    run_dir: str | Path,
    on_log: Callable[[str], None] | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Train (or resume) in ``run_dir``; returns the folder of the final model (``run_dir/model``)."""
    run = Path(run_dir)
    cfg_json = json.dumps(asdict(cfg), sort_keys=True, default=list)
    # what must match to resume (the step budget and logging may change between runs)
    resume_key = json.dumps({k: v for k, v in asdict(cfg).items() if k not in ("steps", "threads", "log_every", "checkpoint_every")}, sort_keys=True, default=list)
    # ---- every check before anything is written: the network's size, the run folder, the checkpoint
    TinyDepthConfig(channels=cfg.channels, input_size=cfg.image_size, variant=cfg.variant)
    ck = run / "checkpoint.pt"
    _check_run_folder(run, ck)
    state = None
    if ck.is_file():
        try:
            state = torch.load(ck, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated or foreign file
            raise See3DError(f"cannot read the checkpoint {ck} ({type(e).__name__}); remove it to start over") from None
        if not _same_config(state.get("config"), resume_key):
            raise See3DError(f"{ck} was written by a different training config; use a new run folder")
    run.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    if state is not None:  # the log keeps the rows up to the checkpoint: a resumed run does not repeat them
        _truncate_train_log(run / "train.log", int(state["step"]))
    logf = open(run / "train.log", "a")

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        logf.write(line + "\n")
        logf.flush()
        if on_log is not None:
            on_log(line)

    (run / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2, default=list))
    data = _load_or_render(cfg, run, log)
    torch.manual_seed(cfg.seed)
    extra = {}
    if cfg.init_from_data:
        extra["init_depth"] = median_label(data, cfg)
        log(f"output bias starts at the median training label {extra['init_depth']:.3f} m")
    tcfg = TinyDepthConfig(
        **extra,
        channels=cfg.channels,
        input_size=cfg.image_size,
        variant=cfg.variant,
        global_scale=cfg.global_scale,
        norm=cfg.norm,
        coord=cfg.coord,
        training={"command": "see3d train depth", "config": json.loads(cfg_json)},
    )
    model = TinyDepthNet(tcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        step = int(state["step"])
        log(f"resumed at step {step}")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f} M parameters, variant={cfg.variant}, data {len(data)} images")
    model.train()
    t0, losses = time.perf_counter(), []
    while step < cfg.steps:
        rng = np.random.default_rng([cfg.seed, step])  # per-step stream: resuming gives the same batches
        idx = rng.integers(0, len(data), cfg.batch)
        x, y = make_batch(data, idx, cfg, rng)
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        loss = depth_loss(model.log_depth(x), y, cfg.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        last_loss = loss.item()
        losses.append(last_loss)
        if step % cfg.log_every == 0 or step == cfg.steps:
            dt = time.perf_counter() - t0
            log(f"step {step}/{cfg.steps} loss {np.mean(losses):.4f} lr {_lr(cfg, step - 1):.2e} {dt / len(losses):.2f} s/step")
            losses, t0 = [], time.perf_counter()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            from see3d.io.atomic import atomic_file

            with atomic_file(ck) as tmp:
                torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "config": resume_key}, tmp)
        if on_step is not None:  # after the checkpoint: an exception here loses nothing
            on_step(step, cfg.steps, last_loss)
    model.eval()
    model.save_pretrained(run / "model")
    log(f"saved {run / 'model'}")
    logf.close()
    return run / "model"


def export_bundled(model_dir: str | Path, weights_path: str | Path) -> None:
    """Write a trained model as one ``.safetensors`` file plus its ``.json`` config beside it."""
    import shutil

    from see3d.io.atomic import atomic_file

    model_dir, weights_path = Path(model_dir), Path(weights_path)
    TinyDepthNet.from_pretrained(model_dir)  # validates
    with atomic_file(weights_path) as tmp:
        shutil.copyfile(model_dir / "model.safetensors", tmp)
    with atomic_file(weights_path.with_suffix(".json")) as tmp:
        shutil.copyfile(model_dir / "config.json", tmp)
    for f in (weights_path, weights_path.with_suffix(".json")):
        f.chmod(0o644)  # package data: readable by everyone (temporary files start as 0600)


# ----------------------------------------------------------------------------- synth evaluation
def evaluate_on_synth(
    predict: Callable[[np.ndarray, Intrinsics], np.ndarray] | dict[str, Callable[[np.ndarray, Intrinsics], np.ndarray]],
    focals: list[float],
    scenes: int = 30,
    frames_per_scene: int = 1,
    image_size: tuple[int, int] = (192, 256),
    kinds: tuple[str, ...] = KINDS,
    seed: int = 9999,
    close_up: float = 0.0,
    near: float = 0.3,
    level: dict | None = None,
) -> dict:
    """AbsRel / delta1 (etc.) per focal on held-out scenes (seed ``seed`` is never used in training
    unless a training run picks the same one). Each focal sees the same scenes and camera paths
    (``close_up``/``near``: the same close-up moves, :func:`dolly_poses`; ``level``: fixed-height
    near-horizontal views, :func:`level_poses`).

    ``predict``: one callable -> ``{focal: metrics}``; a dict of named callables -> ``{name: {focal:
    metrics}}`` (every model on the same renders, rendered once)."""
    from see3d.eval.depth import METRICS, depth_metrics

    many = isinstance(predict, dict)
    preds = predict if many else {"": predict}
    out: dict[str, dict[float, dict[str, float]]] = {k: {} for k in preds}
    for f in focals:
        data = render_depth_set(scenes, frames_per_scene, image_size, focals=[f], kinds=kinds, seed=seed, close_up=close_up, near=near, level=level)
        rows: dict[str, list] = {k: [] for k in preds}
        for i in range(len(data)):
            gt = data.depth[i].astype(np.float32)
            mask = (gt > 0.1) & (gt < 200.0)
            if mask.sum() < 10:
                continue
            for k, fn in preds.items():
                rows[k].append(depth_metrics(fn(data.rgb[i], data.intrinsics(i)), gt, mask))
        for k in preds:
            out[k][float(f)] = {m: float(np.mean([r[m] for r in rows[k]])) for m in METRICS}
    return out if many else out[""]
