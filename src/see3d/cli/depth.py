"""``see3d depth``, ``see3d eval depth``, ``see3d train depth``: metric depth from any camera."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer

from see3d.cli._options import overwrite_option
from see3d.errors import See3DError

MODEL_HELP = (
    "Depth model: 'auto' (the best published model that `see3d weights get` downloaded, else 'tiny' with a warning), "
    "a published model name (`see3d weights list`), 'tiny' (bundled), a tiny-model folder, 'metric3d-onnx:FILE.onnx' or a .onnx file, "
    "'hf:DIR' or a transformers model folder, 'file:DEPTH.npy' (a given depth map)."
)


def _say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


def read_intrinsics_file(path: Path, width: int, height: int):
    """Intrinsics from a file: JSON ``{fx, fy, cx, cy}``, ``{"cam_in": [...]}``, ``{"K": 3x3}``,
    transforms.json-style ``fl_x/fl_y/cx/cy``, or text with 4 numbers or a 3x3 matrix."""
    import numpy as np

    from see3d.camera import Intrinsics

    if not path.is_file():
        raise See3DError(f"intrinsics file not found: {path}")
    text = path.read_text()
    w = h = None
    if path.suffix.lower() == ".json":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise See3DError(f"intrinsics file {path.name} is not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise See3DError(f"intrinsics file {path.name}: expected a JSON object")
        w, h = d.get("w", d.get("width")), d.get("h", d.get("height"))
        try:
            if "cam_in" in d:
                fx, fy, cx, cy = (float(v) for v in d["cam_in"])
            elif "K" in d:
                K = np.asarray(d["K"], dtype=np.float64)
                if K.shape != (3, 3):
                    raise See3DError(f"intrinsics file {path.name}: K must be 3x3")
                fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
            elif "fl_x" in d:  # transforms.json: pixel-corner principal point
                fx = float(d["fl_x"])
                fy = float(d.get("fl_y", fx))
                cx = float(d["cx"]) - 0.5 if "cx" in d else (width - 1) / 2
                cy = float(d["cy"]) - 0.5 if "cy" in d else (height - 1) / 2
            elif "fx" in d:
                fx = float(d["fx"])
                fy = float(d.get("fy", fx))
                cx = float(d.get("cx", (width - 1) / 2))
                cy = float(d.get("cy", (height - 1) / 2))
            else:
                raise See3DError(f"intrinsics file {path.name}: needs fx/fy/cx/cy, cam_in, K or fl_x")
        except (TypeError, ValueError):
            raise See3DError(f"intrinsics file {path.name}: values must be numbers") from None
    else:
        try:
            vals = [float(v) for v in text.replace(",", " ").split()]
        except ValueError:
            raise See3DError(f"intrinsics file {path.name}: expected numbers (fx fy cx cy, or a 3x3 matrix)") from None
        if len(vals) == 4:
            fx, fy, cx, cy = vals
        elif len(vals) == 9:
            fx, fy, cx, cy = vals[0], vals[4], vals[2], vals[5]
        else:
            raise See3DError(f"intrinsics file {path.name}: expected 4 numbers or a 3x3 matrix, got {len(vals)} numbers")
    if w is not None and h is not None and (int(w), int(h)) != (width, height):
        raise See3DError(f"intrinsics file {path.name} is for a {w}x{h} image but the image is {width}x{height}")
    return Intrinsics(fx, fy, cx, cy, width, height)


def _intrinsics_for(img, fx, fy, cx, cy, fov, intrinsics_file, quiet):
    from see3d.camera import Intrinsics
    from see3d.depth.base import DEFAULT_FOCAL

    H, W = img.shape[:2]
    given = [n for n, v in (("--fx", fx), ("--fov", fov), ("--intrinsics", intrinsics_file)) if v is not None]
    if len(given) > 1:
        raise See3DError(f"give only one of --fx, --fov, --intrinsics (got {', '.join(given)})")
    if intrinsics_file is not None:
        return read_intrinsics_file(intrinsics_file, W, H), f"from {intrinsics_file.name}"
    ccx = cx if cx is not None else (W - 1) / 2
    ccy = cy if cy is not None else (H - 1) / 2
    if fx is not None:
        return Intrinsics(fx, fy if fy is not None else fx, ccx, ccy, W, H), "given"
    if fov is not None:
        k = Intrinsics.from_fov(fov, W, H)
        return Intrinsics(k.fx, k.fy, ccx, ccy, W, H), f"from --fov {fov:g} deg"
    if fy is not None:
        raise See3DError("--fy needs --fx")
    k = Intrinsics(DEFAULT_FOCAL, DEFAULT_FOCAL, ccx, ccy, W, H)
    hfov = math.degrees(2 * math.atan(W / (2 * DEFAULT_FOCAL)))
    print(
        f"WARNING: no intrinsics given: ASSUMING fx = fy = {DEFAULT_FOCAL:g} px (Metric3D's default; "
        f"{hfov:.0f} deg horizontal field of view for {W}x{H}). Metric depth scales with this focal: "
        "pass --fx, --fov or --intrinsics for correct metres.",
        file=sys.stderr,
    )
    return k, f"ASSUMED {DEFAULT_FOCAL:g} px (none given)"


def write_depth_outputs(out: Path, stem: str, img, depth, intr, confidence=None, depth_scale: float = 1000.0, max_points: int = 2_000_000) -> list[str]:
    """Write ``stem.depth.npy``, ``stem.depth_scale<S>.png``, ``stem.depth_color.png`` and ``stem.ply``."""
    import numpy as np

    from see3d.camera import unproject_depth
    from see3d.io import colorize_depth, save_depth_npy, save_depth_png, save_image, write_point_ply

    names = [f"{stem}.depth.npy", f"{stem}.depth_scale{depth_scale:g}.png", f"{stem}.depth_color.png", f"{stem}.ply"]
    save_depth_npy(out / names[0], depth)
    save_depth_png(out / names[1], depth, depth_scale)
    save_image(out / names[2], colorize_depth(depth))
    valid = np.isfinite(depth) & (depth > 0)
    pts = unproject_depth(np.where(valid, depth, 0), intr)[valid]
    cols = img[valid]
    if len(pts) > max_points:
        sel = np.linspace(0, len(pts) - 1, max_points).astype(np.int64)
        pts, cols = pts[sel], cols[sel]
    write_point_ply(out / names[3], pts, cols)
    if confidence is not None:
        names.append(f"{stem}.confidence.npy")
        np.save(out / names[-1], confidence.astype(np.float32))
    return names


def _output_stems(files: list[Path]) -> list[str]:
    """Output name per image: its stem, or its whole file name where two images share a stem
    (``x.jpg`` and ``x.png`` -> ``x.jpg.depth.npy`` and ``x.png.depth.npy``)."""
    from collections import Counter

    counts = Counter(f.stem for f in files)
    return [f.stem if counts[f.stem] == 1 else f.name for f in files]


def depth_cmd(
    image: Path = typer.Argument(..., help="An image file or a folder of images."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: new or empty, or an earlier see3d output with --overwrite; written atomically when all images succeed."),
    model: str = typer.Option("auto", "--model", "-m", "--depth-model", help=MODEL_HELP),
    fx: Optional[float] = typer.Option(None, "--fx", help="Focal length x in pixels (of IMAGE as given)."),
    fy: Optional[float] = typer.Option(None, "--fy", help="Focal length y in pixels (default: fx)."),
    cx: Optional[float] = typer.Option(None, "--cx", help="Principal point x in pixels (default: image centre)."),
    cy: Optional[float] = typer.Option(None, "--cy", help="Principal point y in pixels (default: image centre)."),
    fov: Optional[float] = typer.Option(None, "--fov", help="Field of view in degrees across the longer side of the image."),
    intrinsics: Optional[Path] = typer.Option(None, "--intrinsics", help="Intrinsics file: JSON {fx, fy, cx, cy} / {cam_in} / {K} / transforms.json-style, or text 'fx fy cx cy' or a 3x3 matrix."),
    depth_scale: float = typer.Option(1000.0, "--depth-scale", help="Units per metre in the 16-bit PNG (1000 = millimetres; max 65.535 m)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output (warnings still print)."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Metric depth for one image or a folder: `OUT/<name>.depth.npy` (metres), a 16-bit PNG
    (scale in its name and metadata), a coloured preview and a metric point cloud (.ply).

    Example: see3d depth photo.jpg --fx 1450 -o out/
    """
    from see3d._progress import progress_bar
    from see3d.depth import load_backend
    from see3d.io import atomic_output_dir, check_output, list_images, load_image

    real_out = check_output(out, inputs=[image, intrinsics], overwrite=overwrite)
    if not depth_scale > 0:
        raise See3DError(f"--depth-scale must be positive, got {depth_scale}")
    files = list_images(image) if image.is_dir() else [image]
    stems = _output_stems(files)
    if image.is_dir() and model.startswith("file:"):
        raise See3DError("the file backend gives one depth map; it cannot serve a folder of images")
    for f in files:
        if not f.exists():
            raise See3DError(f"image not found: {f}")
    from see3d.weights import resolve_depth

    choice = resolve_depth(model)
    if choice.warning:  # on every run, also with --quiet
        print(choice.warning, file=sys.stderr)
    backend = load_backend(choice.spec, **choice.kwargs)
    note = getattr(backend, "focal_note", None)
    if note:
        _say(f"model: {choice.record.get('name')}: {note}", quiet)
    records = []
    with atomic_output_dir(real_out, marker="depth") as tmp:
        for f, stem in progress_bar(list(zip(files, stems)), desc="depth", unit="img", disable=quiet or len(files) == 1):
            img = load_image(f)
            intr, how = _intrinsics_for(img, fx, fy, cx, cy, fov, intrinsics, quiet)
            intr.check_principal_point(f"intrinsics of {f.name}")
            pred = backend.predict(img, intr)
            names = write_depth_outputs(tmp, stem, img, pred.depth, intr, pred.confidence, depth_scale)
            valid = pred.depth > 0
            rec = {
                "image": str(f),
                "model": choice.record,
                "intrinsics": {"fx": intr.fx, "fy": intr.fy, "cx": intr.cx, "cy": intr.cy, "width": intr.width, "height": intr.height, "source": how},
                "depth_scale": depth_scale,
                "depth_range_m": [float(pred.depth[valid].min()), float(pred.depth[valid].max())] if valid.any() else None,
                "files": names,
            }
            records.append(rec)
            _say(f"{f.name}: focal {intr.fx:.1f} px ({how}), depth {rec['depth_range_m'][0]:.2f}-{rec['depth_range_m'][1]:.2f} m" if valid.any() else f"{f.name}: no valid depth", quiet)
        (tmp / "depth.json").write_text(json.dumps({"images": records}, indent=2))
    _say(f"wrote {out}", quiet)


