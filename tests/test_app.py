"""``see3d app``: run folders and the job (no Gradio needed), the Gradio API end to end, Cancel,
bad uploads, and the page in a real browser (headless Chromium through playwright)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from see3d.app.runs import RESULT, PhotoJob, list_runs, new_run_dir, run_dir_of
from see3d.app.scene import VIEWER_RADIUS, viewer_start_pose
from see3d.errors import See3DError

ROOT = Path(__file__).resolve().parents[1]
#: the fast setting of the tests: Telea fill, 3 views, 160 px, 20 3DGS steps, at most 5000 Gaussians
FAST = {"depth_model": "tiny", "fill": "telea", "trajectory": "orbit", "frames": 3, "max_size": 160, "gaussians": True, "gs_iterations": 20,
        "gs_max_gaussians": 5000, "seed": 0}
#: the page's settings when the README screenshot is retaken (SEE3D_UPDATE_SCREENSHOT=1): closer to the defaults
SHOT = {**FAST, "frames": 6, "max_size": 384, "gs_iterations": 300, "gs_max_gaussians": 30_000}
UPDATE_SHOT = os.environ.get("SEE3D_UPDATE_SCREENSHOT") == "1"
MAX_PIXELS = 2_000_000  # the test app's limits (small, so that "too large" is cheap to test)
MAX_FILE_SIZE = 1_000_000


# ---------------------------------------------------------------- no Gradio needed


def test_job_settings_map_onto_the_generate_command(tmp_path):
    job = PhotoJob(image="in.png", fov=50.0, depth_model="tiny", fill="telea", trajectory="dolly", frames=5, seed=3, max_size=200, gs_iterations=30)
    job.validate()
    cmd = job.command(tmp_path / "result")
    assert cmd[1:4] == ["-m", "see3d", "generate"] and cmd[4] == "in.png"
    args = dict(zip(cmd[5::2], cmd[6::2]))
    assert args == {"-o": str(tmp_path / "result"), "--fov": "50", "--depth-model": "tiny", "--fill": "telea",
                    "--trajectory": "dolly", "--frames": "5", "--seed": "3", "--max-size": "200", "--gs-iterations": "30",
                    "--gs-max-gaussians": "30000"}
    ex = PhotoJob(example="motorcycle", gaussians=False)
    assert "--no-gaussians" in ex.command(tmp_path / "r") and "--depth-model" not in ex.command(tmp_path / "r")
    assert ex.stages()[0] == "trajectory" and job.stages()[0] == "depth" and job.stages()[-1] == "3D Gaussian splatting"
    # every option the app passes exists on the command it runs
    from typer.main import get_command

    from see3d.cli import app

    params = {o for p in get_command(app).commands["generate"].params for o in p.opts}
    assert {a for a in cmd if a.startswith("-")} <= params | {"-m"}
    for bad, why in [(PhotoJob(), "upload a photo"), (PhotoJob(image="a", example="motorcycle"), "upload a photo"),
                     (PhotoJob(image="a", frames=1), "views"), (PhotoJob(image="a", trajectory="zoom"), "trajectory"),
                     (PhotoJob(image="a", fov=0.5), "field of view"), (PhotoJob(image="a", cx=3.0), "fx")]:
        with pytest.raises(See3DError, match=why):
            bad.validate()


def test_runs_are_new_folders_and_only_finished_ones_are_listed(tmp_path):
    a, b = new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert a != b and a.parent == b.parent == tmp_path and not any(a.iterdir())
    (a / RESULT).mkdir()
    (a / RESULT / "transforms.json").write_text("{}")
    (a / "job.json").write_text(json.dumps({"settings": {"example": "motorcycle", "frames": 3, "trajectory": "orbit", "fill": "telea"}}))
    (tmp_path / "notes").mkdir()  # not a run
    assert [name for _, name in list_runs(tmp_path)] == [a.name]  # b has no result (failed or cancelled)
    assert "motorcycle, 3 views" in list_runs(tmp_path)[0][0]
    assert run_dir_of(tmp_path, a.name) == a
    for bad in ("../etc", b.name, "notes", "/tmp", ""):
        with pytest.raises(See3DError):
            run_dir_of(tmp_path, bad)


def test_app_command_without_gradio_says_how_to_install(monkeypatch, capsys):
    from see3d.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    assert main(["app", "--port", "7861"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install -e ".[app]"' in err[0]


def test_models_offered_are_the_downloaded_ones(monkeypatch):
    """Depth models: auto, each published depth model the cache holds intact, the bundled tiny; the
    Text to 3D tab only with a downloaded text-to-image model."""
    pytest.importorskip("gradio")
    from types import SimpleNamespace

    from see3d import weights
    from see3d.app.ui import cached_text_model, depth_choices

    have = {"da2-metric-indoor-small"}
    monkeypatch.setattr(weights, "status", lambda name, deep=True: SimpleNamespace(ok=name in have))
    values = [v for _, v in depth_choices()]
    assert values == ["auto", "da2-metric-indoor-small", "tiny"]
    assert "Hypersim" in dict((v, k) for k, v in depth_choices())["da2-metric-indoor-small"]
    assert cached_text_model() is None
    have.add("tiny-sd")
    assert cached_text_model() == "tiny-sd"


# ---------------------------------------------------------------- the running app


@pytest.mark.timeout(120)
def test_app_command_on_a_busy_port_is_one_line(tmp_path, capsys):
    pytest.importorskip("gradio")
    from see3d.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["app", "--port", str(port), "--out-root", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: port {port} on 127.0.0.1 is in use; choose another with --port"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app on a free port of 127.0.0.1 (threads of this process), with the fast defaults."""
    pytest.importorskip("gradio")
    pytest.importorskip("gradio_client")
    from see3d.app.ui import launch, stop

    root = tmp_path_factory.mktemp("app_runs")
    port = _free_port()
    demo = launch(root, port=port, block=False, quiet=True, max_pixels=MAX_PIXELS, max_file_size=MAX_FILE_SIZE,
                  defaults=SHOT if UPDATE_SHOT else FAST)
    try:
        yield demo, f"http://127.0.0.1:{port}/", root
    finally:
        stop(demo)


