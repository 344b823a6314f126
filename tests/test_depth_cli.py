"""``see3d depth``: outputs agree with each other and with the intrinsics; loud focal assumption."""

import json

import numpy as np
import pytest
import torch

from see3d.cli import main
from see3d.cli.depth import read_intrinsics_file
from see3d.depth.tiny import TinyDepthConfig, TinyDepthNet
from see3d.errors import See3DError
from see3d.io import load_depth, read_point_ply, save_image


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    m = TinyDepthNet(TinyDepthConfig(channels=(8, 16, 32), input_size=(48, 64)))
    with torch.no_grad():
        m.head.weight.normal_(0, 0.3)
    d = tmp_path_factory.mktemp("tiny") / "model"
    m.save_pretrained(d)
    return d


@pytest.fixture
def photo(tmp_path, rng):
    p = tmp_path / "in" / "photo.png"
    p.parent.mkdir()
    save_image(p, rng.integers(0, 256, (60, 90, 3), dtype=np.uint8))
    return p


def test_depth_outputs_are_consistent(tmp_path, photo, model_dir, capsys):
    out = tmp_path / "out"
    assert main(["depth", str(photo), "--model", str(model_dir), "--fx", "250", "--cx", "40", "-o", str(out), "-q"]) == 0
    d = np.load(out / "photo.depth.npy")
    assert d.shape == (60, 90) and d.dtype == np.float32 and (d > 0).all()
    png = out / "photo.depth_scale1000.png"
    np.testing.assert_allclose(load_depth(png), d, atol=0.5e-3 + 1e-6)  # scale read from metadata
    assert (out / "photo.depth_color.png").is_file()
    pts, cols = read_point_ply(out / "photo.ply")
    assert len(pts) == d.size and cols.shape == (d.size, 3)
    # the point cloud is the depth unprojected with the given intrinsics (fy defaults to fx)
    v, u = np.mgrid[0:60, 0:90]
    np.testing.assert_allclose(pts[:, 2], d.ravel(), rtol=1e-6)
    np.testing.assert_allclose(pts[:, 0], ((u - 40) / 250 * d).ravel(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pts[:, 1], ((v - 29.5) / 250 * d).ravel(), rtol=1e-5, atol=1e-6)
    info = json.loads((out / "depth.json").read_text())["images"][0]
    assert info["intrinsics"]["fx"] == 250 and info["intrinsics"]["source"] == "given"
    # twice the focal, twice the depth (canonical model)
    out2 = tmp_path / "out2"
    assert main(["depth", str(photo), "--model", str(model_dir), "--fx", "500", "--cx", "40", "-o", str(out2), "-q"]) == 0
    np.testing.assert_allclose(np.load(out2 / "photo.depth.npy"), 2 * d, rtol=1e-5)


def test_no_intrinsics_is_loud_and_folder_works(tmp_path, photo, model_dir, capsys):
    save_image(photo.parent / "second.jpg", np.full((30, 40, 3), 128, np.uint8))
    out = tmp_path / "out"
    assert main(["depth", str(photo.parent), "--model", str(model_dir), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "ASSUMING fx = fy = 1000 px" in err
    assert (out / "photo.depth.npy").is_file() and (out / "second.depth.npy").is_file()
    info = json.loads((out / "depth.json").read_text())["images"]
    assert all(r["intrinsics"]["fx"] == 1000.0 and "ASSUMED" in r["intrinsics"]["source"] for r in info)


def test_intrinsics_file_and_fov(tmp_path, photo, model_dir):
    f = tmp_path / "cam.json"
    f.write_text(json.dumps({"cam_in": [300.0, 310.0, 44.5, 29.5]}))
    k = read_intrinsics_file(f, 90, 60)
    assert (k.fx, k.fy, k.cx, k.cy) == (300.0, 310.0, 44.5, 29.5)
    (tmp_path / "K.txt").write_text("300 0 44.5\n0 310 29.5\n0 0 1\n")
    assert read_intrinsics_file(tmp_path / "K.txt", 90, 60) == k
    (tmp_path / "wrong.json").write_text(json.dumps({"fx": 300, "w": 100, "h": 60}))
    with pytest.raises(See3DError, match="100x60 image"):
        read_intrinsics_file(tmp_path / "wrong.json", 90, 60)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["depth", str(photo), "--model", str(model_dir), "--intrinsics", str(f), "-o", str(a), "-q"]) == 0
    assert main(["depth", str(photo), "--model", str(model_dir), "--fov", "90", "-o", str(b), "-q"]) == 0
    da, db = np.load(a / "photo.depth.npy"), np.load(b / "photo.depth.npy")
    # fov 90 across 90 px -> f = 45 px; same pixels, so depth ratio = focal ratio
    assert np.median(db / da) == pytest.approx(45.0 / 300.0, rel=1e-4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fx", "-3"], "focal length must be positive"),
        (["--fx", "1e9"], "absurd"),
        (["--fx", "300", "--fov", "60"], "only one of"),
        (["--fov", "200"], "field of view"),
    ],
)
def test_bad_focal_is_one_line_error(tmp_path, photo, model_dir, capsys, args, message):
    out = tmp_path / "out"
    assert main(["depth", str(photo), "--model", str(model_dir), *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not out.exists()  # nothing half-written


def test_file_backend_size_mismatch_and_nan(tmp_path, photo, capsys):
    np.save(tmp_path / "small.npy", np.ones((10, 10), np.float32))
    assert main(["depth", str(photo), "--model", f"file:{tmp_path / 'small.npy'}", "--fx", "100", "-o", str(tmp_path / "o")]) == 2
    assert "does not match the image" in capsys.readouterr().err
    bad = np.ones((60, 90), np.float32)
    bad[0, 0] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    assert main(["depth", str(photo), "--model", f"file:{tmp_path / 'inf.npy'}", "--fx", "100", "-o", str(tmp_path / "o")]) == 2
    assert "NaN/inf" in capsys.readouterr().err
    assert main(["depth", str(photo), "--model", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    assert "no config.json" in capsys.readouterr().err
