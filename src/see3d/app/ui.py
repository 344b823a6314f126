"""The Gradio page of ``see3d app`` (needs the ``app`` extra: ``pip install -e ".[app]"``).

Safe defaults: bound to 127.0.0.1, no share link, no usage analytics, an upload size limit, only
files under the output root are served, one job at a time (a queue whose position the page
shows), and the app never deletes a run.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr  # noqa: E402

from see3d.app.runs import (  # noqa: E402
    INPUT,
    MAX_PIXELS,
    RESULT,
    TRAJECTORIES,
    EditJob,
    Job,
    PhotoJob,
    SparseJob,
    list_runs,
    new_run_dir,
    remove_run_if_empty,
    run_dir_of,
    run_files,
)
from see3d.errors import See3DError  # noqa: E402

#: Upload limit (bytes) unless the command says otherwise.
MAX_FILE_SIZE = "50mb"
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"]
NO_EXAMPLE = "none (use the uploaded photo)"
DEFAULT_FOV = 60.0
#: Height of the 3D viewer (CSS pixels); the viewer's copy of a scene is sized to fill it.
VIEWER_HEIGHT = 380

FILLERS = [
    ("mvd - multi-view diffusion: the See3D release when downloaded and a CUDA GPU is present, else the bundled "
     "1.35 M-parameter model (trained on synthetic clips; a little above Telea on held-out holes; ~15 s for "
     "12 views on 2 CPU cores)", "mvd"),
    ("telea - OpenCV Telea inpainting (smooth; a second or two)", "telea"),
    ("ns - OpenCV Navier-Stokes inpainting (smooth; a second or two)", "ns"),
]
TRAJECTORY_NOTES = {
    "orbit": "arc around a point at the median depth (+-15 deg)",
    "dolly": "forward to 30% of the depth and back",
    "pan": "rotation in place",
    "spiral": "LLFF-style spiral",
}


def depth_choices() -> list[tuple[str, str]]:
    """The depth models the app offers: ``auto``, every published model that the weights
    registry finds downloaded (with the registry's description), and the bundled ``tiny``."""
    choices = [("auto - the best downloaded published model (see3d weights list), else the bundled tiny", "auto")]
    try:
        from see3d import weights

        for name, e in weights.registry().items():
            if e.task == "depth" and e.hosted and weights.status(name, deep=False).ok:
                choices.append((f"{name} - {e.description}", name))
    except Exception:  # noqa: BLE001 - a broken cache must not stop the page
        traceback.print_exc(file=sys.stderr)
    choices.append(("tiny - bundled 0.94 M-parameter network learned from procedural scenes only: "
                    "a demo, far off on real photos", "tiny"))
    return choices


def cached_text_model() -> str | None:
    """The name of a downloaded text-to-image model of the weights registry (the Text to 3D tab
    exists only then), or None."""
    try:
        from see3d import weights

        for name, e in weights.registry().items():
            if e.task == "text-to-image" and e.hosted and weights.status(name, deep=False).ok:
                return name
    except Exception:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
    return None


def _readable(e: BaseException) -> gr.Error:
    """One line for the page: a See3DError's message, else the exception's type and first line."""
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, See3DError):
        return gr.Error(str(e).splitlines()[0] if str(e) else "bad input", print_exception=False)
    traceback.print_exc(file=sys.stderr)
    first = str(e).splitlines()[0] if str(e) else ""
    return gr.Error(f"internal error: {type(e).__name__}{': ' + first if first else ''}", print_exception=False)


def _load_upload(path: str, max_pixels: int):
    """The uploaded photo as uint8 RGB; errors name the file, not the server's upload folder."""
    from see3d.io import load_image

    try:
        return load_image(path, max_pixels=max_pixels)
    except See3DError as e:
        raise See3DError(str(e).replace(str(Path(path)), Path(path).name)) from None