def _client(url, tmp_path):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=str(tmp_path / "downloads"))


def _run_args(photo=None, example="motorcycle", **kw):
    s = {**FAST, **kw}
    return [photo, example, None, None, None, None, None, s["depth_model"], s["fill"], s["trajectory"], s["frames"], s["seed"],
            s["max_size"], s["gaussians"], s["gs_iterations"], s["gs_max_gaussians"], False]


@pytest.mark.slow
def test_api_example_end_to_end_then_bad_uploads(served, tmp_path):
    import av
    from gradio_client import handle_file

    from see3d.gs import load_ply

    demo, url, root = served
    assert demo.local_url.startswith("http://127.0.0.1:")
    client = _client(url, tmp_path)
    t0 = time.perf_counter()
    status, gallery, video, scene, zip_path, runs, editor = client.predict(*_run_args(), api_name="/run")
    wall = time.perf_counter() - t0
    name = runs["value"]  # the new run, selected in the list of runs
    assert "Finished" in status and name in status
    run = root / name
    assert (run / RESULT / ".see3d.json").is_file() and not [p for p in root.iterdir() if p.name.startswith(".")]

    # the gallery holds the 3 views, as written in the run folder (0000 = the input camera)
    assert len(gallery) == 3
    for i, item in enumerate(gallery):
        got = np.asarray(Image.open(item["image"]).convert("RGB"))
        want = np.asarray(Image.open(run / RESULT / "views" / f"{i:04d}.png").convert("RGB"))
        assert got.shape == (108, 160, 3) and np.array_equal(got, want)
    ex = np.asarray(Image.open(run / "input.png").resize((160, 108), Image.BILINEAR), dtype=np.float32)
    assert np.abs(np.asarray(Image.open(gallery[0]["image"]), dtype=np.float32) - ex).mean() < 8  # the photo itself
    with av.open(video if isinstance(video, str) else video["video"]) as f:
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape[:2] == (108, 160)
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        z.extract(f"{name}/result/scene.ply", tmp_path / "unzipped")
    assert {f"{name}/input.png", f"{name}/job.json", f"{name}/result/views/0002.png", f"{name}/result/scene.ply"} <= names
    fitted = load_ply(tmp_path / "unzipped" / name / RESULT / "scene.ply")
    assert 1000 < len(fitted) <= 5000 and np.isfinite(fitted.means.detach().numpy()).all()
    # the 3D viewer shows the fitted scene moved to start at the input camera: a similarity transform
    shown = load_ply(scene)
    assert len(shown) == len(fitted)
    C = viewer_start_pose()
    cam = (shown.means.detach().double().numpy() - C[:3, 3]) @ C[:3, :3]  # in the viewer's start camera
    src = fitted.means.detach().double().numpy()
    A = np.c_[src, np.ones(len(src))]
    coef, *_ = np.linalg.lstsq(A, cam, rcond=None)
    assert np.allclose(coef[:3], coef[0, 0] * np.eye(3), atol=1e-4) and coef[0, 0] > 0  # scale only, no rotation
    assert np.abs(A @ coef - cam).max() < 1e-3
    z = cam[:, 2][shown.opacities.detach().numpy() >= 0.1]
    assert abs(np.median(z) - VIEWER_RADIUS) < 0.05 and np.median(np.abs(cam[:, 0] / cam[:, 2])) < 0.5
    assert runs["value"] == name and [name] == [v for _, v in runs["choices"]]

    # masks toggled: 0/255 images, the input camera's all seen
    masks = client.predict(name, True, api_name="/masks")
    m = [np.asarray(Image.open(x["image"]).convert("L")) for x in masks]
    assert len(m) == 3 and set(np.unique(np.concatenate([x.ravel() for x in m]))) <= {0, 255} and m[0].min() == 255
    assert 0 < (m[1] == 0).mean() < 0.5  # the moved cameras see holes, filled by the filler
    # reopened from the list of runs
    again = client.predict(name, False, api_name="/open_run")
    assert again[5]["value"] == name and len(again[1]) == 3

    # bad uploads: one readable line each, no run folder, and the app still answers
    from gradio_client.exceptions import AppError

    bad = tmp_path / "photo.png"
    bad.write_text("this is not an image\n")
    big = tmp_path / "huge.png"
    Image.new("RGB", (2000, 1500), (90, 120, 150)).save(big)  # 3 Mpixel > the test app's 2
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    for path, why in [(bad, "cannot read image photo.png"), (big, "Mpixel limit"), (notes, "Invalid file type")]:
        with pytest.raises(AppError) as e:
            client.predict(*_run_args(handle_file(str(path)), example=None), api_name="/run")
        msg = str(e.value)
        assert why in msg and "Traceback" not in msg and len(msg.splitlines()) == 1, msg
    heavy = tmp_path / "heavy.png"
    heavy.write_bytes(b"\x89PNG" + os.urandom(MAX_FILE_SIZE + 1000))  # over the upload limit
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict(*_run_args(handle_file(str(heavy)), example=None), api_name="/run")
    with pytest.raises(AppError, match="upload a photo or choose the bundled example"):
        client.predict(*_run_args(None, example=None), api_name="/run")
    assert [p.name for p in root.iterdir()] == [name]
    good = tmp_path / "good.png"
    Image.open(run / "input.png").save(good)
    preview, note = client.predict(handle_file(str(good)), None, None, None, None, None, None, api_name="/camera")
    assert "741x500 px" in note and "guessed" in note and "fx 641.7" in note  # 60 deg across 741 px
    # the server hands out files under the output root (and its own cache) only
    import urllib.error
    import urllib.request

    secret = tmp_path / "secret.txt"
    secret.write_text("not for the page")
    assert urllib.request.urlopen(f"{url}gradio_api/file={run / 'input.png'}", timeout=10).status == 200
    for path in (secret, ROOT / "README.md", f"{root}/../{secret.parent.name}/secret.txt", "/etc/passwd"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10)
        assert e.value.code in (403, 404), path
    print(f"example end to end through the API: {wall:.1f} s")


