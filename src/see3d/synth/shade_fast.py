"""numba twin of :func:`see3d.synth.render.shade_reference` (one pass over the pixels).

Same maths as the NumPy reference, per pixel: surface point and local frame,
normal facing the camera, material lookup, texture coordinates at the
material's physical scale, mip level from the pixel footprint, trilinear
texture sample, Lambert lighting; sky colour where nothing was hit.  Tests
check the two agree.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from see3d.synth.scene import BOX, ROOM, SPHERE


@njit(cache=True, nogil=True)
def _texel(texels, off, w, h, x, y, clamp, c):
    if clamp:
        x = min(max(x, 0), w - 1)
        y = min(max(y, 0), h - 1)
    else:
        if x < 0:
            x += w
        elif x >= w:
            x -= w
        if y < 0:
            y += h
        elif y >= h:
            y -= h
    return texels[off + y * w + x, c]


@njit(cache=True, nogil=True)
def _bilinear(texels, table, tex, lev, u, v, clamp, out):
    off, w, h = table[tex, lev, 0], table[tex, lev, 1], table[tex, lev, 2]
    if clamp:
        uu = min(max(u, 0.0), 1.0)
        vv = min(max(v, 0.0), 1.0)
    else:
        uu = u - math.floor(u)
        vv = v - math.floor(v)
    x = uu * w - 0.5
    y = vv * h - 0.5
    xf = math.floor(x)
    yf = math.floor(y)
    fx = x - xf
    fy = y - yf
    x0 = int(xf)
    y0 = int(yf)
    for c in range(3):
        c00 = _texel(texels, off, w, h, x0, y0, clamp, c)
        c01 = _texel(texels, off, w, h, x0 + 1, y0, clamp, c)
        c10 = _texel(texels, off, w, h, x0, y0 + 1, clamp, c)
        c11 = _texel(texels, off, w, h, x0 + 1, y0 + 1, clamp, c)
        out[c] = (1 - fy) * ((1 - fx) * c00 + fx * c01) + fy * ((1 - fx) * c10 + fx * c11)


@njit(cache=True, nogil=True)
def shade_image(
    fx, fy, cx, cy, Rc, o, t, pid, face,
    ptype, center, rot, half, face_mat,
    m_tex, m_tile, m_tint, m_swap, m_offset,
    texels, table, tex_size,
    ambient, sun_power, sun_dir, point_power, light_pos, falloff, light_color,
    horizon, zenith,
    rgb, normal,
):  # fmt: skip
    H, W = t.shape
    L = table.shape[1]
    f = math.sqrt(fx * fy)
    nl = np.empty(3)
    a0 = np.empty(3)
    a1 = np.empty(3)
    for i in range(H):
        yc = (i - cy) / fy
        for j in range(W):
            xc = (j - cx) / fx
            dx = Rc[0, 0] * xc + Rc[0, 1] * yc + Rc[0, 2]
            dy = Rc[1, 0] * xc + Rc[1, 1] * yc + Rc[1, 2]
            dz = Rc[2, 0] * xc + Rc[2, 1] * yc + Rc[2, 2]
            dlen = math.sqrt(dx * dx + dy * dy + dz * dz)
            p = pid[i, j]
            if p < 0:
                e = min(max(-dy / dlen, 0.0), 1.0) ** 0.6
                for c in range(3):
                    rgb[i, j, c] = (1 - e) * horizon[c] + e * zenith[c]
                    normal[i, j, c] = 0.0
                continue
            tt = t[i, j]
            fc = face[i, j]
            px = o[0] + tt * dx
            py = o[1] + tt * dy
            pz = o[2] + tt * dz
            ex, ey, ez = px - center[p, 0], py - center[p, 1], pz - center[p, 2]
            lx = rot[p, 0, 0] * ex + rot[p, 1, 0] * ey + rot[p, 2, 0] * ez
            ly = rot[p, 0, 1] * ex + rot[p, 1, 1] * ey + rot[p, 2, 1] * ez
            lz = rot[p, 0, 2] * ex + rot[p, 1, 2] * ey + rot[p, 2, 2] * ez
            kind = ptype[p]
            nl[0] = 0.0
            nl[1] = 0.0
            nl[2] = 0.0
            if kind == BOX or kind == ROOM:
                ax = fc // 2
                sgn = 1.0 if fc % 2 == 1 else -1.0
                if kind == ROOM:
                    sgn = -sgn
                nl[ax] = sgn
                if ax == 0:
                    um, vm, hu, hv = sgn * lz, ly, half[p, 2], half[p, 1]
                elif ax == 1:
                    um, vm, hu, hv = lx, lz, half[p, 0], half[p, 2]
                else:
                    um, vm, hu, hv = -sgn * lx, ly, half[p, 0], half[p, 1]
                ufit = (um + hu) / (2 * hu)
                vfit = (vm + hv) / (2 * hv)
                extent = 2 * max(hu, hv)
            elif kind == SPHERE:
                r = half[p, 0]
                nl[0], nl[1], nl[2] = lx / r, ly / r, lz / r
                phi = math.atan2(lz, lx)
                theta = math.acos(min(max(ly / r, -1.0), 1.0))
                um, vm = phi * r, theta * r
                ufit, vfit = (phi + math.pi) / (2 * math.pi), theta / math.pi
                extent = 2 * math.pi * r
            else:  # CYLINDER
                r, hh = half[p, 0], half[p, 1]
                phi = math.atan2(lz, lx)
                if fc == 0:
                    rr = max(math.hypot(lx, lz), 1e-12)
                    nl[0], nl[2] = lx / rr, lz / rr
                    um, vm = phi * r, ly
                    ufit, vfit = (phi + math.pi) / (2 * math.pi), (ly + hh) / (2 * hh)
                    extent = max(2 * math.pi * r, 2 * hh)
                else:
                    nl[1] = 1.0 if fc == 3 else -1.0
                    um, vm = lx, lz
                    ufit, vfit = (lx + r) / (2 * r), (lz + r) / (2 * r)
                    extent = 2 * r
            nx = rot[p, 0, 0] * nl[0] + rot[p, 0, 1] * nl[1] + rot[p, 0, 2] * nl[2]
            ny = rot[p, 1, 0] * nl[0] + rot[p, 1, 1] * nl[1] + rot[p, 1, 2] * nl[2]
            nz = rot[p, 2, 0] * nl[0] + rot[p, 2, 1] * nl[1] + rot[p, 2, 2] * nl[2]
            cosv = (nx * dx + ny * dy + nz * dz) / dlen
            if cosv > 0:
                nx, ny, nz = -nx, -ny, -nz
            cosv = abs(cosv)

            m = face_mat[p, fc]
            tile = m_tile[m]
            fit = tile <= 0
            if fit:
                u, v = ufit, vfit
                texel = extent / tex_size
            else:
                u = um / tile + m_offset[m, 0]
                v = vm / tile + m_offset[m, 1]
                texel = tile / tex_size
            if m_swap[m]:
                u, v = v, u
            footprint = tt / f / max(cosv, 0.25)
            level = math.log2(max(footprint / texel, 1e-12))
            level = min(max(level, 0.0), L - 1.0)
            l0 = int(math.floor(level))
            l1 = min(l0 + 1, L - 1)
            a = level - l0
            tex = m_tex[m]
            _bilinear(texels, table, tex, l0, u, v, fit, a0)
            _bilinear(texels, table, tex, l1, u, v, fit, a1)

            light = ambient
            if sun_power > 0:
                light += sun_power * max(nx * sun_dir[0] + ny * sun_dir[1] + nz * sun_dir[2], 0.0)
            if point_power > 0:
                qx, qy, qz = light_pos[0] - px, light_pos[1] - py, light_pos[2] - pz
                dist = math.sqrt(qx * qx + qy * qy + qz * qz)
                lam = max((nx * qx + ny * qy + nz * qz) / max(dist, 1e-9), 0.0)
                q = dist / falloff
                light += point_power * lam / (1.0 + q * q) * 2.0
            for c in range(3):
                alb = ((1 - a) * a0[c] + a * a1[c]) * m_tint[m, c]
                rgb[i, j, c] = min(max(alb * (light * light_color[c]), 0.0), 1.0)
            normal[i, j, 0] = Rc[0, 0] * nx + Rc[1, 0] * ny + Rc[2, 0] * nz
            normal[i, j, 1] = Rc[0, 1] * nx + Rc[1, 1] * ny + Rc[2, 1] * nz
            normal[i, j, 2] = Rc[0, 2] * nx + Rc[1, 2] * ny + Rc[2, 2] * nz
