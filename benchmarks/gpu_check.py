"""GPU check: run the code paths that no GPU has run yet, on CUDA, and print the figures.

    python benchmarks/gpu_check.py                        # one CUDA GPU, full sizes, under 8 minutes
    python benchmarks/gpu_check.py --json gpu_check.json  # ... and keep the figures as JSON
    python benchmarks/gpu_check.py --quick --device cpu   # the same logic at tiny sizes on the CPU (seconds)
    python benchmarks/gpu_check.py --parts unet,sampler   # some parts only

Four parts, each on its own (one failing part does not stop the others):

``unet``
    The See3D MV-UNet (``SEE3D_UNET``: 865,925,124 parameters, the release's configuration) with
    random weights (every linear and convolution re-initialised, so that no output layer is zero),
    8 views (1 reference + 7 targets) of 64x64 latents (512x512 images), a random [77, 1024]
    context. Strict fp32 (TF32 off) is the reference; against it: fp32 with TF32 (PyTorch's default
    for convolutions), the weights and inputs cast to bf16 and to fp16 (how a release runs with
    ``torch_dtype``), and bf16 autocast over fp32 weights (how ``see3d train mvd`` trains). Printed:
    max / mean absolute error, the same relative to the reference's max / mean magnitude, and the
    seconds per forward.
``sampler``
    ``sample_views`` at 512x512 (64x64 latents) with 1 reference + 7 targets, guidance 2.0 (both
    halves in one batch: 16 views per call), full-size random weights, in bf16, fp16 and fp32:
    seconds per step and peak GPU memory; the outputs must be finite.
``gs``
    The gsplat backend against the CPU rasterizer (numba) on the same Gaussians: image, alpha and
    depth differences, gradient differences of a fixed random loss, times. gsplat may be missing:
    then the part says so and is skipped. (In ``--device cpu`` mode the dense PyTorch reference
    stands in for gsplat, so that the comparison code runs.)
``train``
    A few ``see3d train mvd`` steps of a tiny pixel-space config, launched with
    ``accelerate launch --num_processes 1`` (bf16 autocast on CUDA, as training runs): the losses
    must be finite and a checkpoint must be written; seconds per step and peak GPU memory.

Without CUDA (and without ``--device cpu``) it prints one line saying so and exits with status 0.
Exit status 1: a part raised, gave non-finite numbers or missed a tolerance (listed at the end).
Record the figures of a GPU run in docs/mvd.md ("GPU check").
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
try:
    import see3d  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

PARTS = ("unet", "sampler", "gs", "train")
#: Tolerances (a part misses one -> exit status 1). UNet: mean error relative to the mean magnitude.
UNET_REL_MEAN_TOL = {"fp32+tf32": 1e-2, "bf16": 5e-2, "fp16": 1e-2, "bf16-autocast": 5e-2}
#: gsplat vs the CPU rasterizer: mean absolute differences (tile-granular vs per-pixel culling,
#: tests/test_gs_rasterize.py::test_gsplat_backend_matches_numba uses the same 5e-3).
GS_MEAN_TOL = 5e-3


# ---------------------------------------------------------------------------------------------- sizes
def sizes(quick: bool) -> dict:
    """Problem sizes: the real ones, or tiny ones for ``--quick`` (the CPU test)."""
    from see3d.mvd.unet import SEE3D_UNET, MultiViewUNetConfig

    if not quick:
        return dict(
            unet=SEE3D_UNET, latent=64, image=512, refs=1, targets=7, ctx_len=77, sampler_steps=3,
            gs_n=20000, gs_hw=(256, 256), train_size=128, train_steps=6, train_channels=64, train_p_warp=0.5,
            train_timeout=300, reps=3,
        )
    tiny = MultiViewUNetConfig(
        in_channels=9, out_channels=4, model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
        attention_resolutions=(1, 2), num_head_channels=8, context_dim=16, norm_groups=4,
    )
    return dict(
        unet=tiny, latent=8, image=64, refs=1, targets=3, ctx_len=8, sampler_steps=2,
        gs_n=300, gs_hw=(24, 32), train_size=32, train_steps=2, train_channels=16, train_p_warp=0.0,
        train_timeout=240, reps=1,
    )


# ---------------------------------------------------------------------------------------------- helpers
class Report:
    """Collects figures (JSON) and failures while printing a readable report."""

    def __init__(self) -> None:
        self.data: dict = {}
        self.failures: list[str] = []

    def section(self, name: str, title: str) -> dict:
        print(f"\n== {name}: {title}", flush=True)
        self.data[name] = {"title": title}
        return self.data[name]

    def line(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def fail(self, part: str, why: str) -> None:
        self.failures.append(f"{part}: {why}")
        print(f"  FAIL {why}", flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def fmt_gib(v: float | None) -> str:
    return "n/a (CPU)" if v is None else f"{v:.2f} GiB"


@contextlib.contextmanager
def _tf32(device: torch.device, matmul: bool, cudnn: bool):
    """TF32 switched for matmuls and cuDNN convolutions on CUDA, restored afterwards."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def strict_fp32(device: torch.device):
    """TF32 off for matmuls and convolutions (the fp32 reference)."""
    return _tf32(device, matmul=False, cudnn=False)


