"""First-hit ray casting against analytic primitives: a NumPy reference and a numba kernel.

A pixel ``(u, v)`` of a camera ``(intr, c2w)`` casts the ray ``o + t * d`` with
``o`` the camera centre and ``d = R @ [(u - cx) / fx, (v - cy) / fy, 1]`` (not
normalised), so ``t`` *is* the camera-frame depth (z) of the hit.  Both
implementations return, per pixel, ``t`` (``inf`` = nothing hit), the index of
the primitive hit (-1 = none) and the face hit (see :mod:`see3d.synth.scene`).

:func:`cast_rays_reference` is the specification: readable NumPy, one primitive
at a time over all rays.  :func:`cast_rays` is the fast path (a single-threaded
numba kernel per pixel over all primitives with a bounding-sphere early-out);
tests check the two agree.  Ties between primitives go to the lower index.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from see3d.camera.intrinsics import Intrinsics
from see3d.synth.scene import BOX, ROOM, SPHERE, Scene

#: Hits closer than this (metres of camera z) are ignored.
T_MIN = 1e-6
_EPS_D = 1e-15


def pixel_rays(intr: Intrinsics, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre ``[3]`` and per-pixel world directions ``[H, W, 3]`` with camera-z 1."""
    u, v = intr.pixel_grid()
    cam = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], axis=-1)
    c2w = np.asarray(c2w, np.float64)
    return c2w[:3, 3].copy(), cam @ c2w[:3, :3].T


# ------------------------------------------------------------------ NumPy reference
def _safe(d: np.ndarray) -> np.ndarray:
    return np.where(np.abs(d) < _EPS_D, np.where(d < 0, -_EPS_D, _EPS_D), d)


def _box_np(o, d, h, inside):
    n = d.shape[0]
    tnear = np.full(n, -np.inf)
    tfar = np.full(n, np.inf)
    fnear = np.full(n, -1, np.int64)
    ffar = np.full(n, -1, np.int64)
    for k in range(3):
        dk = _safe(d[:, k])
        t1 = (-h[k] - o[k]) / dk
        t2 = (h[k] - o[k]) / dk
        pos = dk > 0
        ta = np.where(pos, t1, t2)  # entry along this axis
        tb = np.where(pos, t2, t1)  # exit
        upd = ta > tnear
        tnear = np.where(upd, ta, tnear)
        fnear = np.where(upd, np.where(pos, 2 * k, 2 * k + 1), fnear)
        upd = tb < tfar
        tfar = np.where(upd, tb, tfar)
        ffar = np.where(upd, np.where(pos, 2 * k + 1, 2 * k), ffar)
    if inside:
        ok = (tnear <= tfar) & (tfar > T_MIN)
        return np.where(ok, tfar, np.inf), np.where(ok, ffar, -1)
    ok = (tnear <= tfar) & (tnear > T_MIN)
    return np.where(ok, tnear, np.inf), np.where(ok, fnear, -1)


def _sphere_np(o, d, r):
    a = np.einsum("ij,ij->i", d, d)
    b = d @ o
    c = o @ o - r * r
    disc = b * b - a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    t = (-b - sq) / a
    ok = (disc >= 0) & (t > T_MIN)
    return np.where(ok, t, np.inf), np.where(ok, 0, -1)


def _cylinder_np(o, d, r, hh):
    n = d.shape[0]
    best = np.full(n, np.inf)
    face = np.full(n, -1, np.int64)
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = o[0] * d[:, 0] + o[2] * d[:, 2]
    c = o[0] ** 2 + o[2] ** 2 - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    y = o[1] + t * d[:, 1]
    ok = (a > 1e-30) & (disc >= 0) & (t > T_MIN) & (np.abs(y) <= hh)
    best = np.where(ok, t, best)
    face = np.where(ok, 0, face)
    dy = d[:, 1]
    for s, f in ((-1.0, 2), (1.0, 3)):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (s * hh - o[1]) / dy
        x = o[0] + t * d[:, 0]
        z = o[2] + t * d[:, 2]
        ok = (np.abs(dy) > _EPS_D) & (t > T_MIN) & (x * x + z * z <= r * r) & (t < best)
        best = np.where(ok, t, best)
        face = np.where(ok, f, face)
    return best, face


