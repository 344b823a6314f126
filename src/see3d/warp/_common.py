"""Shared constants and small helpers of the warp backends.

Both backends (the PyTorch reference in :mod:`see3d.warp.reference` and the numba
kernel in :mod:`see3d.warp.kernel`) take the same prepared inputs:

- ``rgb [S, H, W, C]`` float32 colours (any number of channels),
- ``depth [S, H, W]`` float64 camera z in metres: finite and positive = a surface,
  ``+inf`` = sky (a point at infinity), anything else (0, negative, NaN) = invalid,
- ``Ks [S, 4]`` and ``Kt [T, 4]``: ``fx, fy, cx, cy`` of the sources and targets,
- ``P [T, S, 3, 4]``: rigid transform from source-camera to target-camera
  coordinates, ``x_t = P[t, s, :, :3] @ x_s + P[t, s, :, 3]``.

The algorithm, step by step (the reference is the executable specification):

1. **Project.** Every valid source pixel ``(j, i)`` is unprojected with its depth,
   moved into the target camera and projected: target position ``(u, v)`` and
   target depth ``z``. Sky pixels are moved by the rotation only (a direction) and
   get the depth :data:`Z_SKY`, behind every surface. Points with ``z <= NEAR`` (at or
   behind the target camera) are dropped.
2. **Footprint.** Two grid neighbours are *linked* when both project, lie on the same
   surface (relative source-depth jump at most ``edge_tol``, or both sky) and land at
   most ``max_splat`` pixels apart on each target axis. The projected pixel quad of a
   source pixel is estimated from its linked neighbours: along each grid direction the
   larger of the two linked steps (robust to perspective); a direction without a link
   falls back to the isotropic magnification ``(f_t / f_s) * (z_s / z_t)``. The
   footprint's half-size is ``h = max(0.5, (a_x + a_y) / 2)`` per image axis (the
   bounding box of the quad, never smaller than one target pixel) and at most
   ``max_splat / 2``. The local Jacobian ``[e_j e_i]`` (target displacement per source
   column / row) is the mean of the linked steps along each direction (the isotropic
   step without a link).
3. **Coverage z-buffer.** Each sample *covers* the target pixels whose centres lie
   in its footprint box ``|x - u| <= h_u, |y - v| <= h_v``. Per target pixel the
   front-most covering sample (smallest float32 ``z``; ties: the first sample in
   source order) is the pixel's *front sample*. A target pixel is *known* (mask 1)
   iff some sample covers it. This is where holes come from: a pixel is a hole
   exactly when no projected source-pixel quad reaches its centre, so surfaces seen
   closer up or at a slant do not crack.
4. **Blend** (``splat="bilinear"``), a gather: the pixel centre is mapped into the
   front sample's source grid with the inverse Jacobian, ``(dj, di) = J^-1 (p - (u, v))``
   (0 when ``|det J| <= DET_MIN``). The neighbours on that side (right if ``dj >= 0``,
   else left; down if ``di >= 0``, else up; the diagonal reached through the horizontal
   then the vertical link) form the source cell, and colour and depth are interpolated
   bilinearly in it with ``a = min(|dj|, 1)``, ``c = min(|di|, 1)`` (``a = 0`` without a
   link on that side, ``c`` likewise): weights ``(1-a)(1-c), a(1-c), (1-a)c, ac``, a
   missing diagonal's weight dropped and the rest renormalised. Only samples linked to
   the front sample take part, so colours never bleed across depth edges and sources
   are not mixed. With ``splat="nearest"`` the colour and depth are those of the front
   sample (hard z-buffer).
"""

from __future__ import annotations

#: Depth used inside the z-buffer for points at infinity (sky); reported as ``inf``.
Z_SKY = 1.0e30
#: Sky detection threshold on the accumulated depth (anything this far is sky).
Z_SKY_THRESHOLD = 1.0e29
#: Points at or closer than this camera z (metres) in the target are dropped.
NEAR = 1.0e-6
#: Projections farther than this many pixels from the image are dropped (avoids
#: integer overflow for points that graze the camera plane).
FAR_PIXELS = 1.0e6

#: Local Jacobian determinants (px^2) at or below this are degenerate: no interpolation.
DET_MIN = 1.0e-12

#: Integer codes of the splat modes.
SPLAT_MODES = {"bilinear": 0, "nearest": 1}
