"""The WebGL splat viewer: local server rules, and headless-Chromium screenshots against renders."""

from __future__ import annotations

import base64
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from see3d.camera import Intrinsics, look_at
from see3d.gs import GaussianModel, render_views
from see3d.gs.export import gaussians_to_splat_bytes, splat_bytes_to_gaussians
from see3d.gs.metrics import psnr
from see3d.viewer import HOST, camera_from_pose, serve, viewer_html, write_viewer_html

BG = (0.1, 0.2, 0.3)
W, H = 160, 120


def _scene() -> GaussianModel:
    g = torch.Generator().manual_seed(3)
    n = 300
    sh = torch.zeros(n, 1, 3)
    sh[:, 0] = (torch.rand(n, 3, generator=g) - 0.5) / 0.28209479177387814
    return GaussianModel(
        means=(torch.rand(n, 3, generator=g) - 0.5) * 1.2,
        quats=torch.randn(n, 4, generator=g),
        log_scales=torch.log(torch.rand(n, 3, generator=g) * 0.08 + 0.02),
        opacity_logits=torch.randn(n, generator=g) + 1.5,
        sh=sh,
    )


def _camera(model):
    intr = Intrinsics.from_fov(55.0, W, H)
    pose = look_at(np.array([0.3, -0.4, -2.0]), np.zeros(3))
    return camera_from_pose(pose, intr, model), intr, pose


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium not installed (Debian package 'chromium')")


def _screenshot(url: str, tmp: Path) -> np.ndarray:
    from PIL import Image

    exe = _chromium()
    shot = tmp / "shot.png"
    cmd = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-quic", "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={tmp / 'profile'}",
        "--window-size=640,480", "--virtual-time-budget=8000", f"--screenshot={shot}", url,
    ]
    run = subprocess.run(cmd, capture_output=True, timeout=120)
    if not shot.is_file():  # Chromium is there: a missing screenshot is a failure, not a skip
        tail = run.stderr.decode(errors="replace").strip().splitlines()[-3:]
        pytest.fail(f"Chromium produced no screenshot (exit {run.returncode}): {' | '.join(tail)}")
    img = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32) / 255.0
    return img[:H, :W]  # the page pins the canvas to W x H at the top-left (?size=WxH)


def _expected(model, intr, pose) -> np.ndarray:
    # the viewer draws the .splat form of the scene (8-bit colours and opacities)
    return render_views(splat_bytes_to_gaussians(gaussians_to_splat_bytes(model)), intr, pose[None], background=BG)[0]


def _check(shot: np.ndarray, ref: np.ndarray) -> None:
    drawn = np.abs(shot - np.array(BG, np.float32)).max(axis=-1) > 0.05
    ref_drawn = np.abs(ref - np.array(BG, np.float32)).max(axis=-1) > 0.05
    assert drawn.mean() > 0.2, "the splats are not drawn"
    assert abs(drawn.mean() - ref_drawn.mean()) < 0.05
    assert psnr(shot, ref) > 25.0  # measured 29.3 dB (8-bit framebuffer, float rounding)


def test_html_viewer_draws_the_same_view_as_the_rasterizer(tmp_path):
    model = _scene()
    cam, intr, pose = _camera(model)
    page = write_viewer_html(model, tmp_path / "scene.html", cam, background=BG)
    text = page.read_text()
    assert "see3d-data" in text and "http" not in text.split("<script>")[0].lower()  # self-contained
    shot = _screenshot(page.as_uri() + f"?size={W}x{H}", tmp_path)
    _check(shot, _expected(model, intr, pose))


def test_server_serves_only_the_page_and_the_scene(tmp_path):
    model = _scene()
    cam, intr, pose = _camera(model)
    (tmp_path / "secret.txt").write_text("do not serve")
    with serve(model, port=0, camera=cam, background=BG) as srv:
        assert srv.httpd.server_address[0] == HOST == "127.0.0.1"
        page = urllib.request.urlopen(srv.url, timeout=10).read().decode()
        assert "see3d-canvas" in page
        data = urllib.request.urlopen(srv.url + "scene.splat", timeout=10).read()
        assert data == gaussians_to_splat_bytes(model)
        for bad in ("secret.txt", "../secret.txt", "..%2Fsecret.txt", "etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "transforms.json"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(srv.url + bad, timeout=10)
            assert e.value.code == 404
        shot = _screenshot(srv.url + f"?size={W}x{H}", tmp_path)
    _check(shot, _expected(model, intr, pose))


def test_page_without_embedded_scene_fetches_it():
    model = _scene()
    page = viewer_html(model, embed=False)
    assert '"url": "scene.splat"' in page
    assert 'id="see3d-data"></script>' in page
    embedded = viewer_html(model, embed=True)
    assert len(embedded) > len(page) + 4 * len(model) * 32 // 3 - 10
    data = base64.b64encode(gaussians_to_splat_bytes(model)).decode("ascii")
    assert f'id="see3d-data">{data}</script>' in embedded and data[:64] not in page


@pytest.mark.parametrize("command", ["render", "view", "reconstruct"])
@pytest.mark.parametrize("value, why", [("1,2", "three numbers"), ("a,b,c", "r,g,b numbers"), ("0,0,1.5", "three numbers")])
def test_bad_background_is_one_line_error(tmp_path, capsys, command, value, why):
    """The scene commands share one ``--background`` parser: a bad colour is refused before any work."""
    from see3d.cli import main

    out = ["-o", str(tmp_path / ("v.mp4" if command == "render" else "out"))] if command != "view" else []
    assert main([command, str(tmp_path / "missing"), *out, "--background", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--background" in err[0] and why in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "v.mp4").exists()