@pytest.mark.slow
def test_cancel_stops_the_job_and_leaves_nothing_half_written(served, tmp_path):
    demo, url, root = served
    client = _client(url, tmp_path)
    before = {p.name for p in root.iterdir()}
    job = client.submit(*_run_args(gs_iterations=2000, max_size=320), api_name="/run")
    deadline = time.monotonic() + 60
    tmp = None
    while time.monotonic() < deadline and tmp is None:  # wait until the job is writing its output
        for run in (p for p in root.iterdir() if p.name not in before):
            tmp = next((t for t in run.glob(f".{RESULT}.tmp-*") if (t / "views" / "0002.png").is_file()), None)
        time.sleep(0.2)
    assert tmp is not None, "the job never started writing"
    run = tmp.parent
    proc = demo.see3d.current.proc
    assert proc.poll() is None
    # one job at a time: a second page's job waits, and its page is shown its place in the queue
    from gradio_client.utils import Status

    other = _client(url, tmp_path / "other").submit(*_run_args(frames=2, gaussians=False), api_name="/run")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (other.status().code == Status.IN_QUEUE and other.status().rank == 0):
        time.sleep(0.1)
    assert other.status().code == Status.IN_QUEUE and other.status().rank == 0
    job.cancel()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (proc.poll() is None or any(run.glob(".*"))):
        time.sleep(0.2)
    assert proc.poll() is not None, "the job's process still runs"
    assert not (run / RESULT).exists() and not any(run.glob(".*")), sorted(os.listdir(run))
    assert sorted(os.listdir(run)) == ["input.png", "job.json", "log.txt"]  # kept: the app deletes no run
    assert run.name not in [n for _, n in list_runs(root)]
    # the app goes on with the waiting job
    out = other.result()
    assert "Finished" in out[0] and len(out[1]) == 2 and out[3] is None


