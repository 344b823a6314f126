"""`see3d generate --prompt`: a text-to-image model (a tiny random diffusers pipeline built here)
makes the input picture, then the single-image path runs on it."""

import json

import numpy as np
import pytest
from PIL import Image

from see3d.cli import main

pytest.importorskip("diffusers")

FAST = ["--t2i-size", "32", "--t2i-steps", "2", "--fill", "telea", "--no-gaussians", "--frames", "3", "--depth-model", "tiny", "-q"]


@pytest.fixture(scope="module")
def t2i(tmp_path_factory):
    from _tiny_diffusers import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("t2i") / "tiny-t2i")


def _reference_image(model, prompt, seed):
    """The same picture straight from diffusers: what --prompt must have used."""
    import torch
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(str(model), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt, num_inference_steps=2, guidance_scale=7.5, height=32, width=32,
               generator=torch.Generator().manual_seed(seed), output_type="np")
    return (np.clip(out.images[0], 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.mark.slow
def test_prompt_to_3d(t2i, tmp_path):
    out = tmp_path / "car"
    assert main(["generate", "--prompt", "the car", "--t2i", str(t2i), "--seed", "3", *FAST, "-o", str(out)]) == 0
    picture = np.asarray(Image.open(out / "input.png"))
    assert picture.shape == (32, 32, 3)
    assert np.array_equal(picture, _reference_image(t2i, "the car", 3))  # seeded, the model's own output
    # the single-image path ran on it: the view at the input camera is the picture
    assert np.array_equal(np.asarray(Image.open(out / "views" / "0000.png")), picture)
    assert len(list((out / "views").glob("*.png"))) == 3 and (out / "transforms.json").is_file()
    meta = json.loads((out / "transforms.json").read_text())["see3d"]["source"]
    assert meta["prompt"] == "the car" and meta["seed"] == 3
    # another seed, another picture; the same seed, the same picture
    out2 = tmp_path / "car2"
    assert main(["generate", "--prompt", "the car", "--t2i", str(t2i), "--seed", "4", *FAST, "-o", str(out2)]) == 0
    assert not np.array_equal(np.asarray(Image.open(out2 / "input.png")), picture)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--prompt", ""], "--prompt is empty"),
        (["--prompt", "   "], "--prompt is empty"),
        (["--prompt", "a car", "--t2i", "{tmp}/nowhere"], "--t2i"),
        (["--prompt", "a car", "--example", "motorcycle"], "--prompt makes its own input"),
        (["--prompt", "a car", "--t2i", "{tmp}", "--t2i-size", "30"], "not a diffusers pipeline folder"),
    ],
)
def test_prompt_bad_input(t2i, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    argv = ["generate", *[a.format(tmp=tmp_path) for a in args], "-o", str(out), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not out.exists()


def test_prompt_size_must_be_a_multiple_of_8(t2i, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", "--prompt", "a car", "--t2i", str(t2i), "--t2i-size", "30", "-o", str(out), "-q"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
    assert not out.exists()


def test_default_model_comes_from_the_weights_cache(tmp_path, monkeypatch, capsys):
    """No --t2i: the registry's tiny-sd from the local cache; not downloaded -> one line naming the get command."""
    pytest.importorskip("see3d.weights")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "out"
    assert main(["generate", "--prompt", "a car", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "see3d weights get tiny-sd" in err[0], err
    assert not out.exists()
    assert main(["generate", "--prompt", "a car", "--t2i", "no-such-model", "-o", str(out), "-q"]) == 2
    assert "no such folder and no published model" in capsys.readouterr().err


@pytest.mark.slow
def test_prompt_jobs_in_a_batch(t2i, tmp_path):
    """--batch with prompt jobs: each job's own prompt and seed, one folder each."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"name": "car3", "prompt": "the car", "seed": 3}) + "\n"
        + json.dumps({"name": "empty", "prompt": "the car", "t2i": str(tmp_path / "nowhere")}) + "\n"
    )
    out = tmp_path / "runs"
    assert main(["generate", "--batch", str(jobs), "--t2i", str(t2i), *FAST, "-o", str(out)]) == 2
    res = [json.loads(s) for s in (out / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in res] == ["ok", "error"] and "--t2i" in res[1]["error"]
    assert np.array_equal(np.asarray(Image.open(out / "car3" / "input.png")), _reference_image(t2i, "the car", 3))
