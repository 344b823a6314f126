"""3DGS files: the standard ``.ply`` of the original implementation, ``.splat`` and a point cloud.

**``.ply``** (read by SuperSplat, the antimatter15 viewer, nerfstudio and most tools): one
``vertex`` element with float32 properties ``x y z nx ny nz f_dc_0 f_dc_1 f_dc_2
f_rest_0 .. f_rest_{3(K-1)-1} opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3``.
``opacity`` is the logit, ``scale_*`` the log of the standard deviations, ``rot_*`` the
quaternion ``(w, x, y, z)``; ``f_rest`` is channel-major (all red coefficients, then green, then
blue). Normals are written as zeros. Export then import is exact.

**``.splat``** (antimatter15 layout): 32 bytes per Gaussian, little endian: position 3 x float32,
scale 3 x float32 (linear standard deviations), colour RGBA 4 x uint8 (``a`` = opacity), rotation
4 x uint8 (``(w, x, y, z)`` of the unit quaternion mapped by ``q * 128 + 128``). Records are sorted
by ``-opacity * prod(scale)`` (biggest, most opaque first). Only the DC colour survives and the colour,
opacity and rotation are quantised to 8 bits, so import gives a close, not identical, render.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from see3d.errors import See3DError
from see3d.gs.model import SH_C0, GaussianModel, sh_degree_of

#: Bytes of one ``.splat`` record.
SPLAT_RECORD_BYTES = 32
_SPLAT_DTYPE = np.dtype([("pos", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
assert _SPLAT_DTYPE.itemsize == SPLAT_RECORD_BYTES


def _ply_fields(n_rest: int) -> list[str]:
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(n_rest)]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


def _as_model(model: GaussianModel) -> GaussianModel:
    if not isinstance(model, GaussianModel):
        raise See3DError(f"expected a GaussianModel, got {type(model).__name__}")
    return model.detach().validate()


def gaussians_to_ply_array(model: GaussianModel) -> np.ndarray:
    """The structured vertex array of the standard 3DGS ``.ply``."""
    m = _as_model(model)
    n, k = len(m), m.sh.shape[1]
    rest = m.sh[:, 1:, :].permute(0, 2, 1).reshape(n, 3 * (k - 1)).numpy()  # channel-major
    cols = np.concatenate(
        [
            m.means.numpy(),
            np.zeros((n, 3), np.float32),
            m.sh[:, 0, :].numpy(),
            rest,
            m.opacity_logits[:, None].numpy(),
            m.log_scales.numpy(),
            m.quats.numpy(),
        ],
        axis=1,
    ).astype(np.float32)
    names = _ply_fields(3 * (k - 1))
    arr = np.empty(n, dtype=[(nm, "<f4") for nm in names])
    for i, nm in enumerate(names):
        arr[nm] = cols[:, i]
    return arr


def save_ply(model: GaussianModel, path: str | Path) -> None:
    """Write the standard 3DGS ``.ply`` (binary little endian), atomically."""
    from plyfile import PlyData, PlyElement

    from see3d.io import atomic_file

    arr = gaussians_to_ply_array(model)
    with atomic_file(path) as tmp:
        PlyData([PlyElement.describe(arr, "vertex")], text=False, byte_order="<").write(str(tmp))


def load_ply(path: str | Path) -> GaussianModel:
    """Read a 3DGS ``.ply`` (any SH degree); raises :class:`See3DError` if attributes are missing."""
    from plyfile import PlyData

    path = Path(path)
    if not path.is_file():
        raise See3DError(f"ply file not found: {path}")
    try:
        ply = PlyData.read(str(path))
        v = ply["vertex"].data
    except KeyError:
        raise See3DError(f"ply {path.name} has no 'vertex' element") from None
    except Exception as e:  # plyfile raises several types for malformed files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise See3DError(f"cannot read ply {path}: {msg}") from None
    names = set(v.dtype.names or ())
    need = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    missing = [k for k in need if k not in names]
    if missing:
        hint = " (a plain point cloud, not 3D Gaussians?)" if {"x", "y", "z"} <= names else ""
        raise See3DError(f"ply {path.name} lacks 3DGS attributes: {', '.join(missing)}{hint}")
    n_rest = 0
    while f"f_rest_{n_rest}" in names:
        n_rest += 1
    if n_rest % 3:
        raise See3DError(f"ply {path.name}: {n_rest} f_rest attributes is not a multiple of 3")
    k = n_rest // 3 + 1
    try:
        sh_degree_of(k)
    except See3DError:
        raise See3DError(f"ply {path.name}: {n_rest} f_rest attributes do not form a full SH degree") from None
    n = len(v)
    if n == 0:
        raise See3DError(f"ply {path.name} has no Gaussians")

    def col(*keys: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.asarray(v[kk], dtype=np.float32) for kk in keys], axis=-1))

    sh = torch.zeros(n, k, 3)
    sh[:, 0] = col("f_dc_0", "f_dc_1", "f_dc_2")
    if n_rest:
        rest = col(*[f"f_rest_{i}" for i in range(n_rest)]).reshape(n, 3, k - 1)
        sh[:, 1:] = rest.permute(0, 2, 1)
    model = GaussianModel.__new__(GaussianModel)
    model.means = col("x", "y", "z")
    model.quats = col("rot_0", "rot_1", "rot_2", "rot_3")
    model.log_scales = col("scale_0", "scale_1", "scale_2")
    model.opacity_logits = col("opacity")[:, 0]
    model.sh = sh
    try:
        model.validate()
    except See3DError as e:
        raise See3DError(f"ply {path.name}: {e}") from None
    return model


def gaussians_to_splat_bytes(model: GaussianModel) -> bytes:
    """Encode as antimatter15 ``.splat`` records (see the module docstring)."""
    m = _as_model(model)
    scales = m.scales.numpy()
    op = m.opacities.numpy()
    order = np.argsort(-(op * np.prod(scales, axis=1)), kind="stable")
    q = m.quats / m.quats.norm(dim=-1, keepdim=True)
    rec = np.empty(len(m), dtype=_SPLAT_DTYPE)
    rec["pos"] = m.means.numpy()
    rec["scale"] = scales
    rgba = np.concatenate([m.colors.numpy(), op[:, None]], axis=1)
    rec["rgba"] = np.clip(np.round(rgba * 255.0), 0, 255).astype(np.uint8)
    rec["rot"] = np.clip(np.round(q.numpy() * 128.0 + 128.0), 0, 255).astype(np.uint8)
    return rec[order].tobytes()


def splat_bytes_to_gaussians(data: bytes, name: str = ".splat data") -> GaussianModel:
    """Decode ``.splat`` records into a degree-0 :class:`GaussianModel`."""
    if len(data) == 0:
        raise See3DError(f"{name} is empty (no Gaussians)")
    if len(data) % SPLAT_RECORD_BYTES:
        raise See3DError(f"{name}: size {len(data)} bytes is not a multiple of {SPLAT_RECORD_BYTES} (not a .splat file?)")
    rec = np.frombuffer(data, dtype=_SPLAT_DTYPE)
    scales = rec["scale"].astype(np.float64)
    if not np.isfinite(rec["pos"]).all() or not np.isfinite(scales).all():
        raise See3DError(f"{name} has NaN or infinite positions or scales")
    if (scales <= 0).any():
        raise See3DError(f"{name} has non-positive scales")
    rgba = rec["rgba"].astype(np.float64) / 255.0
    # keep opacity strictly inside (0, 1) so its logit is finite
    a = np.clip(rgba[:, 3], 0.5 / 255.0, 1.0 - 0.5 / 255.0)
    q = (rec["rot"].astype(np.float64) - 128.0) / 128.0
    bad = np.linalg.norm(q, axis=1) < 1e-6
    q[bad] = [1.0, 0.0, 0.0, 0.0]
    n = len(rec)
    sh = torch.zeros(n, 1, 3)
    sh[:, 0] = torch.as_tensor((rgba[:, :3] - 0.5) / SH_C0, dtype=torch.float32)
    return GaussianModel(
        means=torch.as_tensor(rec["pos"].copy(), dtype=torch.float32),
        quats=torch.as_tensor(q, dtype=torch.float32),
        log_scales=torch.as_tensor(np.log(scales), dtype=torch.float32),
        opacity_logits=torch.as_tensor(np.log(a / (1 - a)), dtype=torch.float32),
        sh=sh,
    )


def save_splat(model: GaussianModel, path: str | Path) -> None:
    """Write an antimatter15 ``.splat`` file, atomically."""
    from see3d.io import atomic_file

    data = gaussians_to_splat_bytes(model)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def load_splat(path: str | Path) -> GaussianModel:
    """Read a ``.splat`` file (degree-0 colours, 8-bit opacity and rotation)."""
    path = Path(path)
    if not path.is_file():
        raise See3DError(f"splat file not found: {path}")
    return splat_bytes_to_gaussians(path.read_bytes(), path.name)


def save_point_cloud(model: GaussianModel, path: str | Path, min_opacity: float = 0.1) -> int:
    """Write the centres of Gaussians with opacity >= ``min_opacity`` as a coloured point ``.ply``.

    Returns the number of points written.
    """
    from see3d.io import atomic_file, write_point_ply

    m = _as_model(model)
    keep = m.opacities >= min_opacity
    if not bool(keep.any()):
        keep = torch.ones(len(m), dtype=torch.bool)
    with atomic_file(path) as tmp:
        write_point_ply(tmp, m.means[keep].numpy(), m.colors[keep].numpy())
    return int(keep.sum())


def load_gaussians(path: str | Path) -> GaussianModel:
    """Read a scene by extension: ``.ply`` (3DGS), ``.splat``, or a :meth:`GaussianModel.save_pretrained` folder."""
    path = Path(path)
    if path.is_dir():
        return GaussianModel.from_pretrained(path)
    if path.suffix.lower() == ".splat":
        return load_splat(path)
    if path.suffix.lower() == ".ply":
        return load_ply(path)
    if not path.exists():
        raise See3DError(f"scene file not found: {path}")
    raise See3DError(f"unknown scene format {path.suffix!r}: use a 3DGS .ply, a .splat or a saved model folder")