@pytest.mark.slow
def test_edit_tab_replaces_the_painted_region_in_a_new_run(served, tmp_path):
    from gradio_client import handle_file

    demo, url, root = served
    client = _client(url, tmp_path)
    done = list_runs(root)
    name = done[-1][1] if done else client.predict(*_run_args(), api_name="/run")[5]["value"]
    src = root / name / RESULT
    view = np.asarray(Image.open(src / "views" / "0000.png").convert("RGB"))
    h, w = view.shape[:2]
    layer = np.zeros((h, w, 4), np.uint8)
    layer[30:70, 60:100] = (255, 0, 255, 255)  # the brush stroke: a 40x40 square in the middle
    Image.fromarray(layer).save(tmp_path / "layer.png")
    Image.new("RGB", (2 * w, 2 * h), (20, 40, 230)).save(tmp_path / "blue.png")  # resized to the view size
    editor = {"background": handle_file(str(src / "views" / "0000.png")), "layers": [handle_file(str(tmp_path / "layer.png"))],
              "composite": handle_file(str(src / "views" / "0000.png"))}
    out = client.predict(name, editor, handle_file(str(tmp_path / "blue.png")), "telea", 0, False, api_name="/edit")
    new = out[5]["value"]
    assert new != name and "Finished" in out[0] and len(out[1]) == 3
    res = root / new / RESULT
    edited = np.asarray(Image.open(res / "views" / "0000.png").convert("RGB")).astype(int)
    inside = np.zeros((h, w), bool)
    inside[30:70, 60:100] = True
    assert np.abs(edited[inside] - (20, 40, 230)).max() <= 2  # the painted region shows the replacement
    assert np.abs(edited[~inside] - view[~inside]).max() <= 2  # nothing else of the input view moved
    for i in (1, 2):  # the moved cameras see the blue square too, where the edit reaches them
        v = np.asarray(Image.open(res / "views" / f"{i:04d}.png").convert("RGB")).astype(int)
        blue = (np.abs(v - (20, 40, 230)).max(-1) < 30).mean()
        assert 0.5 * inside.mean() < blue < 1.5 * inside.mean(), blue
    assert (root / new / "viewer.ply").is_file() and (res / "scene.ply").is_file()
    with pytest.raises(Exception, match="paint the region"):
        client.predict(name, {"background": editor["background"], "layers": [], "composite": editor["composite"]},
                       handle_file(str(tmp_path / "blue.png")), "telea", 0, False, api_name="/edit")


