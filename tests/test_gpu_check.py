"""benchmarks/gpu_check.py on the CPU: its logic end to end at tiny sizes, the no-CUDA exit, and the
device placement of the sampler (the CUDA path), dry-run with PyTorch's meta device."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("gpu_check", None)


NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)(?![\w.])", re.IGNORECASE)


def numbers(text: str) -> list[float]:
    return [float(m) for m in NUMBER.findall(text)]


def test_without_cuda_it_says_so_and_exits_cleanly(gpu_check, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gpu_check: no CUDA device") and "Nothing was checked" in out and "--quick --device cpu" in out
    assert len(out.strip().splitlines()) == 1


def test_quick_cpu_run_reports_finite_figures_for_every_part(gpu_check, capsys, tmp_path):
    report = tmp_path / "gpu_check.json"
    rc = gpu_check.main(["--quick", "--device", "cpu", "--json", str(report)])
    out = capsys.readouterr().out
    assert rc == 0, out
    for head in ("== unet:", "== sampler:", "== gs:", "== train:"):
        assert head in out
    assert "gpu_check: all checks passed" in out
    nums = numbers(out)
    assert len(nums) > 60 and all(math.isfinite(v) for v in nums), [v for v in nums if not math.isfinite(v)]
    # every precision row and every sampler dtype printed its figures
    for row in ("fp32+tf32", "bf16 ", "fp16 ", "bf16-autocast"):
        assert re.search(rf"^\s+{re.escape(row.strip())}\s+max_abs \S+\s+mean_abs \S+\s+rel_max \S+\s+rel_mean \S+\s+forward \S+ s$", out, re.M), row
    assert len(re.findall(r"s/step\s+peak memory", out)) == 3
    data = json.loads(report.read_text())
    assert data["mode"] == "quick" and data["failures"] == []
    assert data["unet"]["reference"]["mean"] > 0  # the random weights do reach the output
    for dt in ("bf16", "fp16", "fp32"):
        s = data["sampler"][dt]
        assert s["finite"] and s["seconds_per_step"] > 0
    assert data["gs"]["backend"] == "torch"  # the CPU stand-in for gsplat
    assert data["gs"]["rgb"]["mean_abs"] < 1e-5  # numba vs the dense reference: float precision
    t = data["train"]
    assert t["steps"] == 2 and t["checkpoint"] and t["model"] and all(math.isfinite(v) for v in t["losses"])
    assert t["launcher"].startswith("accelerate launch") == (data["environment"]["accelerate"] is not None)


def test_a_failing_part_is_reported_and_the_others_still_run(gpu_check, capsys, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("Expected all tensors to be on the same device")

    monkeypatch.setattr(gpu_check, "part_unet", broken)
    rc = gpu_check.main(["--quick", "--device", "cpu", "--parts", "unet,gs"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "unet: raised RuntimeError: Expected all tensors to be on the same device" in out
    assert "== gs:" in out and "1 failure(s)" in out


def test_sampler_device_placement_on_the_meta_device():
    """The CUDA path of ``sample_views`` without a GPU: with the UNet on PyTorch's ``meta`` device
    every tensor op checks devices as on CUDA (a CPU tensor beside a device tensor raises, 0-dim
    CPU scalars excepted), so the sampler must get as far as copying its (data-less) result back to
    the host. Before 2026-12-06 ``build_condition`` mixed the sampler's CPU reference flags and
    timesteps with the device's views and stopped at the first step."""
    from see3d.mvd import MVDConfig, MVDModel, MultiViewUNetConfig, sample_views

    u = MultiViewUNetConfig(in_channels=9, out_channels=4, model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
                            attention_resolutions=(1, 2), num_head_channels=8, context_dim=16, norm_groups=4)
    model = MVDModel(MVDConfig(unet=u, steps=2))
    model.unet.to("meta")
    refs, cond = torch.randn(1, 4, 8, 8), torch.randn(3, 4, 8, 8)
    masks = (torch.rand(3, 1, 8, 8) > 0.5).float()
    with pytest.raises(NotImplementedError, match="meta tensor"):  # the final .cpu(): nothing to copy
        sample_views(model, refs, cond, masks, context=torch.randn(8, 16))
