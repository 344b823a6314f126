"""``see3d weights`` against a local Hub (tests/hub_server.py on 127.0.0.1) serving tiny models in
the published repositories' layouts; the default model choice of ``generate`` / ``depth``.

No test touches the network: ``HF_ENDPOINT`` points at the local server and ``HF_HOME`` at a
temporary folder (read by see3d at call time, so huggingface_hub's import-time constants do
not matter).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hub_server import FakeHub
from see3d.cli import main
from see3d.errors import See3DError

pytest.importorskip("huggingface_hub")

DA_REPO = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"
M3D_REPO = "onnx-community/metric3d-vit-small"
SEE3D_REPO = "bruiiii/See3D"
SEE3D_REV = "cbf13b6f813137134907408e40d3f2a17d6f0a80"


# ----------------------------------------------------------------------------- tiny replicas
def _tiny_depth_anything(tmp: Path) -> dict[str, bytes]:
    """A tiny transformers Depth Anything (metric) saved as the -hf repositories hold it."""
    import torch

    pytest.importorskip("transformers")
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    try:
        from transformers import DPTImageProcessorPil as Proc
    except ImportError:
        from transformers import DPTImageProcessor as Proc
    bb = Dinov2Config(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, out_features=["stage1", "stage2"], reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=bb, reassemble_hidden_size=32, neck_hidden_sizes=[16, 32], reassemble_factors=[2, 1],
                              fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="metric", max_depth=20)
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(cfg).eval()
    with torch.no_grad():
        for p in model.head.parameters():
            p.mul_(4.0)
    d = tmp / "da"
    model.save_pretrained(d)
    Proc(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14).save_pretrained(d)
    files = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    files["README.md"] = b"---\nlicense: apache-2.0\n---\n"
    files[".gitattributes"] = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    return files


def _tiny_metric3d_onnx() -> bytes:
    """A tiny graph with the onnx-community interface: pixel_values [1, 3, H, W] (raw 0-255) ->
    predicted_depth [1, H, W] = mean over channels / 25.5 (a canonical depth of 0-10)."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("predicted_depth", TensorProto.FLOAT, [1, "h", "w"])
    k = helper.make_tensor("k", TensorProto.FLOAT, [], [1 / 25.5])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values", "axes"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "k"], ["predicted_depth"]),
    ]
    g = helper.make_graph(nodes, "tiny_metric3d", [x], [y], initializer=[k, axes])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    return m.SerializeToString()


def _tiny_see3d_release() -> dict[str, bytes]:
    """The release repository's layout (checkpoint/MVD_weights/...) with tiny stand-in files."""
    from safetensors.numpy import save

    rng = np.random.default_rng(0)
    t = lambda n: save({"w": rng.standard_normal(n).astype(np.float32)})  # noqa: E731
    root = "checkpoint/MVD_weights"
    files = {"README.md": b"See3D", "example_test_data.zip": bytes(rng.integers(0, 256, 3000, dtype=np.uint8))}
    for v in ("single", "sparse", "SR"):
        files[f"{root}/unet/{v}/ema-checkpoint/config.json"] = json.dumps({"variant": v}).encode()
        files[f"{root}/unet/{v}/ema-checkpoint/diffusion_pytorch_model.safetensors"] = t(400)
    files[f"{root}/model_index.json"] = b'{"_class_name": "MVDreamPipeline"}'
    files[f"{root}/vae/config.json"] = b'{"_class_name": "AutoencoderKL"}'
    files[f"{root}/vae/diffusion_pytorch_model.safetensors"] = t(300)
    files[f"{root}/text_encoder/config.json"] = b"{}"
    files[f"{root}/text_encoder/model.safetensors"] = t(200)
    files[f"{root}/tokenizer/vocab.json"] = b"{}"
    files[f"{root}/scheduler/scheduler_config.json"] = b'{"prediction_type": "v_prediction"}'
    clip = f"{root}/CLIP-ViT-H-14-laion2B-s32B-b79K"
    files[f"{clip}/config.json"] = b"{}"
    files[f"{clip}/model.safetensors"] = t(250)
    files[f"{clip}/open_clip_pytorch_model.bin"] = bytes(2000)
    return files


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = FakeHub().start()
    tmp = tmp_path_factory.mktemp("replicas")
    h.add_repo(DA_REPO, _tiny_depth_anything(tmp))
    h.add_repo(M3D_REPO, {
        "config.json": b'{"model_type": "metric3d"}',
        "preprocessor_config.json": b'{"do_rescale": false, "do_normalize": false}',
        "onnx/model.onnx": _tiny_metric3d_onnx(),
        "onnx/model_fp16.onnx": bytes(1500),
        "README.md": b"---\nlicense: cc0-1.0\n---\n",
    })
    h.add_repo(SEE3D_REPO, _tiny_see3d_release(), revision=SEE3D_REV)
    yield h
    h.stop()