@pytest.mark.slow
def test_sparse_tab_fits_posed_photos_with_generated_views(served, tmp_path):
    """Three posed synth photos (+ the clip's transforms.json, which lists six) -> 3DGS densified
    with two generated views; the viewer's copy starts at the first photo's camera."""
    from gradio_client import handle_file

    from see3d.gs import load_ply, render_views
    from see3d.gs.metrics import psnr
    from see3d.io import read_transforms_json

    from see3d.cli import main

    demo, url, root = served
    assert main(["synth", "-o", str(tmp_path / "clip"), "--frames", "6", "--size", "128", "--height", "96",
                 "--kind", "objects", "-q"]) == 0
    photos = [tmp_path / "clip" / "images" / f"{i:05d}.png" for i in (4, 0, 2)]  # upload order is not the pose order
    files = [handle_file(str(p)) for p in photos] + [handle_file(str(tmp_path / "clip" / "transforms.json"))]
    client = _client(url, tmp_path)
    out = client.predict(files, 2, 50, "tiny", "telea", "orbit", 3, 0, 96, True, 20, 5000, False, api_name="/sparse")
    name = out[5]["value"]
    assert "Finished" in out[0] and len(out[1]) == 2  # the generated views
    res = root / name / RESULT
    cams = read_transforms_json(res / "transforms.json", probe_image_size=False)
    truth = read_transforms_json(tmp_path / "clip" / "transforms.json", probe_image_size=False)
    assert len(cams.poses) == 3 and np.allclose(cams.poses[0], truth.poses[0], atol=1e-6)  # photo 00000 first
    fitted = load_ply(res / "scene.ply")
    k = cams.intrinsics[0]
    photo = np.asarray(Image.open(photos[1]).convert("RGB").resize((k.width, k.height), Image.BILINEAR), np.float32) / 255
    render = np.asarray(render_views(fitted, k, cams.poses[:1])[0])
    assert psnr(render, photo) > 18.0  # the fit reproduces a training photo
    shown = load_ply(root / name / "viewer.ply")
    assert len(shown) == len(fitted)
    with pytest.raises(Exception, match="at least 2 photos"):
        client.predict(files[:1], 2, 50, "tiny", "telea", "orbit", 3, 0, 96, True, 20, 5000, False, api_name="/sparse")


@pytest.mark.slow
def test_text_tab_only_with_a_text_to_image_model(served, tmp_path, monkeypatch):
    """No text-to-image model downloaded: no Text to 3D tab. With one (a tiny random diffusers
    pipeline standing in), the tab makes the picture and runs the photo path on it."""
    pytest.importorskip("diffusers")
    from _tiny_diffusers import build_tiny_pipeline

    import see3d.app.ui as ui

    demo, url, root = served
    assert "/text" not in _client(url, tmp_path).view_api(print_info=False, return_format="dict")["named_endpoints"]
    model = build_tiny_pipeline(tmp_path / "tiny-t2i")
    monkeypatch.setattr(ui, "cached_text_model", lambda: str(model))
    port = _free_port()
    other = ui.launch(tmp_path / "runs", port=port, block=False, quiet=True)
    try:
        out = _client(f"http://127.0.0.1:{port}/", tmp_path).predict(
            "the car", 2, 32, "tiny", "telea", "orbit", 3, 3, 160, False, 20, 5000, False, api_name="/text")
    finally:
        ui.stop(other)
    name = out[5]["value"]
    res = tmp_path / "runs" / name / RESULT
    picture = np.asarray(Image.open(res / "input.png"))
    assert picture.shape == (32, 32, 3) and len(out[1]) == 3 and out[3] is None  # no 3DGS asked for
    assert np.array_equal(np.asarray(Image.open(res / "views" / "0000.png")), picture)  # the photo path ran on it
    assert json.loads((res / "transforms.json").read_text())["see3d"]["source"]["prompt"] == "the car"


# ---------------------------------------------------------------- a real browser


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium not installed (Debian package 'chromium')")


