"""Procedural scenes with a realistic metric scale: rooms and objects on a ground plane.

**World frame.** Metres; ``y`` points *down* (gravity), so the floor / ground
is the plane ``y = 0`` and a point 1.5 m above the floor has ``y = -1.5``.  This
matches :func:`see3d.camera.look_at`'s default ``up = (0, -1, 0)``: a camera
built with it shows the scene upright.

**Primitives** (all analytic, with a local frame ``rot`` (local -> world) and
``center``):

- ``BOX``: solid box with half extents ``half``;
- ``ROOM``: the inside of a box (the renderer sees its walls from within);
- ``SPHERE``: radius ``half[0]``;
- ``CYLINDER``: along the local ``y`` axis, radius ``half[0]``, half height ``half[1]``.

Each primitive has a material per face (``face = 2 * axis + (1 if the face is on
the + side)``; spheres use face 0, cylinder sides face 0 and caps faces 2 / 3).
Materials map a texture at a **fixed physical scale**: ``tile`` metres per
texture repeat (``0`` = stretch the texture once over the face, for posters),
so the texture frequency in the image is a depth cue.

Sizes follow real rooms: width and depth 3-8 m, height 2.4-3.2 m, tables
0.72-0.78 m high and 0.6-2 m wide, doors 0.9 x 2.0 m, spheres 0.1-0.6 m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from see3d.errors import See3DError
from see3d.synth.textures import texture_bank

BOX, ROOM, SPHERE, CYLINDER = 0, 1, 2, 3
SCENE_KINDS = ("room", "objects", "street")

#: World direction that appears *up* in an upright image (``y`` is down).
UP = np.array([0.0, -1.0, 0.0])


@dataclass(frozen=True)
class Material:
    """A texture at a physical scale, tinted.

    ``tile`` metres per texture repeat (0 = fit once to the face);
    ``swap`` exchanges the texture axes (e.g. bricks lying horizontally);
    ``offset`` shifts the texture (in repeats) so neighbouring objects differ.
    """

    texture: str
    tile: float
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    swap: bool = False
    offset: tuple[float, float] = (0.0, 0.0)


@dataclass
class Scene:
    """A static scene of analytic primitives, lights and materials (see the module doc).

    ``bounds`` is ``[2, 3]`` (min, max corner) of the region where cameras may be
    placed; ``content`` ``[K, 3]`` holds points worth looking at (object centres);
    ``facts`` records the sampled sizes (e.g. ``room_size`` = width, height, depth).
    """

    kind: str
    seed: int
    ptype: np.ndarray  #: int32 [P]
    center: np.ndarray  #: float64 [P, 3]
    rot: np.ndarray  #: float64 [P, 3, 3] local -> world
    half: np.ndarray  #: float64 [P, 3]
    face_mat: np.ndarray  #: int32 [P, 6]
    labels: list[str]  #: [P] what each primitive is ("wall", "table", ...)
    materials: list[Material]
    bounds: np.ndarray  #: float64 [2, 3]
    content: np.ndarray  #: float64 [K, 3]
    light_pos: np.ndarray | None  #: point light (rooms) or None
    sun_dir: np.ndarray  #: unit vector *towards* the distant light
    ambient: float = 0.35
    point_power: float = 0.0
    sun_power: float = 0.0
    facts: dict = field(default_factory=dict)
    #: colour and exposure of the light (multiplies the shading; white balance varies per scene)
    light_color: np.ndarray = field(default_factory=lambda: np.ones(3))

    # ------------------------------------------------------------ derived arrays
    @property
    def n_primitives(self) -> int:
        return int(self.ptype.shape[0])

    def bound_radius(self) -> np.ndarray:
        """Radius of a sphere around each primitive (inf for rooms)."""
        r = np.linalg.norm(self.half, axis=1)
        r[self.ptype == SPHERE] = self.half[self.ptype == SPHERE, 0]
        cyl = self.ptype == CYLINDER
        r[cyl] = np.hypot(self.half[cyl, 0], self.half[cyl, 1])
        r[self.ptype == ROOM] = np.inf
        return r

    def material_arrays(self) -> dict[str, np.ndarray]:
        """Materials as arrays: ``tex`` int, ``tile`` float, ``tint`` [M, 3], ``swap`` bool, ``offset`` [M, 2]."""
        bank = texture_bank()
        return {
            "tex": np.array([bank.index(m.texture) for m in self.materials], np.int64),
            "tile": np.array([m.tile for m in self.materials], np.float64),
            "tint": np.array([m.tint for m in self.materials], np.float32),
            "swap": np.array([m.swap for m in self.materials], bool),
            "offset": np.array([m.offset for m in self.materials], np.float64),
        }

    # ------------------------------------------------------------ geometry queries
    def clearance(self, points: np.ndarray) -> np.ndarray:
        """Distance from each point ``[..., 3]`` to the nearest surface (negative inside solids / outside the room)."""
        pts = np.asarray(points, dtype=np.float64)
        flat = pts.reshape(-1, 3)
        best = np.full(flat.shape[0], np.inf)
        for p in range(self.n_primitives):
            local = (flat - self.center[p]) @ self.rot[p]  # R^T (x - c)
            h = self.half[p]
            t = self.ptype[p]
            if t in (BOX, ROOM):
                q = np.abs(local) - h
                outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
                sd = outside + np.minimum(q.max(axis=1), 0.0)
                if t == ROOM:
                    sd = -sd
            elif t == SPHERE:
                sd = np.linalg.norm(local, axis=1) - h[0]
            else:
                dr = np.hypot(local[:, 0], local[:, 2]) - h[0]
                dy = np.abs(local[:, 1]) - h[1]
                q = np.stack([dr, dy], axis=1)
                sd = np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)
            best = np.minimum(best, sd)
        return best.reshape(pts.shape[:-1])

    def is_free(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """True where a point is in free space at least ``margin`` from every surface."""
        return self.clearance(points) >= margin


# ---------------------------------------------------------------- scene builder
def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


class _Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.ptype: list[int] = []
        self.center: list[np.ndarray] = []
        self.rot: list[np.ndarray] = []
        self.half: list[np.ndarray] = []
        self.face_mat: list[list[int]] = []
        self.labels: list[str] = []
        self.materials: list[Material] = []
        self.content: list[np.ndarray] = []
        self.footprints: list[tuple[float, float, float, float]] = []  # xz AABBs of floor items
        self.wall_rects: list[tuple[int, float, float, float, float]] = []  # (wall, along0, along1, h0, h1)

    def material(self, m: Material) -> int:
        self.materials.append(m)
        return len(self.materials) - 1

    def add(self, ptype, center, half, mats, label, rot=None) -> None:
        if isinstance(mats, int):
            mats = [mats] * 6
        self.ptype.append(ptype)
        self.center.append(np.asarray(center, np.float64))
        self.half.append(np.asarray(half, np.float64))
        self.rot.append(np.eye(3) if rot is None else np.asarray(rot, np.float64))
        self.face_mat.append(list(mats))
        self.labels.append(label)

    # parts given in an item frame (origin on the floor, y down), placed by yaw + position
    def add_part(self, frame, ptype, local_center, half, mats, label) -> None:
        R, t = frame
        self.add(ptype, t + R @ np.asarray(local_center, np.float64), half, mats, label, rot=R)

    def fits(self, box: tuple[float, float, float, float], margin: float = 0.05) -> bool:
        x0, x1, z0, z1 = box
        for a0, a1, b0, b1 in self.footprints:
            if x0 < a1 + margin and a0 < x1 + margin and z0 < b1 + margin and b0 < z1 + margin:
                return False
        return True

    def wall_free(self, wall: int, a0: float, a1: float, h0: float, h1: float, margin: float = 0.1) -> bool:
        for w, b0, b1, g0, g1 in self.wall_rects:
            if w == wall and a0 < b1 + margin and b0 < a1 + margin and h0 < g1 + margin and g0 < h1 + margin:
                return False
        return True

    def build(self, kind, seed, bounds, light_pos, sun_dir, ambient, point_power, sun_power, facts) -> Scene:
        # white balance from warm (~3000 K) to cool (~6500 K) and an exposure of 0.85-1.2
        warmth = self.rng.uniform(-1.0, 1.0) if kind == "room" else self.rng.uniform(-0.6, 0.4)
        tint = np.array([1.0 + 0.08 * warmth, 1.0, 1.0 - 0.15 * warmth])
        light_color = self.rng.uniform(0.85, 1.2) * tint / tint.mean()
        return Scene(
            kind=kind,
            seed=seed,
            ptype=np.array(self.ptype, np.int32),
            center=np.array(self.center, np.float64),
            rot=np.array(self.rot, np.float64),
            half=np.array(self.half, np.float64),
            face_mat=np.array(self.face_mat, np.int32),
            labels=list(self.labels),
            materials=list(self.materials),
            bounds=np.asarray(bounds, np.float64),
            content=np.array(self.content, np.float64).reshape(-1, 3),
            light_pos=None if light_pos is None else np.asarray(light_pos, np.float64),
            sun_dir=np.asarray(sun_dir, np.float64) / np.linalg.norm(sun_dir),
            ambient=ambient,
            point_power=point_power,
            sun_power=sun_power,
            facts={**facts, "light_color": [float(x) for x in light_color]},
            light_color=light_color,
        )


# ---------------------------------------------------------------- materials
def _tint(rng, base, spread=0.12) -> tuple[float, float, float]:
    c = np.clip(np.asarray(base) * (1.0 + rng.uniform(-spread, spread, 3)), 0.05, 1.0)
    return tuple(float(x) for x in c)


def _off(rng) -> tuple[float, float]:
    return (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))


def _wall_material(rng) -> Material:
    k = rng.integers(5)
    if k == 4:  # painted plaster
        return Material("plaster", float(rng.uniform(1.0, 2.0)), _tint(rng, rng.uniform(0.6, 1.0, 3)), offset=_off(rng))
    if k == 0:  # brick: the photo spans 0.8 m with ~4 brick lengths (~0.2 m each); lay them flat
        return Material("brick", 0.8, _tint(rng, (0.85, 0.5, 0.4)), swap=True, offset=_off(rng))
    if k == 1:  # plaster
        return Material("noise", float(rng.uniform(1.0, 2.0)), _tint(rng, rng.uniform(0.6, 0.95, 3)), offset=_off(rng))
    if k == 2:  # wallpaper stripes, 8 stripes per repeat
        return Material("stripes", float(rng.uniform(0.3, 0.8)), _tint(rng, rng.uniform(0.5, 0.95, 3)), offset=_off(rng))
    return Material("fine_noise", float(rng.uniform(0.4, 0.8)), _tint(rng, rng.uniform(0.55, 0.95, 3)), offset=_off(rng))


def _floor_material(rng) -> Material:
    k = rng.integers(4)
    if k == 0:  # 4 planks per repeat, planks 0.12-0.25 m wide
        return Material("wood", float(4 * rng.uniform(0.12, 0.25)), _tint(rng, (0.8, 0.55, 0.35)), offset=_off(rng))
    if k == 1:  # 2 x 2 tiles per repeat, tiles 0.3-0.6 m
        return Material("tiles", float(2 * rng.uniform(0.3, 0.6)), _tint(rng, rng.uniform(0.6, 1.0, 3)), offset=_off(rng))
    if k == 2:
        return Material("checker", float(2 * rng.uniform(0.3, 0.6)), _tint(rng, rng.uniform(0.6, 1.0, 3)), offset=_off(rng))
    return Material("fabric", float(rng.uniform(0.4, 0.8)), _tint(rng, rng.uniform(0.35, 0.8, 3)), offset=_off(rng))


def _object_material(rng, photo_p: float = 0.45) -> Material:
    """Furniture / object surfaces: real photographs tiled at ~0.3-1 m, wood, or patterns."""
    if rng.uniform() < photo_p:
        name = str(rng.choice(["astronaut", "coffee", "chelsea", "rocket", "ihc", "retina", "camera", "coins", "hubble", "gravel", "grass"]))
        return Material(name, float(rng.uniform(0.3, 1.0)), _tint(rng, (1.0, 1.0, 1.0), 0.1), offset=_off(rng))
    k = rng.integers(4)
    if k == 0:
        return Material("wood", float(rng.uniform(0.6, 1.0)), _tint(rng, rng.uniform([0.5, 0.3, 0.15], [0.95, 0.7, 0.5])), offset=_off(rng))
    if k == 1:
        return Material("checker", float(rng.uniform(0.1, 0.4)), _tint(rng, rng.uniform(0.3, 1.0, 3)), offset=_off(rng))
    if k == 2:
        return Material("stripes", float(rng.uniform(0.2, 0.6)), _tint(rng, rng.uniform(0.3, 1.0, 3)), offset=_off(rng))
    return Material("fabric", float(rng.uniform(0.3, 0.6)), _tint(rng, rng.uniform(0.3, 1.0, 3)), offset=_off(rng))


POSTER_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble", "ihc", "colorwheel", "retina", "camera", "moon", "coins", "clock", "text", "page")


# ---------------------------------------------------------------- furniture (item frame: x width, z depth, front = -z)
def _table(b: _Builder, frame, w, d, h, mat, leg_mat, items=True):
    top = 0.04
    b.add_part(frame, BOX, (0, -(h - top / 2), 0), (w / 2, top / 2, d / 2), mat, "table")
    leg = 0.05
    for sx in (-1, 1):
        for sz in (-1, 1):
            b.add_part(frame, BOX, (sx * (w / 2 - leg), -(h - top) / 2, sz * (d / 2 - leg)), (leg / 2, (h - top) / 2, leg / 2), leg_mat, "table")
    if items:
        rng = b.rng
        for _ in range(rng.integers(0, 3)):
            x = rng.uniform(-w / 2 + 0.2, w / 2 - 0.2)
            z = rng.uniform(-d / 2 + 0.15, d / 2 - 0.15)
            m = b.material(_object_material(rng, 0.6))
            if rng.uniform() < 0.5:
                r = rng.uniform(0.1, 0.15)
                b.add_part(frame, SPHERE, (x, -h - r, z), (r, r, r), m, "sphere")
            else:
                r, hh = rng.uniform(0.04, 0.1), rng.uniform(0.07, 0.2)
                b.add_part(frame, CYLINDER, (x, -h - hh, z), (r, hh, r), m, "vase")
    R, t = frame
    b.content.append(t + R @ np.array([0.0, -h, 0.0]))


def _cabinet(b, frame, w, d, h, mat):
    b.add_part(frame, BOX, (0, -h / 2, 0), (w / 2, h / 2, d / 2), mat, "cabinet")
    R, t = frame
    b.content.append(t + R @ np.array([0.0, -h / 2, 0.0]))


def _bed(b, frame, w, d, h, mat, head_mat):
    b.add_part(frame, BOX, (0, -h / 2, 0), (w / 2, h / 2, d / 2), mat, "bed")
    hb_h = b.rng.uniform(0.9, 1.1)
    b.add_part(frame, BOX, (0, -hb_h / 2, d / 2 - 0.03), (w / 2, hb_h / 2, 0.03), head_mat, "bed")
    pillow = b.material(_object_material(b.rng, 0.3))
    b.add_part(frame, BOX, (0, -h - 0.06, d / 2 - 0.3), (w / 2 - 0.15, 0.06, 0.2), pillow, "pillow")
    R, t = frame
    b.content.append(t + R @ np.array([0.0, -h, 0.0]))


def _sofa(b, frame, w, d, mat):
    seat_h, back_h, arm_w = 0.42, 0.85, 0.15
    b.add_part(frame, BOX, (0, -seat_h / 2, -0.05), (w / 2 - arm_w, seat_h / 2, d / 2 - 0.05), mat, "sofa")
    b.add_part(frame, BOX, (0, -back_h / 2, d / 2 - 0.1), (w / 2, back_h / 2, 0.1), mat, "sofa")
    for sx in (-1, 1):
        b.add_part(frame, BOX, (sx * (w / 2 - arm_w / 2), -0.3, 0), (arm_w / 2, 0.3, d / 2), mat, "sofa")
    R, t = frame
    b.content.append(t + R @ np.array([0.0, -seat_h, 0.0]))


def _chair(b, frame, mat):
    s, h = 0.45, 0.45
    b.add_part(frame, BOX, (0, -h + 0.02, 0), (s / 2, 0.02, s / 2), mat, "chair")
    for sx in (-1, 1):
        for sz in (-1, 1):
            b.add_part(frame, BOX, (sx * (s / 2 - 0.03), -(h - 0.04) / 2, sz * (s / 2 - 0.03)), (0.02, (h - 0.04) / 2, 0.02), mat, "chair")
    b.add_part(frame, BOX, (0, -h - 0.22, s / 2 - 0.02), (s / 2, 0.22, 0.02), mat, "chair")


def _lamp(b, frame, mat, shade_mat):
    h = b.rng.uniform(1.4, 1.7)
    b.add_part(frame, CYLINDER, (0, -0.015, 0), (0.15, 0.015, 0.15), mat, "lamp")
    b.add_part(frame, CYLINDER, (0, -h / 2, 0), (0.015, h / 2, 0.015), mat, "lamp")
    b.add_part(frame, CYLINDER, (0, -h - 0.12, 0), (0.2, 0.15, 0.2), shade_mat, "lamp")
    R, t = frame
    b.content.append(t + R @ np.array([0.0, -h, 0.0]))


def _plant(b, frame, pot_mat, leaf_mat):
    r = b.rng.uniform(0.12, 0.22)
    h = b.rng.uniform(0.3, 0.5)
    b.add_part(frame, CYLINDER, (0, -h / 2, 0), (r, h / 2, r), pot_mat, "plant")
    f = b.rng.uniform(0.25, 0.4)
    b.add_part(frame, SPHERE, (0, -h - f * 0.8, 0), (f, f, f), leaf_mat, "plant")
    R, t = frame
    b.content.append(t + R @ np.array([0.0, -h - f, 0.0]))


def _frame_at(x, z, yaw) -> tuple[np.ndarray, np.ndarray]:
    return _rot_y(yaw), np.array([x, 0.0, z])


def _footprint(x, z, yaw, w, d) -> tuple[float, float, float, float]:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    ex, ez = 0.5 * (w * c + d * s), 0.5 * (w * s + d * c)
    return (x - ex, x + ex, z - ez, z + ez)


# Walls of a room centred at the origin: (yaw that turns an item's back (+z) to the wall, axis along the wall)
def _wall_pose(wall: int, W: float, D: float, along: float, depth: float, gap: float = 0.03):
    """Item frame with its back against ``wall`` (0: -x, 1: +x, 2: -z, 3: +z), centred ``along`` the wall."""
    if wall == 0:
        return -math.pi / 2, -W / 2 + gap + depth / 2, along
    if wall == 1:
        return math.pi / 2, W / 2 - gap - depth / 2, along
    if wall == 2:
        return math.pi, along, -D / 2 + gap + depth / 2
    return 0.0, along, D / 2 - gap - depth / 2


def _wall_length(wall: int, W: float, D: float) -> float:
    return D if wall < 2 else W


def _make_room(seed: int, rng: np.random.Generator) -> Scene:
    b = _Builder(rng)
    W, D, H = rng.uniform(3.0, 8.0), rng.uniform(3.0, 8.0), rng.uniform(2.4, 3.2)
    wall = b.material(_wall_material(rng))
    accent = b.material(_wall_material(rng)) if rng.uniform() < 0.3 else wall
    floor = b.material(_floor_material(rng))
    ceiling = b.material(Material("plaster", 1.5, _tint(rng, (0.95, 0.95, 0.92), 0.04), offset=_off(rng)))
    walls = [wall, wall, ceiling, floor, wall, wall]
    walls[int(rng.choice([0, 1, 4, 5]))] = accent
    b.add(ROOM, (0.0, -H / 2, 0.0), (W / 2, H / 2, D / 2), walls, "room")

    # doors: 0.9 x 2.0 m, thin boxes on the walls, with the floor in front kept clear
    door_mat = b.material(_object_material(rng, 0.0))
    for _ in range(int(rng.integers(1, 3))):
        wl = int(rng.integers(4))
        L = _wall_length(wl, W, D)
        along = rng.uniform(-L / 2 + 0.6, L / 2 - 0.6)
        yaw, x, z = _wall_pose(wl, W, D, along, 0.04, gap=-0.02)
        fp = _footprint(x, z, yaw, 0.9, 0.9)
        if not b.fits(fp, 0.1):
            continue
        b.add_part(_frame_at(x, z, yaw), BOX, (0, -1.0, 0), (0.45, 1.0, 0.02), door_mat, "door")
        b.footprints.append(fp)
        b.wall_rects.append((wl, along - 0.45, along + 0.45, 0.0, 2.0))
        b.content.append(np.array([x, -1.0, z]))

    # furniture against the walls
    area = W * D
    n_wall = int(np.clip(round(area / 8 + rng.uniform(0, 2)), 2, 7))
    for _ in range(n_wall * 4):
        if n_wall == 0:
            break
        kind = str(rng.choice(["cabinet", "cabinet", "bed", "sofa", "shelf", "table"]))
        if kind == "bed":
            w, d = rng.uniform(1.4, 1.8), rng.uniform(2.0, 2.1)
        elif kind == "sofa":
            w, d = rng.uniform(1.6, 2.2), rng.uniform(0.85, 0.95)
        elif kind == "shelf":
            w, d = rng.uniform(0.6, 1.2), rng.uniform(0.3, 0.4)
        elif kind == "table":
            w, d = rng.uniform(0.8, 2.0), rng.uniform(0.6, 0.9)
        else:
            w, d = rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.6)
        wl = int(rng.integers(4))
        L = _wall_length(wl, W, D)
        if w > L - 0.2:
            continue
        along = rng.uniform(-L / 2 + w / 2 + 0.05, L / 2 - w / 2 - 0.05)
        yaw, x, z = _wall_pose(wl, W, D, along, d)
        fp = _footprint(x, z, yaw, w, d)
        if not b.fits(fp):
            continue
        frame = _frame_at(x, z, yaw)
        m = b.material(_object_material(rng))
        if kind == "bed":
            _bed(b, frame, w, d, rng.uniform(0.45, 0.55), m, b.material(_object_material(rng, 0.0)))
        elif kind == "sofa":
            _sofa(b, frame, w, d, m)
        elif kind == "shelf":
            _cabinet(b, frame, w, d, rng.uniform(1.6, min(2.2, H - 0.2)), m)
        elif kind == "table":
            _table(b, frame, w, d, rng.uniform(0.72, 0.78), m, m)
        else:
            _cabinet(b, frame, w, d, rng.uniform(0.8, min(2.0, H - 0.2)), m)
        b.footprints.append(fp)
        n_wall -= 1

    # free-standing items, keeping a walkway: only in the outer part or small
    n_free = int(np.clip(round(area / 10 + rng.uniform(0, 2)), 1, 6))
    for _ in range(n_free * 4):
        if n_free == 0:
            break
        kind = str(rng.choice(["table", "chair", "lamp", "plant", "ball", "ball", "box"]))
        yaw = float(rng.uniform(-math.pi, math.pi))
        if kind == "table":
            w, d = rng.uniform(0.6, 1.6), rng.uniform(0.6, 1.0)
        elif kind == "chair":
            w = d = 0.5
        elif kind in ("lamp", "plant"):
            w = d = 0.5
        elif kind == "ball":
            r = rng.uniform(0.1, 0.6)
            w = d = 2 * r
        else:
            w, d = rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0)
        x = rng.uniform(-W / 2 + 0.2 + w / 2, W / 2 - 0.2 - w / 2) if W > w + 0.4 else None
        z = rng.uniform(-D / 2 + 0.2 + d / 2, D / 2 - 0.2 - d / 2) if D > d + 0.4 else None
        if x is None or z is None:
            continue
        fp = _footprint(x, z, yaw, w, d)
        if not b.fits(fp, 0.15):
            continue
        frame = _frame_at(x, z, yaw)
        m = b.material(_object_material(rng))
        if kind == "table":
            _table(b, frame, w, d, rng.uniform(0.72, 0.78), m, m)
        elif kind == "chair":
            _chair(b, frame, m)
        elif kind == "lamp":
            _lamp(b, frame, m, b.material(Material("fabric", 0.3, _tint(rng, (0.95, 0.9, 0.75), 0.05))))
        elif kind == "plant":
            leaf = b.material(Material("grass", float(rng.uniform(0.3, 0.6)), _tint(rng, (0.45, 0.8, 0.35)), offset=_off(rng)))
            _plant(b, frame, m, leaf)
        elif kind == "ball":
            b.add_part(frame, SPHERE, (0, -r, 0), (r, r, r), m, "sphere")
            b.content.append(np.array([x, -r, z]))
        else:
            h = rng.uniform(0.3, 1.0)
            _cabinet(b, frame, w, d, h, m)
        b.footprints.append(fp)
        n_free -= 1

    # rug (thin, on the floor; may pass under furniture)
    if rng.uniform() < 0.6:
        rw, rd = rng.uniform(1.0, min(2.5, W - 0.6)), rng.uniform(0.8, min(2.0, D - 0.6))
        rug = b.material(_object_material(rng, 0.3))
        b.add(BOX, (rng.uniform(-0.3, 0.3), -0.005, rng.uniform(-0.3, 0.3)), (rw / 2, 0.005, rd / 2), rug, "rug")

    # posters / paintings: real photographs at their aspect ratio, 0.4-1.2 m wide, on the walls
    bank = texture_bank()
    for _ in range(int(rng.integers(1, 5))):
        name = str(rng.choice(POSTER_PHOTOS))
        pw = rng.uniform(0.4, 1.2)
        ph = pw / bank.aspect[bank.index(name)]
        if ph > 1.2:
            ph = 1.2
            pw = ph * bank.aspect[bank.index(name)]
        fw = rng.uniform(0.03, 0.06) if rng.uniform() < 0.7 else 0.0  # picture frame width
        ow, oh = pw / 2 + fw, ph / 2 + fw  # outer half size
        for _try in range(6):  # a free spot on some wall, away from doors and other posters
            wl = int(rng.integers(4))
            L = _wall_length(wl, W, D)
            along = rng.uniform(-L / 2 + ow + 0.1, L / 2 - ow - 0.1)
            hc = min(rng.uniform(1.3, 1.8), H - oh - 0.1)  # centre height above the floor
            if b.wall_free(wl, along - ow, along + ow, hc - oh, hc + oh):
                break
        else:
            continue
        yaw, x, z = _wall_pose(wl, W, D, along, 0.03, gap=-0.01)  # 2 cm proud of the wall
        m = b.material(Material(name, 0.0))
        b.add_part(_frame_at(x, z, yaw), BOX, (0, -hc, 0), (pw / 2, ph / 2, 0.015), m, "poster")
        if fw > 0:
            yaw, fx_, fz_ = _wall_pose(wl, W, D, along, 0.02, gap=-0.01)  # 1 cm proud: a border around it
            frame_mat = b.material(_object_material(rng, 0.0))
            b.add_part(_frame_at(fx_, fz_, yaw), BOX, (0, -hc, 0), (ow, oh, 0.01), frame_mat, "frame")
        b.wall_rects.append((wl, along - ow, along + ow, hc - oh, hc + oh))
        b.content.append(np.array([x, -hc, z]))

    # baseboards along the walls (8 cm high, 1.5 cm deep)
    base = b.material(Material("plaster", 1.0, _tint(rng, rng.uniform(0.3, 1.0, 3), 0.05)))
    for sx, sz, hx, hz in ((-1, 0, 0.0075, D / 2), (1, 0, 0.0075, D / 2), (0, -1, W / 2, 0.0075), (0, 1, W / 2, 0.0075)):
        b.add(BOX, (sx * (W / 2 - 0.0075), -0.04, sz * (D / 2 - 0.0075)), (hx, 0.04, hz), base, "baseboard")

    light = np.array([rng.uniform(-W / 4, W / 4), -H + 0.3, rng.uniform(-D / 4, D / 4)])
    lr, lh = rng.uniform(0.15, 0.25), rng.uniform(0.05, 0.1)  # ceiling lamp above the light
    lamp = b.material(Material("plaster", 0.5, _tint(rng, (1.0, 0.97, 0.9), 0.03)))
    b.add(CYLINDER, (light[0], -H + lh, light[2]), (lr, lh, lr), lamp, "ceiling_lamp")
    sun = np.array([rng.uniform(-1, 1), -1.0, rng.uniform(-1, 1)])
    bounds = np.array([[-W / 2, -H, -D / 2], [W / 2, 0.0, D / 2]])
    facts = {"room_size": (float(W), float(H), float(D))}
    return b.build("room", seed, bounds, light, sun, ambient=0.4, point_power=0.75, sun_power=0.25, facts=facts)


def _make_objects(seed: int, rng: np.random.Generator, street: bool = False) -> Scene:
    b = _Builder(rng)
    R = 60.0
    if street:
        ground = b.material(Material("gravel", float(rng.uniform(0.4, 0.6)), _tint(rng, (0.55, 0.55, 0.55)), offset=_off(rng)))
    else:
        gk = rng.integers(3)
        ground = b.material(
            [
                Material("grass", float(rng.uniform(0.8, 1.2)), _tint(rng, (0.5, 0.75, 0.35)), offset=_off(rng)),
                Material("gravel", float(rng.uniform(0.4, 0.6)), _tint(rng, (0.8, 0.75, 0.65)), offset=_off(rng)),
                Material("tiles", float(2 * rng.uniform(0.4, 0.8)), _tint(rng, rng.uniform(0.6, 1.0, 3)), offset=_off(rng)),
            ][gk]
        )
    b.add(BOX, (0.0, 0.5, 0.0), (R, 0.5, R), ground, "ground")

    if street:
        # two rows of building facades along z, a street of width 8-14 m between them
        half_w = rng.uniform(4.0, 7.0)
        for side in (-1, 1):
            z = -40.0
            while z < 40.0:
                length = rng.uniform(6.0, 15.0)
                height = rng.uniform(6.0, 20.0)
                depth = rng.uniform(8.0, 12.0)
                m = b.material(_wall_material(rng))
                cx = side * (half_w + depth / 2 + rng.uniform(0.0, 1.0))
                b.add(BOX, (cx, -height / 2, z + length / 2), (depth / 2, height / 2, length / 2), m, "building")
                b.footprints.append((cx - depth / 2, cx + depth / 2, z, z + length))
                b.content.append(np.array([cx - side * depth / 2, -rng.uniform(1.0, 4.0), z + length / 2]))
                z += length + rng.uniform(0.0, 2.0)
        for _ in range(int(rng.integers(3, 8))):  # cars, poles
            z = rng.uniform(-25, 25)
            if rng.uniform() < 0.5:
                x = rng.choice([-1, 1]) * (half_w - 1.2)
                w, l, h = rng.uniform(1.6, 1.9), rng.uniform(3.8, 4.8), rng.uniform(1.3, 1.6)
                fp = (x - w / 2, x + w / 2, z - l / 2, z + l / 2)
                if b.fits(fp, 0.3):
                    m = b.material(_object_material(rng, 0.2))
                    b.add(BOX, (x, -0.55 / 2, z), (w / 2, 0.55 / 2 - 0.1, l / 2), m, "car")
                    b.add(BOX, (x, -0.45 - (h - 0.45) / 2, z - 0.2), (w / 2 - 0.1, (h - 0.45) / 2, l / 4 + 0.2), m, "car")
                    tyre = b.material(Material("fine_noise", 0.2, (0.12, 0.12, 0.12)))
                    wheel_rot = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # local y -> world x
                    for sx in (-1, 1):
                        for sz in (-1, 1):
                            b.add(CYLINDER, (x + sx * (w / 2 - 0.08), -0.3, z + sz * (l / 2 - 0.75)), (0.3, 0.1, 0.3), tyre, "car", rot=wheel_rot)
                    b.footprints.append(fp)
                    b.content.append(np.array([x, -h / 2, z]))
            else:
                x = rng.choice([-1, 1]) * (half_w - 0.3)
                fp = (x - 0.1, x + 0.1, z - 0.1, z + 0.1)
                if b.fits(fp, 0.3):
                    m = b.material(_object_material(rng, 0.0))
                    h = rng.uniform(3.0, 6.0)
                    b.add(CYLINDER, (x, -h / 2, z), (0.08, h / 2, 0.08), m, "pole")
                    b.content.append(np.array([x, -1.5, z]))
                    b.footprints.append(fp)
        bounds = np.array([[-half_w + 1.0, -2.0, -20.0], [half_w - 1.0, -1.2, 20.0]])
        facts = {"street_width": float(2 * half_w)}
    else:
        # objects within 4 m of the origin, distant large boxes as a backdrop
        n = int(rng.integers(6, 14))
        for _ in range(n * 4):
            if n == 0:
                break
            kind = str(rng.choice(["box", "box", "sphere", "cylinder", "table", "stack"]))
            ang, rad = rng.uniform(-math.pi, math.pi), math.sqrt(rng.uniform(0, 1)) * 4.0
            x, z = rad * math.cos(ang), rad * math.sin(ang)
            yaw = float(rng.uniform(-math.pi, math.pi))
            m = b.material(_object_material(rng, 0.6))
            if kind in ("box", "stack"):
                w, d, h = rng.uniform(0.3, 1.5, 3)
            elif kind == "sphere":
                r = rng.uniform(0.1, 0.6)
                w = d = 2 * r
            elif kind == "cylinder":
                r, hh = rng.uniform(0.1, 0.5), rng.uniform(0.15, 1.0)
                w = d = 2 * r
            else:
                w, d = rng.uniform(0.6, 2.0), rng.uniform(0.6, 1.0)
            fp = _footprint(x, z, yaw, w, d)
            if not b.fits(fp, 0.2):
                continue
            frame = _frame_at(x, z, yaw)
            if kind in ("box", "stack"):
                b.add_part(frame, BOX, (0, -h / 2, 0), (w / 2, h / 2, d / 2), m, "box")
                top = h
                if kind == "stack":
                    s = rng.uniform(0.2, 0.6) * min(w, d)
                    h2 = rng.uniform(0.2, 0.6)
                    b.add_part(frame, BOX, (0, -h - h2 / 2, 0), (s / 2, h2 / 2, s / 2), b.material(_object_material(rng, 0.6)), "box")
                    top += h2
                b.content.append(np.array([x, -top / 2, z]))
            elif kind == "sphere":
                lift = 0.0 if rng.uniform() < 0.8 else rng.uniform(0.2, 1.0)
                b.add_part(frame, SPHERE, (0, -r - lift, 0), (r, r, r), m, "sphere")
                b.content.append(np.array([x, -r - lift, z]))
            elif kind == "cylinder":
                b.add_part(frame, CYLINDER, (0, -hh, 0), (r, hh, r), m, "cylinder")
                b.content.append(np.array([x, -hh, z]))
            else:
                _table(b, frame, w, d, rng.uniform(0.72, 0.78), m, m)
            b.footprints.append(fp)
            n -= 1
        for _ in range(int(rng.integers(3, 8))):  # backdrop: buildings / rocks 12-40 m away
            ang, rad = rng.uniform(-math.pi, math.pi), rng.uniform(15.0, 45.0)
            w, d, h = rng.uniform(4.0, 15.0), rng.uniform(4.0, 15.0), rng.uniform(2.0, 10.0)
            m = b.material(_wall_material(rng))
            b.add(BOX, (rad * math.cos(ang), -h / 2, rad * math.sin(ang)), (w / 2, h / 2, d / 2), m, "backdrop", rot=_rot_y(rng.uniform(-math.pi, math.pi)))
        bounds = np.array([[-7.0, -2.0, -7.0], [7.0, -0.5, 7.0]])
        facts = {"objects_radius": 4.0}
    sun = np.array([math.cos(a := rng.uniform(-math.pi, math.pi)), -rng.uniform(0.6, 2.5), math.sin(a)])
    return b.build("street" if street else "objects", seed, bounds, None, sun, ambient=0.4, point_power=0.0, sun_power=0.7, facts=facts)


def make_scene(seed: int, kind: str = "room") -> Scene:
    """A random scene, identical for the same ``(seed, kind)``.

    ``kind``: ``"room"`` (closed indoor room with furniture, doors and posters),
    ``"objects"`` (objects on a ground plane, sky at infinity) or ``"street"``
    (facades along a street, cars and poles, sky at infinity).
    """
    if kind not in SCENE_KINDS:
        raise See3DError(f"unknown scene kind {kind!r}: use one of {', '.join(SCENE_KINDS)}")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise See3DError(f"scene seed must be an integer, got {seed!r}") from None
    if seed < 0:
        raise See3DError(f"scene seed must be non-negative, got {seed}")
    rng = np.random.default_rng([seed, SCENE_KINDS.index(kind)])
    if kind == "room":
        return _make_room(seed, rng)
    return _make_objects(seed, rng, street=kind == "street")