class _App:
    """State shared by the handlers: the output root and the running job."""

    def __init__(self, out_root: Path, max_pixels: int):
        self.out_root = out_root
        self.max_pixels = max_pixels
        self.current: Job | None = None

    # ---------------------------------------------------------------- inputs
    def camera_note(self, photo, example, fov, fx, fy, cx, cy):
        """The input preview and what the camera will be (the guess when nothing is given)."""
        from see3d.camera import Intrinsics

        try:
            if example and example != NO_EXAMPLE:
                from see3d.pipeline.examples import load_example

                ex = load_example(example)
                k = ex.intrinsics
                note = (f"**{ex.description}**, {k.width}x{k.height} px: its true depth is used, and its calibrated "
                        f"camera (focal {k.fx:.1f} px) unless you give a field of view or focal below.")
                return ex.image, note
            if not photo:
                return None, "Upload a photo (PNG/JPEG) or choose the bundled example."
            img = _load_upload(photo, self.max_pixels)
            h, w = img.shape[:2]
            if fx:
                k = Intrinsics(fx, fy or fx, cx if cx is not None else (w - 1) / 2, cy if cy is not None else (h - 1) / 2, w, h)
                how = "given"
            elif fov:
                k, how = Intrinsics.from_fov(fov, w, h), f"from the given field of view {fov:g} deg"
            else:
                k = Intrinsics.from_fov(DEFAULT_FOV, w, h)
                how = (f"**guessed**: no field of view given, {DEFAULT_FOV:g} deg assumed "
                       "(set the field of view or fx below if you know it)")
            note = f"{w}x{h} px; camera {how} -> fx {k.fx:.1f}, fy {k.fy:.1f}, cx {k.cx:.1f}, cy {k.cy:.1f} px."
            return img, note
        except Exception as e:  # noqa: BLE001
            raise _readable(e) from None

    # ---------------------------------------------------------------- the job
    def run(self, photo, example, fov, fx, fy, cx, cy, depth_model, fill, trajectory, frames, seed,
            max_size, gaussians, gs_iterations, gs_max_gaussians, show_masks, progress=gr.Progress()):
        """Run one photo-to-3D job; yields the status while it runs, then the results."""
        try:
            example = None if not example or example == NO_EXAMPLE else example
            job = PhotoJob(
                image=None if example else (photo or None), example=example,
                fov=fov or None, fx=fx or None, fy=fy or None, cx=cx, cy=cy,
                depth_model=depth_model or "auto", fill=fill or "mvd", trajectory=trajectory or "orbit",
                frames=int(frames), seed=int(seed or 0), max_size=int(max_size), gaussians=bool(gaussians),
                gs_iterations=int(gs_iterations), gs_max_gaussians=int(gs_max_gaussians),
                upload_name=None if example else Path(photo).name if photo else None,
            )
            job.validate()
            img = None
            if not example:
                img = _load_upload(photo, self.max_pixels)  # bad uploads stop here
        except Exception as e:  # noqa: BLE001
            raise _readable(e) from None

        def prepare(run_dir: Path) -> None:
            from see3d.io import save_image

            if example:
                from see3d.pipeline.examples import load_example

                save_image(run_dir / INPUT, load_example(example).image)
            else:
                save_image(run_dir / INPUT, img)
                job.image = str(run_dir / INPUT)

        yield from self._drive(job, prepare, show_masks, progress)

    def run_text(self, prompt, t2i_steps, t2i_size, depth_model, fill, trajectory, frames, seed, max_size, gaussians,
                 gs_iterations, gs_max_gaussians, show_masks, progress=gr.Progress()):
        """Text to 3D: a downloaded text-to-image model makes the picture, then the photo path."""
        try:
            job = PhotoJob(
                prompt=prompt or "", t2i_steps=int(t2i_steps), t2i_size=int(t2i_size), depth_model=depth_model or "auto", fill=fill or "mvd",
                trajectory=trajectory or "orbit", frames=int(frames), seed=int(seed or 0), max_size=int(max_size),
                gaussians=bool(gaussians), gs_iterations=int(gs_iterations), gs_max_gaussians=int(gs_max_gaussians),
                kind="text", t2i=cached_text_model(),
            )
            job.validate()
        except Exception as e:  # noqa: BLE001
            raise _readable(e) from None
        yield from self._drive(job, lambda run_dir: None, show_masks, progress)

    def run_sparse(self, files, densify, iterations, depth_model, fill, trajectory, frames, seed, max_size,
                   gaussians, gs_iterations, gs_max_gaussians, show_masks, progress=gr.Progress()):
        """Sparse views: a few photos (with or without poses) -> 3DGS, densified with generated views."""
        import json

        try:
            files = [f for f in (files or []) if f]
            poses = [f for f in files if Path(f).suffix.lower() == ".json"]
            photos = [f for f in files if Path(f).suffix.lower() != ".json"]
            if len(poses) > 1:
                raise See3DError("upload one transforms.json at most")
            if len(photos) < 2:
                raise See3DError(f"upload at least 2 photos of the scene (got {len(photos)})")
            names = [Path(f).name for f in photos]
            if len(set(names)) != len(names):
                raise See3DError("two photos have the same file name")
            imgs = [_load_upload(f, self.max_pixels) for f in photos]
            frames_json = None
            if poses:
                try:
                    tj = json.loads(Path(poses[0]).read_text())
                    by_name = {Path(str(fr["file_path"])).name: fr for fr in tj["frames"]}
                    by_stem = {Path(str(fr["file_path"])).stem: fr for fr in tj["frames"]}
                except (OSError, ValueError, KeyError, TypeError):
                    raise See3DError("transforms.json: not a transforms.json (a JSON object with frames[].file_path)") from None
                missing = [n for n in names if n not in by_name and Path(n).stem not in by_stem]
                if missing:
                    raise See3DError(f"transforms.json has no frame for {', '.join(missing[:3])}")
                frames_json = tj
            # the photos keep their order in transforms.json (else the upload order)
            order = list(range(len(photos)))
            if frames_json is not None:
                pos = {Path(str(fr["file_path"])).stem: i for i, fr in enumerate(frames_json["frames"])}
                order.sort(key=lambda i: pos[Path(names[i]).stem])
            fill = fill or "mvd"
            job = SparseJob(views=len(photos), densify=int(densify), fill=fill if fill in ("mvd", "telea", "ns") else "mvd",
                            depth_model=depth_model if depth_model and depth_model != "auto" else "tiny",
                            iterations=int(iterations), max_size=int(max_size), max_gaussians=int(gs_max_gaussians),
                            seed=int(seed or 0), posed=frames_json is not None, upload_name=f"{len(photos)} photos")
        except Exception as e:  # noqa: BLE001
            raise _readable(e) from None

        def prepare(run_dir: Path) -> None:
            from see3d.io import save_image

            folder = run_dir / "input"
            sub = folder / "images" if frames_json is not None else folder  # photos alone: the folder itself
            sub.mkdir(parents=True)
            kept = []
            for j, i in enumerate(order):
                name = f"{j:04d}_{Path(names[i]).stem}.png"
                save_image(sub / name, imgs[i])
                if frames_json is not None:
                    fr = by_name.get(names[i]) or by_stem[Path(names[i]).stem]
                    kept.append({**fr, "file_path": f"images/{name}"})
            if frames_json is not None:
                (folder / "transforms.json").write_text(json.dumps({**frames_json, "frames": kept}, indent=1))
            save_image(run_dir / INPUT, imgs[order[0]])
            job.folder = str(folder)

        yield from self._drive(job, prepare, show_masks, progress)

    def run_edit(self, source, editor, replacement, fill, seed, show_masks, progress=gr.Progress()):
        """Edit a finished run: the painted region of its input view is replaced and regenerated in 3D."""
        import numpy as np

        try:
            if not source:
                raise See3DError("open or finish a run first: the edit starts from its input view")
            src = run_dir_of(self.out_root, source)
            layers = (editor or {}).get("layers") or []
            painted = [np.asarray(x) for x in layers if x is not None]
            mask = np.zeros((1, 1), bool)
            if painted:
                mask = np.any([x[..., 3] > 0 if x.ndim == 3 and x.shape[-1] == 4 else x.any(-1) if x.ndim == 3 else x > 0
                               for x in painted], axis=0)
            if not mask.any():
                raise See3DError("paint the region to change on the input view")
            view = _load_upload(str(src / RESULT / "views" / "0000.png"), self.max_pixels)
            if mask.shape != view.shape[:2]:
                raise See3DError(f"the painted mask is {mask.shape[1]}x{mask.shape[0]} but the views are {view.shape[1]}x{view.shape[0]}")
            if not replacement:
                raise See3DError("upload the replacement picture (its pixels inside the painted region are used)")
            repl = _load_upload(replacement, self.max_pixels)
            job = EditJob(source=str(src / RESULT), fill=fill or None, seed=int(seed or 0),
                          gaussians=(src / RESULT / "scene.ply").is_file(), upload_name=Path(replacement).name)
        except Exception as e:  # noqa: BLE001
            raise _readable(e) from None

        def prepare(run_dir: Path) -> None:
            import cv2

            from see3d.io import save_image

            h, w = view.shape[:2]
            save_image(run_dir / "mask.png", mask.astype(np.uint8) * 255)
            r = repl if repl.shape[:2] == (h, w) else cv2.resize(repl, (w, h), interpolation=cv2.INTER_AREA)
            save_image(run_dir / "replacement.png", r)
            save_image(run_dir / INPUT, view)
            job.mask, job.image = str(run_dir / "mask.png"), str(run_dir / "replacement.png")

        yield from self._drive(job, prepare, show_masks, progress)

    def _drive(self, job, prepare, show_masks, progress):
        """Make the run folder, start the job's command, yield its progress, then the results."""
        skip = gr.skip()
        self._wait_for_previous(progress)
        run_dir = new_run_dir(self.out_root)
        try:
            prepare(run_dir)
            proc = Job(job, run_dir)
        except Exception as e:  # noqa: BLE001
            remove_run_if_empty(run_dir)
            raise _readable(e) from None
        self.current = proc
        try:
            while proc.running():
                frac, desc = proc.progress()
                progress(frac, desc=desc)
                info = "  \n".join(proc.state.info)
                yield (f"**Running** {run_dir.name}: {desc}" + (f"  \n{info}" if info else ""),
                       skip, skip, skip, skip, skip, skip, skip)
                time.sleep(0.4)
            rc = proc.finish()
        finally:
            if proc.running():  # the page cancelled the job (or went away)
                proc.cancel()
        if rc != 0:
            raise gr.Error(proc.failure(rc), print_exception=False)
        yield self._results(run_dir, show_masks, f"Finished in {proc.elapsed():.1f} s.")

    def _wait_for_previous(self, progress) -> None:
        """One job at a time, also while a cancelled job is still removing its temporary output."""
        prev = self.current
        if prev is not None and prev.running():
            progress(0.0, desc="waiting for the cancelled job to clean up")
            prev.proc.wait()

    # ---------------------------------------------------------------- results
    def _results(self, run_dir: Path, show_masks: bool, head: str):
        rf = run_files(run_dir, VIEWER_HEIGHT)
        t = rf.timings
        times = ", ".join(f"{k} {v:.1f} s" for k, v in t.items()) if t else ""
        status = (f"**{head}** Run `{rf.name}`: {len(rf.views)} views" + (f" ({times})" if times else "")
                  + f"; folder `{run_dir}`.")
        runs = list_runs(self.out_root)
        return (
            status,
            self._gallery(rf, show_masks),
            str(rf.video) if rf.video else None,
            str(rf.viewer_scene) if rf.viewer_scene else None,
            str(rf.zip),
            gr.update(choices=runs, value=rf.name),
            rf.name,
            self._editor_value(rf),
        )

    @staticmethod
    def _editor_value(rf):
        """The edit tab's canvas: the run's input view to paint on."""
        if not rf.views:
            return None
        return {"background": str(rf.views[0]), "layers": [], "composite": str(rf.views[0])}

    @staticmethod
    def _gallery(rf, show_masks: bool):
        items = rf.masks if show_masks else rf.views
        what = "mask (white = seen in the photo)" if show_masks else "view"
        return [(str(p), f"{p.stem}{' (input camera)' if i == 0 else ''} {what}") for i, p in enumerate(items)]

    def open_run(self, name, show_masks):
        try:
            if not name:
                raise See3DError("choose a run to open")
            return self._results(run_dir_of(self.out_root, name), show_masks, "Reopened.")
        except Exception as e:  # noqa: BLE001
            raise _readable(e) from None

    def toggle_masks(self, name, show_masks):
        if not name:
            return gr.skip()
        try:
            return self._gallery(run_files(run_dir_of(self.out_root, name), VIEWER_HEIGHT), show_masks)
        except Exception as e:  # noqa: BLE001
            raise _readable(e) from None

    def refresh_runs(self):
        return gr.update(choices=list_runs(self.out_root))


