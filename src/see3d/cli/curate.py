"""``see3d curate``: raw videos / photo walks -> a WebDataset of 3D-aware multi-view clips."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def curate_cmd(
    inputs: list[str] = typer.Argument(..., help="Video files, folders of ordered frames, folders of videos, or .txt lists of them."),
    out: Path = typer.Option(..., "-o", "--out", help="Dataset folder; running again into it resumes (a non-empty folder that is not a curate dataset is refused)."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, max=1024, help="Inputs processed in parallel (processes; with --engine ray, the CPUs of a local Ray instance)."),
    engine: str = typer.Option("local", "--engine", help="local | ray (Ray tasks; pip install 'see3d\\[ray]')."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: start a local Ray instance)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Settings file (.toml / .json) with CurateConfig fields (docs/curate.md)."),
    clip_frames: Optional[int] = typer.Option(None, "--clip-frames", help="Analysed frames per clip (default 32)."),
    size: Optional[int] = typer.Option(None, "--size", help="Short side of the analysed frames (default 480)."),
    out_size: Optional[int] = typer.Option(None, "--out-size", help="Short side of the stored JPEG frames (default: the analysed size)."),
    stride: Optional[int] = typer.Option(None, "--stride", help="Videos: analyse every n-th frame (default 2)."),
    flow: Optional[str] = typer.Option(None, "--flow", help="Optical flow: dis (default) or onnx:PATH (a learned model from local weights)."),
    semantic: Optional[str] = typer.Option(None, "--semantic", help="People/animal filter with a local detector: onnx:PATH (off by default)."),
    all_scores: bool = typer.Option(False, "--all-scores", help="Run every filter on every clip (slower; full scores in report.jsonl)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Process at most this many inputs now (the rest on a later run)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Keep only 3D-aware clips (static scene, real camera motion) from ordinary videos.

    Steps: decode (~480p, every 2nd frame), shots (PySceneDetect), clips, quality, semantic
    (optional, off by default), static camera, dynamic content (flow and epipolar geometry),
    small viewpoint.

    Writes DATASET/shards/*.tar (WebDataset: frames as JPEG and a JSON per clip), report.jsonl,
    summary.md. Train on it with: see3d train mvd --data DATASET/ --config ...

    Example: see3d curate videos/ walk_photos/ -o dataset/ --workers 4
    """
    import dataclasses

    from see3d.curate import CurateConfig, curate

    cfg = CurateConfig()
    if config is not None:
        from see3d.io.config import read_config_file

        cfg = CurateConfig.from_dict(read_config_file(config, "curate config"))
    changes = {k: v for k, v in (("clip_frames", clip_frames), ("analysis_size", size), ("out_size", out_size),
               ("stride", stride), ("flow", flow), ("semantic", semantic)) if v is not None}  # fmt: skip
    if all_scores:
        changes["all_scores"] = True
    if changes:
        if "analysis_size" in changes and "out_size" not in changes and cfg.out_size > changes["analysis_size"]:
            changes["out_size"] = 0
        cfg = dataclasses.replace(cfg, **changes)
    bar = None
    kept = 0

    def cb(res, done: int, total: int) -> None:
        nonlocal bar, kept
        if quiet:
            return
        if bar is None:  # made at the first result: a refused run prints one line, no bar
            from see3d._progress import progress_bar

            bar = progress_bar(total=total, unit="input", desc="curate")
        bar.update(1)
        kept += sum(1 for r in res.records if r.get("decision") == "keep")
        bar.set_postfix(kept=kept)

    try:
        s = curate(inputs, out, cfg, workers=workers, engine=engine, address=address, limit=limit, progress=cb)
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s["reasons"].items(), key=lambda kv: -kv[1])) or "none"
        state = "complete" if s["complete"] else "partial (run again to continue)"
        print(
            f"curate: {s['kept']} of {s['clips']} clips kept (dropped: {reasons}); {s['shards']} shard(s); "
            f"dataset {state}: {out}/summary.md",
            file=sys.stderr,
        )


def register(app: typer.Typer, groups: dict) -> None:
    app.command("curate")(curate_cmd)