def default_tf32(device: torch.device):
    """PyTorch's defaults: TF32 for cuDNN convolutions, not for matmuls."""
    return _tf32(device, matmul=False, cudnn=True)


def random_unet(cfg, device: torch.device, sz: dict, seed: int = 0):
    """The UNet of ``cfg`` on ``device`` with every linear / convolution re-initialised (PyTorch's
    default init), so that the zero-initialised output layers do not hide everything behind them;
    the output layer is then scaled so that the output has unit standard deviation on the check's
    inputs, as a trained epsilon model's has (this keeps the sampler's numbers in a realistic range)."""
    from see3d.mvd.unet import MultiViewUNet

    torch.manual_seed(seed)
    with torch.device(device):
        unet = MultiViewUNet(cfg)
        for m in unet.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.reset_parameters()
    unet = unet.eval().requires_grad_(False)
    x, t, ctx, f = unet_inputs(sz, device)
    with torch.no_grad(), strict_fp32(device):
        std = float(unet(x, t, ctx, num_frames=f).std())
        if math.isfinite(std) and std > 0:
            unet.out[2].weight.mul_(1.0 / std)
            unet.out[2].bias.mul_(1.0 / std)
    return unet


def errors(out: torch.Tensor, ref: torch.Tensor) -> dict:
    d = (out.float() - ref.float()).abs()
    return {
        "max_abs": float(d.max()),
        "mean_abs": float(d.mean()),
        "rel_max": float(d.max() / ref.abs().max().clamp_min(1e-30)),
        "rel_mean": float(d.mean() / ref.abs().mean().clamp_min(1e-30)),
        "finite": bool(torch.isfinite(out).all()),
    }


