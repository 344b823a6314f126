"""3DGS files: standard .ply layout and exact round trip, .splat records, point cloud, bad input."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

from see3d.camera import Intrinsics, look_at
from see3d.errors import See3DError
from see3d.gs import GaussianModel, load_ply, load_splat, render_views, save_ply, save_point_cloud, save_splat
from see3d.gs.export import SPLAT_RECORD_BYTES, gaussians_to_splat_bytes, load_gaussians
from see3d.gs.metrics import psnr
from see3d.io import read_point_ply


def _scene(n: int = 80, degree: int = 2, seed: int = 0) -> GaussianModel:
    g = torch.Generator().manual_seed(seed)
    k = (degree + 1) ** 2
    sh = torch.randn(n, k, 3, generator=g) * 0.3
    sh[:, 0] = torch.randn(n, 3, generator=g) * 0.8
    return GaussianModel(
        means=torch.randn(n, 3, generator=g) * 0.4,
        quats=torch.randn(n, 4, generator=g) * 2.0,  # deliberately not unit length
        log_scales=torch.log(torch.rand(n, 3, generator=g) * 0.08 + 0.02),
        opacity_logits=torch.randn(n, generator=g) * 2.0,
        sh=sh,
    )


CAM = Intrinsics.from_fov(55.0, 40, 32)
POSES = np.stack([look_at(np.array([0.4 * math.sin(a), -0.3, -2.0]), np.zeros(3)) for a in (0.0, 0.7)])


def test_ply_layout_matches_original_3dgs(tmp_path):
    m = _scene(degree=2)
    save_ply(m, tmp_path / "s.ply")
    v = PlyData.read(str(tmp_path / "s.ply"))["vertex"]
    names = list(v.data.dtype.names)
    expect = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(24)] + [
        "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    assert names == expect
    assert all(v.data.dtype[nm] == np.dtype("<f4") for nm in names)
    # logit opacity, log scales, wxyz quaternion, channel-major f_rest (8 red, 8 green, 8 blue)
    np.testing.assert_allclose(v["opacity"], m.opacity_logits.numpy(), rtol=1e-6)
    np.testing.assert_allclose(v["scale_1"], m.log_scales[:, 1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(v["rot_0"], m.quats[:, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(v["f_rest_0"], m.sh[:, 1, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(v["f_rest_7"], m.sh[:, 8, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(v["f_rest_8"], m.sh[:, 1, 1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(v["f_rest_23"], m.sh[:, 8, 2].numpy(), rtol=1e-6)
    assert np.all(v["nx"] == 0)


def test_ply_round_trip_is_exact_and_renders_the_same(tmp_path):
    m = _scene(degree=1)
    save_ply(m, tmp_path / "s.ply")
    back = load_ply(tmp_path / "s.ply")
    for k, t in m.tensors().items():
        assert torch.equal(getattr(back, k), t), k
    a = render_views(m, CAM, POSES)
    b = render_views(back, CAM, POSES)
    assert a.std() > 0.01  # something is drawn
    np.testing.assert_array_equal(a, b)
    assert load_gaussians(tmp_path / "s.ply").sh.shape == (80, 4, 3)


def test_splat_records_and_close_render(tmp_path):
    m = _scene(degree=0)
    save_splat(m, tmp_path / "s.splat")
    data = (tmp_path / "s.splat").read_bytes()
    assert len(data) == SPLAT_RECORD_BYTES * len(m)
    # first record = the largest opacity * volume; decode it by hand
    op = torch.sigmoid(m.opacity_logits)
    i = int(torch.argmax(op * torch.exp(m.log_scales).prod(dim=1)))
    x, y, z, sx, sy, sz = struct.unpack("<6f", data[:24])
    r, g, b, a, qw, qx, qy, qz = data[24:32]
    np.testing.assert_allclose([x, y, z], m.means[i].numpy(), rtol=1e-6)
    np.testing.assert_allclose([sx, sy, sz], torch.exp(m.log_scales[i]).numpy(), rtol=1e-6)
    assert abs(a - 255 * float(op[i])) <= 0.51
    col = (0.5 + 0.28209479177387814 * m.sh[i, 0]).clamp(0, 1) * 255
    assert np.all(np.abs(np.array([r, g, b]) - col.numpy()) <= 0.51)
    q = m.quats[i] / m.quats[i].norm()
    assert np.all(np.abs((np.array([qw, qx, qy, qz]) - 128) / 128 - q.numpy()) <= 1 / 128 + 1e-6)
    back = load_splat(tmp_path / "s.splat")
    assert len(back) == len(m)
    ref = render_views(m, CAM, POSES)
    got = render_views(back, CAM, POSES)
    assert psnr(got, ref) > 35.0


def test_point_cloud_export(tmp_path):
    m = _scene(degree=0)
    n = save_point_cloud(m, tmp_path / "p.ply", min_opacity=0.5)
    keep = torch.sigmoid(m.opacity_logits) >= 0.5
    assert n == int(keep.sum())
    pts, cols = read_point_ply(tmp_path / "p.ply")
    np.testing.assert_allclose(pts, m.means[keep].numpy(), rtol=1e-6)
    exp = np.round((0.5 + 0.28209479177387814 * m.sh[keep, 0]).clamp(0, 1).numpy() * 255)
    assert np.abs(cols.astype(float) - exp).max() <= 1


def test_save_pretrained_round_trip(tmp_path):
    m = _scene(degree=1)
    m.save_pretrained(tmp_path / "model")
    back = GaussianModel.from_pretrained(tmp_path / "model")
    for k, t in m.tensors().items():
        assert torch.equal(getattr(back, k), t)
    assert load_gaussians(tmp_path / "model").sh_degree == 1


def test_ply_without_gaussian_attributes_is_rejected(tmp_path):
    arr = np.zeros(5, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(tmp_path / "pc.ply"))
    with pytest.raises(See3DError, match="lacks 3DGS attributes: f_dc_0.*point cloud"):
        load_ply(tmp_path / "pc.ply")
    (tmp_path / "junk.ply").write_bytes(b"not a ply at all")
    with pytest.raises(See3DError, match="cannot read ply"):
        load_ply(tmp_path / "junk.ply")
    with pytest.raises(See3DError, match="not found"):
        load_ply(tmp_path / "missing.ply")


def test_nan_parameters_are_rejected(tmp_path):
    m = _scene()
    bad = m.means.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(See3DError, match="means has NaN"):
        GaussianModel(bad, m.quats, m.log_scales, m.opacity_logits, m.sh)
    # a file with NaNs (written by someone else) is rejected on load
    save_ply(m, tmp_path / "s.ply")
    ply = PlyData.read(str(tmp_path / "s.ply"))
    ply["vertex"].data["opacity"][7] = np.nan
    ply.write(str(tmp_path / "nan.ply"))
    with pytest.raises(See3DError, match="opacity_logits has NaN"):
        load_ply(tmp_path / "nan.ply")
    # so is a model whose tensors went NaN after creation, before it is written
    m.log_scales[0, 0] = float("inf")
    with pytest.raises(See3DError, match="log_scales"):
        save_ply(m, tmp_path / "x.ply")
    assert not (tmp_path / "x.ply").exists()


def test_bad_shapes_and_splat_files(tmp_path):
    m = _scene()
    with pytest.raises(See3DError, match="quats must have shape"):
        GaussianModel(m.means, m.quats[:, :3], m.log_scales, m.opacity_logits, m.sh)
    with pytest.raises(See3DError, match=r"\(degree \+ 1\)\^2"):
        GaussianModel(m.means, m.quats, m.log_scales, m.opacity_logits, m.sh[:, :3])
    (tmp_path / "odd.splat").write_bytes(b"\0" * 33)
    with pytest.raises(See3DError, match="multiple of 32"):
        load_splat(tmp_path / "odd.splat")
    (tmp_path / "empty.splat").write_bytes(b"")
    with pytest.raises(See3DError, match="empty"):
        load_splat(tmp_path / "empty.splat")
    with pytest.raises(See3DError, match="unknown scene format"):
        (tmp_path / "a.obj").write_text("v 0 0 0\n")
        load_gaussians(tmp_path / "a.obj")
    data = bytearray(gaussians_to_splat_bytes(m))
    data[0:4] = struct.pack("<f", float("nan"))
    (tmp_path / "nan.splat").write_bytes(bytes(data))
    with pytest.raises(See3DError, match="NaN"):
        load_splat(tmp_path / "nan.splat")