def eval_depth_cmd(
    annotations: Path = typer.Argument(..., help="Metric3D annotation JSON: {'files': [{'rgb', 'depth', 'cam_in', 'depth_scale'}]}."),
    model: str = typer.Option("tiny", "--model", "-m", help=MODEL_HELP + " 'gt' uses the ground truth itself (a protocol check)."),
    protocol: str = typer.Option("auto", "--protocol", help="auto | kitti (0.1-80 m, Garg crop) | nyu (0.1-10 m, Eigen crop) | none."),
    median_scale: bool = typer.Option(False, "--median-scale", help="Also report metrics after median-scale alignment (separately)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write per-image and mean metrics to this JSON file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Evaluate a depth model on a Metric3D-format annotation file (AbsRel, delta1-3, RMSE, log10, SILog)."""
    from see3d._progress import progress_bar
    from see3d.eval.depth import evaluate_annotations
    from see3d.io import atomic_file, load_depth, read_metric3d_annotations

    if protocol not in ("auto", "kitti", "nyu", "none"):
        raise See3DError(f"unknown --protocol {protocol!r} (auto, kitti, nyu, none)")
    if json_out is not None:  # a metrics file: replaced when it exists, but never an input
        from see3d.io import check_output

        json_out = check_output(json_out, inputs=[annotations], overwrite=True, kind="file", what="--json")
    if model == "gt":
        queue = list(read_metric3d_annotations(annotations))  # evaluate_annotations goes in file order

        def predict(img, intr):
            e = queue.pop(0)
            return load_depth(e.depth, e.depth_scale)
    else:
        from see3d.depth import load_backend

        backend = load_backend(model)

        def predict(img, intr):
            return backend.predict(img, intr).depth

    bar = progress_bar(desc="eval", unit="img", disable=quiet)
    res = evaluate_annotations(annotations, predict, protocol, median_scale, progress=lambda i, n: (setattr(bar, "total", n), bar.update(1)))
    bar.close()
    print(res.table())
    if json_out is not None:
        with atomic_file(json_out) as tmp:
            tmp.write_text(json.dumps({"model": model, "annotations": str(annotations), **res.to_dict()}, indent=2))


def train_depth_cmd(
    out: Path = typer.Option(Path("runs/depth_tiny"), "--out", "-o", help="Run folder (log, checkpoint, data cache, model/); resumes if it exists."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML / JSON file of DepthTrainConfig fields (e.g. src/see3d/depth/configs/tiny_level.toml); the options below override it where given."),
    variant: Optional[str] = typer.Option(None, "--variant", help="label (CSTM_label) | image (CSTM_image) | none (no canonical transform). \\[default: label]"),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Optimiser steps. \\[default: 1500]"),
    batch: Optional[int] = typer.Option(None, "--batch", min=1, help="Images per step. \\[default: 8]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (AdamW). \\[default: 0.002]"),
    scenes: Optional[int] = typer.Option(None, "--scenes", min=1, help="Synth scenes to render (each with its own focal). \\[default: 500]"),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Views per scene. \\[default: 3]"),
    focal_min: Optional[float] = typer.Option(None, "--focal-min", help="Smallest focal length of the rendered scenes, pixels. \\[default: 300]"),
    focal_max: Optional[float] = typer.Option(None, "--focal-max", help="Largest focal length of the rendered scenes, pixels. \\[default: 2000]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (scenes, initialisation, batches). \\[default: 0]"),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads."),
    export: Optional[Path] = typer.Option(None, "--export", help="Also write the model as one .safetensors file (+ .json config), e.g. src/see3d/assets/depth_tiny.safetensors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train the tiny canonical-space depth network on synth scenes (reproduces the bundled weights)."""
    from see3d._progress import progress_bar
    from see3d.depth.train import DepthTrainConfig, export_bundled, train_depth

    given = dict(
        variant=variant,
        steps=steps,
        batch=batch,
        lr=lr,
        scenes=scenes,
        frames_per_scene=frames,
        seed=seed,
        threads=threads,
    )
    if config is not None:
        cfg = DepthTrainConfig.from_file(config, **given)
    else:
        cfg = DepthTrainConfig(**{k: v for k, v in given.items() if v is not None})
    if focal_min is not None or focal_max is not None:
        lo, hi = cfg.focal_range
        cfg = DepthTrainConfig(**{**asdict(cfg), "focal_range": (lo if focal_min is None else focal_min, hi if focal_max is None else focal_max)})
    steps = cfg.steps
    bar = progress_bar(total=steps, desc="train depth", unit="step", disable=quiet)

    def on_step(i, n, loss):
        bar.n = i
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        bar.refresh()

    model_dir = train_depth(cfg, out, on_log=None if quiet else (lambda line: bar.write(line, file=sys.stderr)), on_step=on_step)
    bar.close()
    if export is not None:
        export_bundled(model_dir, export)
        _say(f"exported {export} (+ {export.with_suffix('.json').name})", quiet)
    _say(f"model in {model_dir}", quiet)


def register(app: typer.Typer, groups: dict) -> None:
    app.command("depth")(depth_cmd)
    groups["eval"].command("depth")(eval_depth_cmd)
    groups["train"].command("depth")(train_depth_cmd)