def all_finite(obj) -> bool:
    """True when every float in a nested dict / list is finite."""
    if isinstance(obj, dict):
        return all(all_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(all_finite(v) for v in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return True


# ---------------------------------------------------------------------------------------------- environment
def environment(device: torch.device) -> dict:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "device": str(device),
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpu_memory_gib=round(p.total_memory / 2**30, 1),
                   cudnn=torch.backends.cudnn.version())
    else:
        env.update(cpu=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    for mod in ("gsplat", "accelerate", "diffusers"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:  # not installed, or broken
            env[mod] = None
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        env["see3d_commit"] = rev.stdout.strip() + ("+changes" if dirty.stdout.strip() else "") if rev.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        env["see3d_commit"] = None
    return env


# ---------------------------------------------------------------------------------------------- part: unet
def unet_inputs(sz: dict, device: torch.device, seed: int = 1):
    cfg = sz["unet"]
    f = sz["refs"] + sz["targets"]
    h = sz["latent"]
    g = torch.Generator().manual_seed(seed)
    c = cfg.out_channels
    x = torch.randn(f, cfg.in_channels, h, h, generator=g)
    mask = (torch.rand(f, 1, h, h, generator=g) > 0.4).float()
    mask[: sz["refs"]] = 1.0
    x[:, cfg.in_channels - 1 :] = mask  # the mask channel holds 0 / 1
    x[:, c : 2 * c] *= mask  # the condition slot: holes black
    t = torch.full((f,), 500, dtype=torch.long)
    ctx = torch.randn(f, sz["ctx_len"], cfg.context_dim, generator=g) if cfg.context_dim else None
    return x.to(device), t.to(device), None if ctx is None else ctx.to(device), f


def part_unet(rep: Report, sz: dict, device: torch.device, reps: int) -> None:
    from see3d.mvd.unet import count_parameters

    cfg = sz["unet"]
    x, t, ctx, f = unet_inputs(sz, device)
    unet = random_unet(cfg, device, sz)
    n = count_parameters(unet)
    sec = rep.section("unet", f"MV-UNet {n:,} parameters, {f} views x {sz['latent']}x{sz['latent']} latents, random weights, vs strict fp32")
    sec.update(parameters=n, views=f, latent=sz["latent"])

    def timed(fn):
        with torch.no_grad():
            out = fn()  # warm-up (cuDNN autotuning, kernels)
            sync(device)
            t0 = time.perf_counter()
            for _ in range(reps):
                out = fn()
            sync(device)
        return out, (time.perf_counter() - t0) / reps

    with strict_fp32(device):
        ref, s_ref = timed(lambda: unet(x, t, ctx, num_frames=f))
    mag = {"max": float(ref.abs().max()), "mean": float(ref.abs().mean())}
    sec["reference"] = {"dtype": "fp32 (TF32 off)", "seconds": s_ref, **mag}
    rep.line(f"{'fp32 (TF32 off)':<16} |out| max {mag['max']:.4g} mean {mag['mean']:.4g}   forward {s_ref:.4f} s")
    if not (math.isfinite(mag["max"]) and mag["mean"] > 0):
        rep.fail("unet", f"the fp32 reference output is not finite or is all zero (max {mag['max']}, mean {mag['mean']})")
    rows = {}
    with default_tf32(device):
        rows["fp32+tf32"] = timed(lambda: unet(x, t, ctx, num_frames=f))
    for name, dt in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        low = copy.deepcopy(unet).to(dt)
        xl, cl = x.to(dt), None if ctx is None else ctx.to(dt)
        rows[name] = timed(lambda: low(xl, t, cl, num_frames=f))
        del low
    with torch.autocast(device.type, dtype=torch.bfloat16):
        rows["bf16-autocast"] = timed(lambda: unet(x, t, ctx, num_frames=f))
    for name, (out, s) in rows.items():
        e = errors(out, ref)
        e["seconds"] = s
        sec[name] = e
        rep.line(
            f"{name:<16} max_abs {e['max_abs']:.3e}  mean_abs {e['mean_abs']:.3e}  rel_max {e['rel_max']:.3e}  "
            f"rel_mean {e['rel_mean']:.3e}  forward {s:.4f} s"
        )
        if not e["finite"]:
            rep.fail("unet", f"{name} output is not finite")
        elif e["rel_mean"] > UNET_REL_MEAN_TOL[name]:
            rep.fail("unet", f"{name}: mean error {e['rel_mean']:.3g} of the mean magnitude > {UNET_REL_MEAN_TOL[name]}")
    del unet, rows, ref


# ---------------------------------------------------------------------------------------------- part: sampler
def part_sampler(rep: Report, sz: dict, device: torch.device) -> None:
    from see3d.mvd import MVDConfig, MVDModel, sample_views

    cfg = sz["unet"]
    s_n, t_n, h = sz["refs"], sz["targets"], sz["latent"]
    steps = sz["sampler_steps"]
    mcfg = MVDConfig(unet=cfg, steps=steps)
    sec = rep.section(
        "sampler",
        f"sample_views {sz['image']}x{sz['image']} ({h}x{h} latents), {s_n} reference + {t_n} targets, guidance "
        f"{mcfg.guidance_scale} ({2 * (s_n + t_n)} views per call), {steps} steps, random weights",
    )
    sec.update(views=s_n + t_n, latent=h, steps=steps, guidance=mcfg.guidance_scale, prediction_type=mcfg.prediction_type)
    g = torch.Generator().manual_seed(2)
    c = cfg.out_channels
    refs = torch.randn(s_n, c, h, h, generator=g)
    masks = torch.ones(t_n, 1, h, h)
    for k in range(t_n):  # a hole that grows from view to view, as along a trajectory
        masks[k, :, :, h - max(1, (k + 1) * h // (2 * t_n)) :] = 0.0
    cond = torch.randn(t_n, c, h, h, generator=g) * masks
    context = torch.randn(sz["ctx_len"], cfg.context_dim, generator=g) if cfg.context_dim else None
    master = random_unet(cfg, device, sz).to("cpu")  # off the GPU: the peak memory is the sampler's own
    outs = {}
    for name, dt in (("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)):
        reset_peak(device)
        model = MVDModel(mcfg, unet=copy.deepcopy(master).to(device=device, dtype=dt)).eval()
        weights = torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else None
        sample_views(model, refs, cond, masks, seed=0, steps=1, context=context)  # warm-up
        sync(device)
        reset_peak(device)
        t0 = time.perf_counter()
        out = sample_views(model, refs, cond, masks, seed=0, steps=steps, context=context)
        sync(device)
        per_step = (time.perf_counter() - t0) / steps
        peak = peak_gib(device)
        finite = bool(torch.isfinite(out).all())
        outs[name] = out
        sec[name] = {"seconds_per_step": per_step, "peak_gib": peak, "weights_gib": weights, "finite": finite,
                     "out_abs_mean": float(out.abs().mean())}
        rep.line(f"{name:<5} {per_step:.3f} s/step   peak memory {fmt_gib(peak)} (weights {fmt_gib(weights)})   "
                 f"output |mean| {float(out.abs().mean()):.4g}  finite {finite}")
        if not finite:
            rep.fail("sampler", f"{name} output is not finite")
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    for name in ("bf16", "fp16"):
        d = (outs[name] - outs["fp32"]).abs()
        sec[name]["vs_fp32_max_abs"] = float(d.max())
        sec[name]["vs_fp32_mean_abs"] = float(d.mean())
        rep.line(f"{name} vs fp32 after {steps} steps: max_abs {float(d.max()):.3e}  mean_abs {float(d.mean()):.3e}  (information)")
    del master


# ---------------------------------------------------------------------------------------------- part: gs
def gaussians(n: int, hw: tuple[int, int], seed: int = 0) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Gaussians scattered through the frustum 2-6 m in front of an identity camera, degree-3 SH."""
    h, w = hw
    g = torch.Generator().manual_seed(seed)
    f = 0.8 * w
    z = 2.0 + 4.0 * torch.rand(n, generator=g)
    x = (torch.rand(n, generator=g) * 2 - 1) * 0.55 * w / f * z
    y = (torch.rand(n, generator=g) * 2 - 1) * 0.55 * h / f * z
    s = 1.3 * 4.0 / (0.8 * 256) * torch.exp(0.3 * torch.randn(n, 3, generator=g)) * (256 / w) ** 0.5
    p = {
        "means": torch.stack([x, y, z], -1),
        "quats": torch.randn(n, 4, generator=g),
        "log_scales": torch.log(s),
        "opacity_logits": torch.randn(n, generator=g),
        "sh": torch.randn(n, 16, 3, generator=g) * 0.3,
    }
    K = torch.tensor([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])
    return p, torch.eye(4), K


def part_gs(rep: Report, sz: dict, device: torch.device) -> None:
    from see3d.gs.rasterize import gsplat_available, rasterize

    n, (h, w) = sz["gs_n"], sz["gs_hw"]
    if device.type == "cuda":
        if not gsplat_available():
            sec = rep.section("gs", "gsplat vs the CPU rasterizer")
            sec["skipped"] = "gsplat is not installed (pip install gsplat)"
            rep.line("SKIPPED: gsplat is not installed (pip install gsplat); nothing compared")
            return
        other, other_dev = "gsplat", device
    else:
        other, other_dev = "torch", torch.device("cpu")  # stand-in on the CPU: the dense reference
    sec = rep.section("gs", f"{other} ({other_dev}) vs numba (CPU), {n} Gaussians, {w}x{h}, degree 3, forward + backward")
    sec.update(backend=other, gaussians=n, width=w, height=h)
    params, viewmat, K = gaussians(n, (h, w))
    g = torch.Generator().manual_seed(5)
    wr, wd = torch.rand(h, w, 3, generator=g), torch.rand(h, w, generator=g)
    bg = torch.tensor([0.1, 0.2, 0.3])

    def run(backend, dev):
        p = {k: v.detach().to(dev).requires_grad_() for k, v in params.items()}
        sync(dev)
        t0 = time.perf_counter()
        out = rasterize(p["means"], p["quats"], p["log_scales"], p["opacity_logits"], p["sh"], viewmat.to(dev), K.to(dev), w, h,
                        background=bg.to(dev), backend=backend)
        loss = (out.rgb * wr.to(dev)).sum() + (out.depth * out.alpha * wd.to(dev)).sum()
        loss.backward()
        sync(dev)
        secs = time.perf_counter() - t0
        img = {k: getattr(out, k).detach().float().cpu() for k in ("rgb", "alpha", "depth")}
        grads = {k: v.grad.detach().float().cpu() for k, v in p.items()}
        return img, grads, secs

    run("numba", torch.device("cpu"))  # numba compile / cache load
    cpu_img, cpu_grad, cpu_s = run("numba", torch.device("cpu"))
    if other_dev.type == "cuda":
        run(other, other_dev)  # warm-up
    o_img, o_grad, o_s = run(other, other_dev)
    sec["seconds"] = {"numba": cpu_s, other: o_s}
    rep.line(f"forward+backward: numba {cpu_s:.3f} s, {other} {o_s:.3f} s")
    both = cpu_img["alpha"] > 0
    for k in ("rgb", "alpha", "depth"):
        a, b = o_img[k], cpu_img[k]
        d = (a - b).abs() if k != "depth" else (a - b).abs()[both]
        e = {"max_abs": float(d.max()) if d.numel() else 0.0, "mean_abs": float(d.mean()) if d.numel() else 0.0}
        sec[k] = e
        rep.line(f"{k:<6} max_abs {e['max_abs']:.3e}  mean_abs {e['mean_abs']:.3e}" + ("  (where both cover)" if k == "depth" else ""))
        if not all_finite(e) or not bool(torch.isfinite(a).all()):
            rep.fail("gs", f"{k} is not finite")
        elif k in ("rgb", "alpha") and e["mean_abs"] > GS_MEAN_TOL:
            rep.fail("gs", f"{k}: mean difference {e['mean_abs']:.3g} > {GS_MEAN_TOL}")
    for k in cpu_grad:
        a, b = o_grad[k], cpu_grad[k]
        rel = float((a - b).norm() / b.norm().clamp_min(1e-30))
        sec[f"grad_{k}"] = {"rel_l2": rel, "finite": bool(torch.isfinite(a).all())}
        rep.line(f"d loss / d {k:<15} relative L2 difference {rel:.3e}")
        if not torch.isfinite(a).all():
            rep.fail("gs", f"gradient of {k} is not finite")


# ---------------------------------------------------------------------------------------------- part: train
TRAIN_TOML = """# gpu_check: a tiny pixel-space config (a few steps, not a recipe)
data = "synth"
size = {size}
clip_frames = 4
views = 3
refs_min = 1
refs_max = 1
batch = 2
steps = {steps}
lr = 1e-3
warmup = 1
ckpt_every = {steps}
keep_checkpoints = 1
log_every = 1
p_warp = {p_warp}
seed = 0

[model]
space = "pixel"
prediction_type = "epsilon"

[model.unet]
in_channels = 7
out_channels = 3
model_channels = {channels}
channel_mult = [1, 2, 2]
num_res_blocks = 1
attention_resolutions = [2, 4]
num_head_channels = 16
context_dim = false
norm_groups = 8
"""


def train_child(config: str, out: str) -> int:
    """Run inside ``accelerate launch``: ``see3d train mvd`` through the CLI, then one JSON line."""
    from see3d.cli import main as cli_main

    threads = ["--threads", "2"] if not torch.cuda.is_available() else []  # CPU dry run: no oversubscription
    rc = cli_main(["train", "mvd", "--config", config, "--out", out, "--quiet", *threads])
    info = {"rc": rc, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    try:
        from accelerate import PartialState

        st = PartialState()
        info.update(accelerate_device=str(st.device), distributed_type=str(st.distributed_type), processes=st.num_processes)
    except Exception as e:  # accelerate missing or not initialised
        info["accelerate"] = f"unavailable: {type(e).__name__}"
    print("GPU_CHECK_CHILD " + json.dumps(info), flush=True)
    return rc


def part_train(rep: Report, sz: dict, device: torch.device) -> None:
    steps = sz["train_steps"]
    sec = rep.section("train", f"see3d train mvd, tiny pixel-space config ({sz['train_size']} px, {steps} steps) under accelerate launch")
    with tempfile.TemporaryDirectory(prefix="see3d_gpu_check_") as tmp:
        cfg = Path(tmp) / "tiny.toml"
        cfg.write_text(TRAIN_TOML.format(size=sz["train_size"], steps=steps, channels=sz["train_channels"], p_warp=sz["train_p_warp"]))
        out = Path(tmp) / "run"
        child = [str(Path(__file__).resolve()), "--train-child", str(cfg), str(out)]
        try:
            import accelerate  # noqa: F401

            launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
                        "--mixed_precision", "no", "--dynamo_backend", "no"] + (["--cpu"] if device.type == "cpu" else [])
            sec["launcher"] = "accelerate launch --num_processes 1"
        except ImportError:
            launcher = [sys.executable]
            sec["launcher"] = "python (accelerate is not installed: pip install accelerate)"
            rep.line("accelerate is not installed (pip install accelerate): running `see3d train mvd` without it")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        if device.type == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(launcher + child, capture_output=True, text=True, timeout=sz["train_timeout"], env=env, cwd=ROOT)
        except subprocess.TimeoutExpired:
            rep.fail("train", f"did not finish in {sz['train_timeout']} s")
            return
        wall = time.perf_counter() - t0
        info = {}
        for ln in proc.stdout.splitlines():
            if ln.startswith("GPU_CHECK_CHILD "):
                info = json.loads(ln[len("GPU_CHECK_CHILD "):])
        if proc.returncode != 0 or info.get("rc") != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            rep.fail("train", f"exit status {proc.returncode}: " + " | ".join(tail))
            return
        rows = [r.split(",") for r in (out / "loss.csv").read_text().splitlines() if r]
        losses = [float(r[1]) for r in rows]
        clock = [float(r[3]) for r in rows]
        per_step = (clock[-1] - clock[0]) / max(1, len(clock) - 1) if len(clock) > 1 else clock[-1]
        ckpt = out / "checkpoints" / f"step_{steps:07d}"
        sec.update(steps=len(losses), losses=losses, seconds_per_step=per_step, wall_seconds=wall,
                   checkpoint=ckpt.is_dir() and (ckpt / "state.json").is_file(), model=(out / "model" / "model.safetensors").is_file(),
                   **{k: v for k, v in info.items() if k != "rc"})
        rep.line(f"{len(losses)} steps, loss {' '.join(f'{v:.4f}' for v in losses)}")
        rep.line(f"{per_step:.3f} s/step after the first; wall {wall:.1f} s with start-up; peak memory {fmt_gib(info.get('peak_gib'))}")
        rep.line(f"ran on: {info.get('accelerate_device', 'cuda' if info.get('cuda') else 'cpu')} ({info.get('distributed_type', 'no accelerate state')})")
        if len(losses) != steps or not all(math.isfinite(v) for v in losses):
            rep.fail("train", f"expected {steps} finite losses, got {losses}")
        if not sec["checkpoint"] or not sec["model"]:
            rep.fail("train", "no checkpoint / model folder written")
        if device.type == "cuda" and not info.get("cuda"):
            rep.fail("train", "the training process did not see CUDA")


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default; cuda:N for another GPU) or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (what tests/test_gpu_check.py runs on the CPU)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--reps", type=int, default=None, help="timed UNet forwards per precision after one warm-up (default 3, --quick 1)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    ap.add_argument("--train-child", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.train_child:
        return train_child(*args.train_child)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {', '.join(bad)}; choose from {', '.join(PARTS)}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        print(f"gpu_check: no CUDA device: PyTorch {torch.__version__} ({built}) sees no GPU. Nothing was checked. "
              "Run it on a machine with a GPU, or `--quick --device cpu` for a dry run of the same logic on the CPU.")
        return 0
    if device.type not in ("cuda", "cpu"):
        ap.error(f"--device must be cuda or cpu, got {args.device}")
    sz = sizes(args.quick)
    rep = Report()
    env = environment(device)
    rep.data["environment"] = env
    rep.data["mode"] = "quick" if args.quick else "full"
    print(f"gpu_check ({rep.data['mode']} sizes) on {env.get('gpu', env.get('cpu'))}: torch {env['torch']} (CUDA {env['torch_cuda']}), "
          f"gsplat {env['gsplat']}, accelerate {env['accelerate']}, see3d {env['see3d_commit']}", flush=True)
    t_all = time.perf_counter()
    runners = {
        "unet": lambda: part_unet(rep, sz, device, max(1, args.reps or sz["reps"])),
        "sampler": lambda: part_sampler(rep, sz, device),
        "gs": lambda: part_gs(rep, sz, device),
        "train": lambda: part_train(rep, sz, device),
    }
    for name in parts:
        t0 = time.perf_counter()
        try:
            runners[name]()
        except Exception as e:  # one broken part must not hide the figures of the others
            rep.data.setdefault(name, {})["error"] = f"{type(e).__name__}: {e}"
            rep.fail(name, f"raised {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
        secs = time.perf_counter() - t0
        rep.data.setdefault(name, {})["part_seconds"] = secs
        print(f"  ({name}: {secs:.1f} s)", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    total = time.perf_counter() - t_all
    rep.data["total_seconds"] = total
    for name in parts:
        if name in rep.data and not all_finite({k: v for k, v in rep.data[name].items() if k != "error"}):
            rep.failures.append(f"{name}: a reported figure is not finite")
    rep.data["failures"] = rep.failures
    if args.json is not None:
        args.json.write_text(json.dumps(rep.data, indent=1, default=str))
    print(f"\ngpu_check: {len(parts)} part(s) in {total:.1f} s", flush=True)
    if rep.failures:
        print(f"gpu_check: {len(rep.failures)} failure(s):")
        for f in rep.failures:
            print(f"  - {f}")
        return 1
    print("gpu_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
