"""``see3d edit``: change a region of a generate output's input view and regenerate it in 3D."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from see3d.cli._options import overwrite_option
from see3d.errors import See3DError


def edit_cmd(
    folder: Path = typer.Argument(..., help="A see3d generate output folder (views/, depth/, masks/, transforms.json)."),
    mask: Path = typer.Option(..., "--mask", help="PNG the size of the views: white = the region of the input view to change."),
    image: Optional[Path] = typer.Option(None, "--image", help="Replacement picture the size of the views; its pixels inside the mask are pasted into the input view."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Describe what the masked region should show; repainted by the --inpaint model."),
    inpaint: Optional[str] = typer.Option(None, "--inpaint", help="--prompt: inpainting model, a diffusers pipeline folder or a cached published model name."),
    inpaint_steps: int = typer.Option(25, "--inpaint-steps", min=1, max=1000, help="--prompt: denoising steps of the inpainting model."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (new or empty; written atomically when the job succeeds)."),
    fill: Optional[str] = typer.Option(None, "--fill", help="Filler of the regenerated regions: mvd | telea | ns (default: the one the folder was generated with)."),
    fill_model: Optional[Path] = typer.Option(None, "--fill-model", help="Weights folder for --fill mvd (default: the folder's, else the bundled model)."),
    margin: int = typer.Option(2, "--margin", min=0, max=64, help="Pixels added around the edit's projection in each view before regenerating."),
    gaussians: Optional[bool] = typer.Option(None, "--gaussians/--no-gaussians", help="Refit the 3D Gaussians to the edited views (default: when the folder has scene.ply)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (filler and inpainting model)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Edit a region of the input view and regenerate it consistently in every view.

    The edited input is the clean reference; the other views keep their pixels except where the
    edit reaches them (its projection, plus the generated holes it touches), which are re-warped
    from the edited input and filled by the multi-view filler; the 3D Gaussians are refitted.
    Views the edit cannot reach are copied unchanged. Depth (geometry) is kept.

    Example: see3d edit out --mask mask.png --image new.png -o out_edited
    """
    from see3d.io import check_output, load_image
    from see3d.pipeline.edit import apply_edit, load_mask, load_source, write_edit

    inp_path = Path(inpaint) if inpaint and Path(inpaint).exists() else None
    real = check_output(out, inputs=[folder, mask, image, fill_model, inp_path], overwrite=overwrite, kind="dir")
    if (image is None) == (prompt is None):
        raise See3DError("give either --image REPLACEMENT.png or --prompt TEXT (with --inpaint MODEL), not both or neither")
    if inpaint is not None and prompt is None:
        raise See3DError("--inpaint repaints from a --prompt; give --prompt TEXT")
    if prompt is not None:
        from see3d.pipeline.text import check_prompt

        prompt = check_prompt(prompt)
    src = load_source(folder)
    H, W = src.views.shape[1:3]
    m = load_mask(mask, (W, H))
    on_stage, finish = _stages(quiet)
    t0 = time.perf_counter()
    if image is not None:
        repl = load_image(image)
        if repl.shape[:2] != (H, W):
            raise See3DError(f"replacement {image.name} is {repl.shape[1]}x{repl.shape[0]} but the views are {W}x{H}")
        record = {"mask": str(mask), "image": str(image)}
    else:
        from see3d.pipeline.text import inpaint_image, resolve_diffusers_model

        model = resolve_diffusers_model(inpaint, "inpainting", "--inpaint") if inpaint is not None else None
        if model is None:
            raise See3DError("--prompt needs --inpaint MODEL (a diffusers inpainting pipeline folder or a cached model name)")
        on_stage("inpaint the input view")
        repl = inpaint_image(src.views[src.input_index], m, prompt, model, seed=seed, steps=inpaint_steps, progress=not quiet)
        record = {"mask": str(mask), "prompt": prompt, "inpaint": model.record}
    result = apply_edit(src, m, repl, fill=fill, fill_model=str(fill_model) if fill_model else None, seed=seed,
                        margin=margin, progress=not quiet, on_stage=on_stage)
    write_edit(src, result, real, gaussians=gaussians, record=record, progress=not quiet, on_stage=on_stage)
    finish()
    if not quiet:
        n = sum(1 for r in result.regions if r.any())
        print(f"wrote {out}: {n} of {len(result.regions)} views changed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def _stages(quiet: bool):
    from see3d.cli.generate import _stage_printer

    return _stage_printer(quiet)


def register(app: typer.Typer, groups: dict) -> None:
    app.command("edit")(edit_cmd)