def build_app(out_root: str | Path, max_pixels: int = MAX_PIXELS, defaults: dict | None = None) -> gr.Blocks:
    """The page (not launched; see :func:`launch`). ``defaults``: initial values of the job's
    fields (``depth_model``, ``fill``, ``trajectory``, ``frames``, ``max_size``, ``gaussians``, ``gs_iterations``,
    ``gs_max_gaussians``, ``seed``, ``sparse_iterations``)."""
    d = {"depth_model": "auto", "fill": "mvd", "trajectory": "orbit", "frames": 12, "max_size": 512, "gaussians": True, "gs_iterations": 200,
         "gs_max_gaussians": 30_000, "sparse_iterations": 1500,
         "seed": 0, **(defaults or {})}
    out_root = Path(out_root).resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    app = _App(out_root, max_pixels)
    text_model = cached_text_model()
    with gr.Blocks(title="see3d", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        gr.Markdown(
            "## see3d - one photo to novel views and a 3D Gaussian-splat scene\n"
            f"Runs are kept in `{out_root}` (one folder per run; the app never deletes them)."
        )
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                with gr.Tabs():
                    with gr.Tab("Photo to 3D"):
                        photo = gr.File(label="Photo", file_types=IMAGE_TYPES, type="filepath", height=90, elem_id="see3d-photo")
                        example = gr.Dropdown([NO_EXAMPLE, "motorcycle"], value=NO_EXAMPLE, label="or the bundled example",
                                              info="Middlebury 2014 'motorcycle' with its true depth and camera")
                        preview = gr.Image(label="Input", interactive=False, height=200, elem_id="see3d-preview")
                        camera = gr.Markdown("Upload a photo (PNG/JPEG) or choose the bundled example.", elem_id="see3d-camera")
                        with gr.Accordion("Camera (optional)", open=False):
                            fov = gr.Number(label="Field of view (degrees, across the longer side)", value=None, minimum=1, maximum=170)
                            with gr.Row():
                                fx = gr.Number(label="fx (px)", value=None)
                                fy = gr.Number(label="fy (px)", value=None)
                                cx = gr.Number(label="cx (px)", value=None)
                                cy = gr.Number(label="cy (px)", value=None)
                        run_btn = gr.Button("Run", variant="primary", elem_id="see3d-run")
                    if text_model is not None:
                        with gr.Tab("Text to 3D"):
                            prompt = gr.Textbox(label="Prompt", lines=2, placeholder="a red motorcycle in a garage")
                            gr.Markdown(f"The picture is made by `{text_model}` (downloaded text-to-image model), then the photo path runs on it.")
                            with gr.Row():
                                t2i_steps = gr.Slider(1, 100, value=25, step=1, label="Text-to-image steps")
                                t2i_size = gr.Slider(32, 1024, value=512, step=32, label="Picture size (px)")
                            text_btn = gr.Button("Run", variant="primary", elem_id="see3d-run-text")
                    with gr.Tab("Sparse views"):
                        gr.Markdown("A few photos of one scene, with their poses (a `transforms.json` among the uploads; "
                                    "its frames are matched to the photos by file name) or without (then pycolmap poses "
                                    "them: extra `sfm`). Generated views between and around them densify the 3DGS fit "
                                    "(`see3d reconstruct --densify`).")
                        sparse_files = gr.File(label="Photos (+ transforms.json)", file_count="multiple",
                                               file_types=IMAGE_TYPES + [".json"], type="filepath", height=120, elem_id="see3d-sparse")
                        with gr.Row():
                            densify = gr.Slider(0, 24, value=8, step=1, label="Generated views")
                            sparse_iterations = gr.Slider(50, 5000, value=d["sparse_iterations"], step=50, label="3DGS steps")
                        sparse_btn = gr.Button("Run", variant="primary", elem_id="see3d-run-sparse")
                    with gr.Tab("Edit a run"):
                        gr.Markdown("Paint the region to change on the input view of the open run (the list below), "
                                    "upload a replacement picture (resized to the view size; its pixels inside the painted region "
                                    "are used): the region is regenerated in every view it reaches and the splats are refitted, "
                                    "into a new run.")
                        editor = gr.ImageEditor(label="Input view of the open run", type="numpy", sources=(), transforms=(),
                                                layers=False, brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed", default_size=24),
                                                height=260, elem_id="see3d-editor")
                        replacement = gr.File(label="Replacement picture", file_types=IMAGE_TYPES, type="filepath", height=90)
                        edit_btn = gr.Button("Run the edit", variant="primary", elem_id="see3d-run-edit")
                with gr.Accordion("Settings", open=True):
                    depth_model = gr.Dropdown(depth_choices(), value=d["depth_model"], label="Depth model",
                                              info="for photos and text (the example has true depth)")
                    fill = gr.Dropdown(FILLERS, value=d["fill"], label="Hole filler")
                    trajectory = gr.Radio(list(TRAJECTORIES), value=d["trajectory"], label="Camera path",
                                          info="; ".join(f"{k}: {v}" for k, v in TRAJECTORY_NOTES.items()))
                    with gr.Row():
                        frames = gr.Slider(2, 48, value=d["frames"], step=1, label="Views")
                        seed = gr.Number(d["seed"], precision=0, label="Seed")
                    with gr.Accordion("Speed and quality", open=False):
                        max_size = gr.Slider(64, 1024, value=d["max_size"], step=16, label="Working size (longer side, px)")
                        gaussians = gr.Checkbox(d["gaussians"], label="Fit 3D Gaussian splats")
                        gs_iterations = gr.Slider(10, 2000, value=d["gs_iterations"], step=10, label="3DGS steps")
                        gs_max_gaussians = gr.Slider(1000, 200_000, value=d["gs_max_gaussians"], step=1000,
                                                     label="Most Gaussians (more = finer, slower to fit and to draw)")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="see3d-cancel")
            with gr.Column(scale=3, min_width=400):
                status = gr.Markdown(elem_id="see3d-status")
                scene = gr.Model3D(label="3D Gaussian splats (drag to turn)", height=VIEWER_HEIGHT, elem_id="see3d-scene",
                                   clear_color=(0.0, 0.0, 0.0, 1.0))
                gallery = gr.Gallery(label="Views", columns=6, height=230, elem_id="see3d-gallery", object_fit="contain")
                show_masks = gr.Checkbox(False, label="Show masks instead (white = seen in the photo, black = generated)")
                with gr.Row():
                    video = gr.Video(label="Fly-through", height=240, elem_id="see3d-video")
                    zip_file = gr.File(label="Download the run folder (.zip)", elem_id="see3d-zip")
        with gr.Row():
            runs = gr.Dropdown(list_runs(out_root), value=None, label="Earlier runs (in the output root)", scale=4,
                               allow_custom_value=True)  # the list grows while the page is open; names are checked
            refresh_btn = gr.Button("Refresh", scale=1)
            open_btn = gr.Button("Open", scale=1)
        run_name = gr.State(None)

        results = [status, gallery, video, scene, zip_file, runs, run_name, editor]
        settings = [depth_model, fill, trajectory, frames, seed, max_size, gaussians, gs_iterations, gs_max_gaussians]
        cam_inputs = [photo, example, fov, fx, fy, cx, cy]
        for comp in (photo, example, fov, fx, fy, cx, cy):
            comp.change(app.camera_note, cam_inputs, [preview, camera], concurrency_limit=None, show_progress="hidden",
                        api_name="camera" if comp is photo else False)
        jobs = [run_btn.click(app.run, [photo, example, fov, fx, fy, cx, cy, *settings, show_masks], results,
                              api_name="run", concurrency_limit=1, show_progress="full")]
        jobs.append(edit_btn.click(app.run_edit, [runs, editor, replacement, fill, seed, show_masks], results,
                                   api_name="edit", concurrency_limit=1, show_progress="full"))
        jobs.append(sparse_btn.click(app.run_sparse, [sparse_files, densify, sparse_iterations, *settings, show_masks],
                                     results, api_name="sparse", concurrency_limit=1, show_progress="full"))
        if text_model is not None:
            jobs.append(text_btn.click(app.run_text, [prompt, t2i_steps, t2i_size, *settings, show_masks], results,
                                       api_name="text", concurrency_limit=1, show_progress="full"))
        cancel_btn.click(lambda: "**Cancelled**: the job was stopped; nothing of it was written.", None, status,
                         cancels=jobs, concurrency_limit=None, api_name=False)
        show_masks.change(app.toggle_masks, [run_name, show_masks], gallery, concurrency_limit=None,
                          show_progress="hidden", api_name="masks")
        open_btn.click(app.open_run, [runs, show_masks], results, concurrency_limit=None, api_name="open_run")
        refresh_btn.click(app.refresh_runs, None, runs, concurrency_limit=None, api_name=False)
        demo.load(app.refresh_runs, None, runs, api_name=False)
    demo.see3d = app  # for tests and launch()
    return demo


def launch(
    out_root: str | Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    max_file_size: str | int = MAX_FILE_SIZE,
    max_pixels: int = MAX_PIXELS,
    block: bool = True,
    quiet: bool = False,
    defaults: dict | None = None,
) -> gr.Blocks:
    """Build and start the app; returns the running Blocks (``block=False``: at once)."""
    demo = build_app(out_root, max_pixels=max_pixels, defaults=defaults)
    demo.queue(default_concurrency_limit=1, max_size=64)
    root = str(Path(out_root).resolve())
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        max_file_size=max_file_size,
        allowed_paths=[root],
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        quiet=quiet,
        prevent_thread_lock=not block,
        footer_links=[],
    )
    return demo


def stop(demo: gr.Blocks) -> None:
    """Cancel a running job (nothing half-written remains) and close the server."""
    app = getattr(demo, "see3d", None)
    if app is not None and app.current is not None and app.current.running():
        app.current.cancel(wait=True)
    demo.close()