def cast_rays_reference(scene: Scene, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hit of rays ``origin + t * dirs`` (``dirs [..., 3]``): ``t``, primitive id, face."""
    shape = dirs.shape[:-1]
    d_world = dirs.reshape(-1, 3).astype(np.float64)
    n = d_world.shape[0]
    best = np.full(n, np.inf)
    pid = np.full(n, -1, np.int64)
    face = np.full(n, -1, np.int64)
    for p in range(scene.n_primitives):
        R = scene.rot[p]
        o = R.T @ (np.asarray(origin, np.float64) - scene.center[p])
        d = d_world @ R  # R^T d for every ray
        h = scene.half[p]
        kind = scene.ptype[p]
        if kind == BOX or kind == ROOM:
            t, f = _box_np(o, d, h, kind == ROOM)
        elif kind == SPHERE:
            t, f = _sphere_np(o, d, h[0])
        else:
            t, f = _cylinder_np(o, d, h[0], h[1])
        upd = t < best
        best = np.where(upd, t, best)
        pid = np.where(upd, p, pid)
        face = np.where(upd, f, face)
    return best.reshape(shape), pid.reshape(shape).astype(np.int32), face.reshape(shape).astype(np.int32)


# ------------------------------------------------------------------ numba kernel
@njit(cache=True, nogil=True)
def _box_nb(ox, oy, oz, dx, dy, dz, hx, hy, hz, inside):
    tnear, tfar = -np.inf, np.inf
    fnear, ffar = -1, -1
    for k in range(3):
        if k == 0:
            ok_, dk, hk = ox, dx, hx
        elif k == 1:
            ok_, dk, hk = oy, dy, hy
        else:
            ok_, dk, hk = oz, dz, hz
        if abs(dk) < _EPS_D:
            dk = -_EPS_D if dk < 0 else _EPS_D
        t1 = (-hk - ok_) / dk
        t2 = (hk - ok_) / dk
        if dk > 0:
            ta, tb, fa, fb = t1, t2, 2 * k, 2 * k + 1
        else:
            ta, tb, fa, fb = t2, t1, 2 * k + 1, 2 * k
        if ta > tnear:
            tnear, fnear = ta, fa
        if tb < tfar:
            tfar, ffar = tb, fb
    if tnear > tfar:
        return np.inf, -1
    if inside:
        if tfar > T_MIN:
            return tfar, ffar
        return np.inf, -1
    if tnear > T_MIN:
        return tnear, fnear
    return np.inf, -1


@njit(cache=True, nogil=True)
def _sphere_nb(ox, oy, oz, dx, dy, dz, r):
    a = dx * dx + dy * dy + dz * dz
    b = ox * dx + oy * dy + oz * dz
    c = ox * ox + oy * oy + oz * oz - r * r
    disc = b * b - a * c
    if disc < 0:
        return np.inf, -1
    t = (-b - np.sqrt(disc)) / a
    if t > T_MIN:
        return t, 0
    return np.inf, -1


@njit(cache=True, nogil=True)
def _cylinder_nb(ox, oy, oz, dx, dy, dz, r, hh):
    best, face = np.inf, -1
    a = dx * dx + dz * dz
    if a > 1e-30:
        b = ox * dx + oz * dz
        c = ox * ox + oz * oz - r * r
        disc = b * b - a * c
        if disc >= 0:
            t = (-b - np.sqrt(disc)) / a
            if t > T_MIN and abs(oy + t * dy) <= hh:
                best, face = t, 0
    if abs(dy) > _EPS_D:
        for f in (2, 3):
            s = -1.0 if f == 2 else 1.0
            t = (s * hh - oy) / dy
            x = ox + t * dx
            z = oz + t * dz
            if t > T_MIN and x * x + z * z <= r * r and t < best:
                best, face = t, f
    return best, face


@njit(cache=True, nogil=True)
def _cast_image(H, W, fx, fy, cx, cy, Rc, o, ptype, center, rot, half, bound, out_t, out_id, out_face):
    P = ptype.shape[0]
    ol = np.empty((P, 3))
    cc = np.empty(P)
    for p in range(P):
        ex = o[0] - center[p, 0]
        ey = o[1] - center[p, 1]
        ez = o[2] - center[p, 2]
        for k in range(3):
            ol[p, k] = rot[p, 0, k] * ex + rot[p, 1, k] * ey + rot[p, 2, k] * ez
        cc[p] = ex * ex + ey * ey + ez * ez - bound[p] * bound[p]
    for i in range(H):
        yc = (i - cy) / fy
        for j in range(W):
            xc = (j - cx) / fx
            dx = Rc[0, 0] * xc + Rc[0, 1] * yc + Rc[0, 2]
            dy = Rc[1, 0] * xc + Rc[1, 1] * yc + Rc[1, 2]
            dz = Rc[2, 0] * xc + Rc[2, 1] * yc + Rc[2, 2]
            a = dx * dx + dy * dy + dz * dz
            best, bid, bface = np.inf, -1, -1
            for p in range(P):
                kind = ptype[p]
                if kind != ROOM and cc[p] > 0:  # bounding-sphere early-out (camera outside it)
                    b = dx * (center[p, 0] - o[0]) + dy * (center[p, 1] - o[1]) + dz * (center[p, 2] - o[2])
                    if b <= 0:
                        continue
                    disc = b * b - a * cc[p]
                    if disc < 0:
                        continue
                    if (b - np.sqrt(disc)) / a > best * (1.0 + 1e-9):
                        continue
                lx = rot[p, 0, 0] * dx + rot[p, 1, 0] * dy + rot[p, 2, 0] * dz
                ly = rot[p, 0, 1] * dx + rot[p, 1, 1] * dy + rot[p, 2, 1] * dz
                lz = rot[p, 0, 2] * dx + rot[p, 1, 2] * dy + rot[p, 2, 2] * dz
                if kind == BOX or kind == ROOM:
                    t, f = _box_nb(ol[p, 0], ol[p, 1], ol[p, 2], lx, ly, lz, half[p, 0], half[p, 1], half[p, 2], kind == ROOM)
                elif kind == SPHERE:
                    t, f = _sphere_nb(ol[p, 0], ol[p, 1], ol[p, 2], lx, ly, lz, half[p, 0])
                else:
                    t, f = _cylinder_nb(ol[p, 0], ol[p, 1], ol[p, 2], lx, ly, lz, half[p, 0], half[p, 1])
                if t < best:
                    best, bid, bface = t, p, f
            out_t[i, j] = best
            out_id[i, j] = bid
            out_face[i, j] = bface


def cast_rays(scene: Scene, intr: Intrinsics, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast path: per-pixel first hit for camera ``(intr, c2w)``: ``t`` (= depth) ``[H, W]``, id, face."""
    H, W = intr.height, intr.width
    c2w = np.asarray(c2w, np.float64)
    out_t = np.empty((H, W), np.float64)
    out_id = np.empty((H, W), np.int32)
    out_face = np.empty((H, W), np.int32)
    _cast_image(
        H,
        W,
        intr.fx,
        intr.fy,
        intr.cx,
        intr.cy,
        np.ascontiguousarray(c2w[:3, :3]),
        np.ascontiguousarray(c2w[:3, 3]),
        scene.ptype,
        scene.center,
        scene.rot,
        scene.half,
        scene.bound_radius(),
        out_t,
        out_id,
        out_face,
    )
    return out_t, out_id, out_face