@pytest.fixture
def hf_env(hub, tmp_path, monkeypatch):
    """An empty Hugging Face cache and the local Hub; no token, not offline."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    hub.requests.clear()
    return tmp_path / "hf" / "hub"


def _blob_of(path: Path) -> Path:
    return Path(os.path.realpath(path))


# ----------------------------------------------------------------------------- registry
def test_registry_holds_the_published_models_with_their_facts():
    from see3d.weights import depth_auto_order, registry

    reg = registry()
    for name in ("metric3d-vit-small", "metric3d-vit-large", "depth-pro", "see3d", "see3d-sparse", "see3d-single", "tiny-sd",
                 *(f"da2-metric-{s}-{z}" for s in ("indoor", "outdoor") for z in ("small", "base", "large"))):
        e = reg[name]
        assert e.repo and e.allow and e.size and e.license and e.revision, name
    for z in ("small", "base", "large"):  # the training cameras of the focal correction
        assert reg[f"da2-metric-indoor-{z}"].camera["dataset"] == "Hypersim"
        assert reg[f"da2-metric-outdoor-{z}"].camera["dataset"] == "Virtual KITTI 2"
    assert reg["see3d"].revision == SEE3D_REV and reg["see3d"].target == "checkpoint/MVD_weights"
    assert not reg["see3d-sparse"].wants("checkpoint/MVD_weights/unet/single/ema-checkpoint/config.json")
    assert not reg["see3d"].wants("checkpoint/MVD_weights/CLIP-ViT-H-14-laion2B-s32B-b79K/open_clip_pytorch_model.bin")
    order = [e.name for e in depth_auto_order()]
    assert order[:3] == ["metric3d-vit-large", "depth-pro", "metric3d-vit-small"] and "tiny-sd" not in order
    # the registry is package data
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "weights/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["see3d"]


# ----------------------------------------------------------------------------- get / path / remove
def test_get_fetches_exactly_the_entrys_files_into_the_hf_cache(hub, hf_env, capsys):
    assert main(["weights", "get", "da2-metric-indoor-small"]) == 0
    assert main(["weights", "path", "da2-metric-indoor-small"]) == 0
    p = Path(capsys.readouterr().out.strip())
    repo = hub.repos[DA_REPO]
    assert p == hf_env / f"models--{DA_REPO.replace('/', '--')}" / "snapshots" / repo.commit
    assert sorted(f.name for f in p.iterdir()) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    for f in p.iterdir():  # byte-identical; large files stored under their sha256 (huggingface_hub's layout)
        assert f.read_bytes() == repo.files[f.name]
    assert _blob_of(p / "model.safetensors").name == hashlib.sha256(repo.files["model.safetensors"]).hexdigest()
    assert (p.parents[1] / "refs" / "main").read_text() == repo.commit
    # huggingface_hub itself finds it offline
    from huggingface_hub import snapshot_download

    allow = ["config.json", "preprocessor_config.json", "model.safetensors"]
    assert Path(snapshot_download(DA_REPO, cache_dir=str(hf_env), local_files_only=True, allow_patterns=allow)) == p
    # a second get downloads nothing
    n = len(hub.file_gets("model.safetensors"))
    assert main(["weights", "get", "da2-metric-indoor-small"]) == 0
    assert len(hub.file_gets("model.safetensors")) == n
    # remove deletes it
    assert main(["weights", "remove", "da2-metric-indoor-small"]) == 0
    capsys.readouterr()
    assert not p.exists()
    assert main(["weights", "path", "da2-metric-indoor-small"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: model da2-metric-indoor-small is not downloaded: run `see3d weights get da2-metric-indoor-small`"]


def test_see3d_release_entries_and_fill_model_choice(hub, hf_env):
    from see3d import weights

    with pytest.raises(See3DError, match="see3d weights get see3d-sparse"):
        weights.resolve_fill_model("see3d-sparse")
    assert weights.resolve_fill_model("auto", cuda=True).model is None  # nothing cached: bundled
    weights.get("see3d-sparse", progress=False, say=lambda m: None)
    root = weights.path("see3d-sparse")
    assert root.name == "MVD_weights" and root.parent.name == "checkpoint"
    got = sorted(f.relative_to(root).as_posix() for f in root.rglob("*") if f.is_file())
    assert "unet/sparse/ema-checkpoint/diffusion_pytorch_model.safetensors" in got and "vae/config.json" in got
    assert not any(g.startswith(("unet/single", "unet/SR")) or g.endswith("open_clip_pytorch_model.bin") for g in got)
    assert not (root.parents[1] / "example_test_data.zip").exists()
    # auto: the release with a GPU, the bundled model without; a name forces it
    gpu = weights.resolve_fill_model("auto", cuda=True)
    assert gpu.model == weights.release_fill_model(root) == str(root) and gpu.record["commit"] == SEE3D_REV
    assert weights.resolve_fill_model("auto", cuda=False).model is None
    assert weights.resolve_fill_model("see3d-sparse").model == str(root)
    assert weights.resolve_fill_model("bundled").model is None
    # removing one variant keeps what another downloaded variant needs
    weights.get("see3d-single", progress=False, say=lambda m: None)
    weights.remove("see3d-sparse")
    assert weights.status("see3d-single").ok and not weights.status("see3d-sparse").ok
    assert (weights.path("see3d-single") / "vae" / "config.json").is_file()


# ----------------------------------------------------------------------------- interrupted / damaged
def test_dropped_connection_resumes_with_a_range_request(hub, hf_env, monkeypatch):
    import huggingface_hub.constants as hc

    from see3d import weights

    monkeypatch.setattr(hc, "DOWNLOAD_CHUNK_SIZE", 4096)
    size = len(hub.repos[DA_REPO].files["model.safetensors"])
    hub.drop_after["model.safetensors"] = 3 * 4096 + 100
    weights.get("da2-metric-indoor-small", progress=False, say=lambda m: None)
    gets = hub.file_gets("model.safetensors")
    assert [g.get("range") for g in gets] == [None, f"bytes={3 * 4096}-"] and size > 3 * 4096
    assert (weights.path("da2-metric-indoor-small") / "model.safetensors").read_bytes() == hub.repos[DA_REPO].files["model.safetensors"]


@pytest.mark.slow
def test_download_killed_midway_continues_on_the_next_run(hub, hf_env):
    """A process killed during a download leaves its partial file; the next run asks only for the rest."""
    from see3d import weights

    stop = 4 * 4096
    hub.stall_after["model.safetensors"] = stop
    hub.release.clear()
    code = (
        "import sys, huggingface_hub.constants as c; c.DOWNLOAD_CHUNK_SIZE = 4096; "
        "from see3d.cli import main; sys.exit(main(['weights', 'get', 'da2-metric-indoor-small', '-q']))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "HF_HUB_DOWNLOAD_TIMEOUT": "120"}, stderr=subprocess.PIPE)
    blobs = hf_env / f"models--{DA_REPO.replace('/', '--')}" / "blobs"
    t0 = time.time()
    while time.time() - t0 < 60:
        parts = list(blobs.glob("*.see3d-part")) if blobs.is_dir() else []
        if parts and parts[0].stat().st_size >= stop:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    else:
        pytest.fail("the download never reached the stall point")
    proc.kill()
    proc.wait(10)
    hub.release.set()
    assert parts[0].stat().st_size == stop and not weights.status("da2-metric-indoor-small").ok
    assert main(["weights", "get", "da2-metric-indoor-small", "-q"]) == 0
    gets = hub.file_gets("model.safetensors")
    assert [g.get("range") for g in gets] == [None, f"bytes={stop}-"]
    p = weights.path("da2-metric-indoor-small")
    assert (p / "model.safetensors").read_bytes() == hub.repos[DA_REPO].files["model.safetensors"]
    assert not list(blobs.glob("*.see3d-part"))


def test_corrupted_download_is_detected_and_never_used(hub, hf_env, capsys):
    from see3d import weights

    good = hub.repos[DA_REPO].files["model.safetensors"]
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    hub.corrupt["model.safetensors"] = bytes(bad)
    try:
        assert main(["weights", "get", "da2-metric-indoor-small"]) == 2
    finally:
        hub.corrupt.clear()
    err = capsys.readouterr().err
    assert "arrived damaged" in err and "see3d weights get da2-metric-indoor-small" in err
    blobs = hf_env / f"models--{DA_REPO.replace('/', '--')}" / "blobs"
    assert not any(b.read_bytes() == bytes(bad) for b in blobs.iterdir() if b.is_file())
    assert weights.best_cached_depth() is None and weights.resolve_depth("auto").spec == "tiny"


def test_damaged_cached_file_is_refused_and_get_repairs_it(hub, hf_env):
    from see3d import weights

    weights.get("da2-metric-indoor-small", progress=False, say=lambda m: None)
    blob = _blob_of(weights.path("da2-metric-indoor-small") / "model.safetensors")
    good = blob.read_bytes()
    blob.write_bytes(good[:-10])  # truncated
    with pytest.raises(See3DError, match=r"truncated or corrupted.*see3d weights get da2-metric-indoor-small"):
        weights.path("da2-metric-indoor-small")
    flipped = bytearray(good)
    flipped[100] ^= 1
    blob.write_bytes(bytes(flipped))  # same size, other bytes
    with pytest.raises(See3DError, match="sha256 .* where the Hub lists"):
        weights.path("da2-metric-indoor-small")
    assert weights.resolve_depth("auto").spec == "tiny"
    weights.get("da2-metric-indoor-small", progress=False, say=lambda m: None)
    assert (weights.path("da2-metric-indoor-small") / "model.safetensors").read_bytes() == good


def test_offline_and_missing_models_fail_in_one_line_without_network(hub, hf_env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["weights", "get", "metric3d-vit-small"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HF_HUB_OFFLINE" in err[0] and "see3d weights get metric3d-vit-small" in err[0]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    from see3d.io import save_image

    save_image(tmp_path / "photo.png", np.full((24, 32, 3), 128, np.uint8))
    assert main(["depth", str(tmp_path / "photo.png"), "--model", "metric3d-vit-small", "-o", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: model metric3d-vit-small is not downloaded: run `see3d weights get metric3d-vit-small`"]
    assert hub.requests == []  # only `see3d weights get` talks to the Hub


# ----------------------------------------------------------------------------- models by name
def test_published_models_load_by_name_with_their_registry_facts(hub, hf_env, image):
    from see3d import weights
    from see3d.camera import Intrinsics
    from see3d.depth import load_backend

    weights.get("da2-metric-indoor-small", progress=False, say=lambda m: None)
    weights.get("metric3d-vit-small", progress=False, say=lambda m: None)
    assert weights.path("metric3d-vit-small").name == "model.onnx"
    assert not (weights.path("metric3d-vit-small").parent / "model_fp16.onnx").exists()
    onnx_backend = load_backend("metric3d-vit-small")
    if hasattr(onnx_backend, "normalized"):
        assert onnx_backend.normalized is False  # raw 0-255 into the graph, as its preprocessor_config says
    b = load_backend("da2-metric-indoor-small")
    assert b.training_camera["dataset"] == "Hypersim"
    assert b.model_record["name"] == "da2-metric-indoor-small" and b.model_record["commit"] == hub.repos[DA_REPO].commit
    # Hypersim at the network input: 886.81 px * 518 / 768 = 598.13 px. A camera the network sees at that
    # focal gets the raw depth back; twice the focal, twice the depth.
    raw = b.raw_depth(image)
    nh, nw = b._net_hw
    f = 886.81 * 518 / 768
    intr = Intrinsics(f * 70 / nw, f * 45 / nh, 34.5, 22.0, 70, 45)
    np.testing.assert_allclose(b.predict(image, intr).depth, np.minimum(raw, 300), rtol=1e-5)
    intr2 = Intrinsics(2 * intr.fx, 2 * intr.fy, 34.5, 22.0, 70, 45)
    np.testing.assert_allclose(b.predict(image, intr2).depth, np.minimum(2 * raw, 300), rtol=1e-5)
    # auto picks the better of the two cached models (Metric3D ViT-S ranks above Depth Anything Small)
    assert weights.resolve_depth("auto").record["name"] == "metric3d-vit-small"


def test_eval_depth_by_name_equals_the_backend_built_by_hand(hub, hf_env, shared_data, tmp_path):
    from see3d import weights
    from see3d.depth.hf import HFDepthBackend
    from see3d.eval.depth import evaluate_annotations

    weights.get("da2-metric-indoor-small", progress=False, say=lambda m: None)
    ann = shared_data / "metric3d_demo" / "test_annotations.json"
    if not ann.is_file():
        pytest.skip(f"{ann} not found")
    assert main(["eval", "depth", str(ann), "--model", "da2-metric-indoor-small", "--json", str(tmp_path / "m.json"), "-q"]) == 0
    by_name = json.loads((tmp_path / "m.json").read_text())
    cam = weights.get_entry("da2-metric-indoor-small").camera
    b = HFDepthBackend(weights.path("da2-metric-indoor-small"), training_camera=cam)
    ref = evaluate_annotations(ann, lambda img, intr: b.predict(img, intr).depth, "auto", False).to_dict()
    assert by_name["mean"] == pytest.approx(ref["mean"], rel=1e-6) and by_name["mean"]["abs_rel"] > 0


# ----------------------------------------------------------------------------- the end-to-end default
@pytest.mark.slow
def test_generate_uses_the_fetched_model_by_default(hub, hf_env, tmp_path, capsys):
    """Empty cache: `generate` warns and runs tiny; after `weights get` it runs the fetched model
    without any flag, records it (with its commit) in run.json, and its depth is that model's."""
    from see3d.camera import Intrinsics
    from see3d.depth.hf import HFDepthBackend
    from see3d.io import load_image, save_image
    from see3d.weights import TINY_WARNING, get_entry, path

    rng = np.random.default_rng(1)
    photo = tmp_path / "photo.png"
    save_image(photo, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    args = ["--frames", "3", "--fill", "telea", "--no-gaussians", "--max-size", "64", "-q"]
    assert main(["generate", str(photo), "-o", str(tmp_path / "out0"), *args]) == 0
    assert TINY_WARNING in capsys.readouterr().err
    run0 = json.loads((tmp_path / "out0" / "run.json").read_text())
    assert run0["models"]["depth"]["name"] == "tiny" and run0["models"]["filler"] == "telea"

    assert main(["weights", "get", "da2-metric-indoor-small", "-q"]) == 0
    n_requests = len(hub.requests)
    assert main(["generate", str(photo), "-o", str(tmp_path / "out"), *args]) == 0
    assert TINY_WARNING not in capsys.readouterr().err
    assert len(hub.requests) == n_requests  # generate never asks the Hub
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    dm = run["models"]["depth"]
    assert dm["name"] == "da2-metric-indoor-small" and dm["chosen"] == "auto"
    assert dm["repo"] == DA_REPO and dm["revision"] == "main" and dm["commit"] == hub.repos[DA_REPO].commit
    # the input view's depth is that model's prediction for the photo (60 deg default field of view)
    img = load_image(photo)
    intr = Intrinsics.from_fov(60.0, 64, 48)
    want = HFDepthBackend(path("da2-metric-indoor-small"), training_camera=get_entry("da2-metric-indoor-small").camera).predict(img, intr).depth
    got = np.load(tmp_path / "out" / "depth" / "0000.npy")
    known = want > 0
    np.testing.assert_allclose(got[known], want[known], rtol=1e-5)


def test_inpainting_entry_resolves_by_name_for_see3d_edit(hf_env):
    """`see3d edit --prompt T --inpaint NAME` takes a published inpainting model by name: not yet
    downloaded, the one line names the command that fetches it; another task's name is refused."""
    from see3d.errors import See3DError
    from see3d.pipeline.text import resolve_diffusers_model
    from see3d.weights import registry

    assert registry()["sd15-inpainting"].task == "inpainting"
    with pytest.raises(See3DError, match=r"see3d weights get sd15-inpainting"):
        resolve_diffusers_model("sd15-inpainting", "inpainting", "--inpaint")
    with pytest.raises(See3DError, match="is a text-to-image model, not an inpainting model"):
        resolve_diffusers_model("tiny-sd", "inpainting", "--inpaint")