@pytest.mark.slow
def test_browser_upload_run_and_see_the_scene(served, tmp_path):
    """Upload, Run, wait; the gallery holds the views and the 3D viewer (gsplat.js in Gradio's
    Model3D) draws the scene from the input camera: the same picture as see3d's rasterizer."""
    exe = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    import re

    from see3d.camera import Intrinsics
    from see3d.gs import load_ply, render_views
    from see3d.gs.metrics import psnr
    from see3d.app.scene import VIEWER_FOCAL
    from see3d.pipeline.examples import load_example

    demo, url, root = served
    photo = tmp_path / "motorcycle.png"
    Image.fromarray(load_example("motorcycle").image).save(photo)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]  # nothing beyond this machine
    t0 = time.perf_counter()
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=exe, args=args)
        except sync_api.Error as e:  # the environment, not the app: say so and skip
            pytest.skip(f"playwright cannot start {exe}: {str(e).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})  # the whole page, no scrolling
            page.goto(url, wait_until="load", timeout=60_000)
            page.locator("#see3d-run").wait_for(timeout=60_000)
            page.locator("#see3d-photo input[type=file]").set_input_files(str(photo))
            page.wait_for_function("document.querySelector('#see3d-camera').innerText.includes('guessed')", timeout=30_000)
            t_click = time.perf_counter()
            page.locator("#see3d-run").click()
            page.wait_for_function("document.querySelector('#see3d-status').innerText.includes('Finished')", timeout=120_000)
            t_done = time.perf_counter()
            status = page.locator("#see3d-status").inner_text()
            thumbs = page.locator("#see3d-gallery img")
            thumbs.first.wait_for(timeout=30_000)
            n_views = thumbs.count()
            page.wait_for_function("[...document.querySelectorAll('#see3d-gallery img')].every(i => i.complete && i.naturalWidth > 0)",
                                   timeout=30_000)
            canvas = page.locator("#see3d-scene canvas").first
            canvas.wait_for(timeout=30_000)
            W, H = canvas.evaluate("c => [c.width, c.height]")
            box = canvas.bounding_box()
            shot, prev = tmp_path / "app.png", None
            for _ in range(10):  # the splats load and sort in a worker: until the picture holds still
                page.wait_for_timeout(500)
                page.screenshot(path=str(shot))
                full = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32) / 255
                crop = full[round(box["y"]):round(box["y"]) + H, round(box["x"]):round(box["x"]) + W]
                if prev is not None and crop.std() > 0.02 and np.abs(crop - prev).max() < 1e-6:
                    break
                prev = crop
            t_canvas = time.perf_counter()
        finally:
            browser.close()
    wall = time.perf_counter() - t0
    print(f"browser: {wall:.1f} s in all: page and upload {t_click - t0:.1f} s, job {t_done - t_click:.1f} s, "
          f"viewer {t_canvas - t_done:.1f} s; screenshot {shot}")
    if UPDATE_SHOT:
        im = Image.open(shot).convert("RGB")
        im.thumbnail((960, 1200), Image.LANCZOS)
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(ROOT / "docs" / "app.png", optimize=True)

    assert n_views == (SHOT if UPDATE_SHOT else FAST)["frames"]
    assert W > 300 and H > 300 and crop.shape == (H, W, 3)
    assert crop.std() > 0.1, f"the 3D viewer's canvas is blank (pixel std {crop.std():.3f})"
    # the viewer's picture is the fitted scene seen from the viewer's start camera (40-px border
    # left out: the label and the download button lie over the canvas)
    name = re.search(r"Run (\d{8}-\d{6}(?:-\d+)?)", status).group(1)
    shown = load_ply(root / name / "viewer.ply")
    from see3d.app.scene import viewer_start_pose

    ref = render_views(shown, Intrinsics(VIEWER_FOCAL, VIEWER_FOCAL, W / 2, H / 2, W, H), viewer_start_pose()[None],
                       background=(0.0, 0.0, 0.0))[0]
    inner = (slice(40, H - 40), slice(40, W - 40))
    score = float(psnr(crop[inner], np.asarray(ref)[inner]))
    print(f"3D viewer vs rasterizer: {score:.2f} dB")
    assert score > 25.0  # measured 36.9 dB (headless Chromium 156, SwiftShader)
