"""Make the README's picture from the bundled example: the input photo, a strip of generated views
and a render of the fitted 3D Gaussian Splatting scene from a camera beyond the trajectory.

    python scripts/make_readme_figure.py                      # runs see3d generate --example motorcycle (about 1 min on 2 cores)
    python scripts/make_readme_figure.py out/                 # or reads an earlier `see3d generate ... -o out/`
    python scripts/make_readme_figure.py out/ -o docs/readme.png --width 1200

The picture stays true to the code: every pixel comes from a `see3d generate` output folder
(views/, masks/, depth/, transforms.json, scene.ply). Writes a PNG (default docs/readme.png);
run it again when the pipeline's output changes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
BACKGROUND = (255, 255, 255)
TEXT = (40, 40, 40)


def run_generate(out: Path) -> None:
    """The README's quick-start command (default settings) into ``out``."""
    cmd = [sys.executable, "-m", "see3d", "generate", "--example", "motorcycle", "-o", str(out), "-q"]
    print("running:", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def novel_render(folder: Path, degrees: float = 25.0) -> Image.Image:
    """The folder's scene.ply rendered from an orbit ``degrees`` to the side of the input camera
    (beyond the trajectory's 15 degrees), at the views' size."""
    from see3d.camera import TrajectoryConfig, make_trajectory, scene_depth_of
    from see3d.gs import load_gaussians, render_views
    from see3d.io.cameras import read_transforms_json

    cams = read_transforms_json(folder / "transforms.json")
    depth = np.load(folder / "depth" / "0000.npy")
    poses = make_trajectory("orbit", scene_depth_of(depth), TrajectoryConfig(frames=8, orbit_degrees=degrees), c2w=cams.poses[0])
    model = load_gaussians(folder / "scene.ply")
    rgb = render_views(model, cams.intrinsics[0], poses[2:3], background=(1.0, 1.0, 1.0))[0]
    return Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _fit(img: Image.Image, width: int) -> Image.Image:
    h = max(1, round(img.height * width / img.width))
    return img.resize((width, h), Image.LANCZOS)


def compose(folder: Path, width: int = 1200, strip: int = 6) -> Image.Image:
    views = sorted((folder / "views").glob("*.png"))
    if len(views) < 2:
        raise SystemExit(f"error: {folder}/views has fewer than 2 views; is it a see3d generate output?")
    if not (folder / "scene.ply").is_file():
        raise SystemExit(f"error: {folder}/scene.ply is missing (generated with --no-gaussians?)")
    pad, label_h = 12, 30
    font = _font(18)

    half = (width - 3 * pad) // 2
    photo = _fit(Image.open(views[0]).convert("RGB"), half)
    scene = _fit(novel_render(folder), half)

    picks = [views[round(i)] for i in np.linspace(1, len(views) - 1, min(strip, len(views) - 1))]
    cell = (width - (len(picks) + 1) * pad) // len(picks)
    tiles = []
    for p in picks:
        im = Image.open(p).convert("RGB")
        mask = folder / "masks" / p.name
        if mask.is_file():  # generated pixels tinted, so the reader sees what the model made
            m = np.asarray(Image.open(mask).convert("L")) < 128
            a = np.asarray(im).astype(np.float32)
            a[m] = 0.75 * a[m] + 0.25 * np.array([255.0, 140.0, 0.0])
            im = Image.fromarray(a.astype(np.uint8))
        tiles.append(_fit(im, cell))

    top_h = max(photo.height, scene.height)
    strip_h = max(t.height for t in tiles)
    H = pad + label_h + top_h + pad + label_h + strip_h + pad
    canvas = Image.new("RGB", (width, H), BACKGROUND)
    d = ImageDraw.Draw(canvas)
    d.text((pad, pad), "the input photo", fill=TEXT, font=font)
    d.text((2 * pad + half, pad), "its 3D Gaussian scene (the quick preview fit), 25 degrees aside", fill=TEXT, font=font)
    canvas.paste(photo, (pad, pad + label_h))
    canvas.paste(scene, (2 * pad + half, pad + label_h))
    y = pad + label_h + top_h + pad
    d.text((pad, y), "generated views along the orbit (orange tint: pixels the diffusion model filled)", fill=TEXT, font=font)
    y += label_h
    for i, t in enumerate(tiles):
        canvas.paste(t, (pad + i * (cell + pad), y))
    return canvas


def save_small(img: Image.Image, path: Path, max_bytes: int = 400_000) -> int:
    """PNG under ``max_bytes``: full colour if it fits, else an adaptive 256-colour palette."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    img.save(tmp, format="PNG", optimize=True)
    if tmp.stat().st_size > max_bytes:
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(tmp, format="PNG", optimize=True)
    tmp.replace(path)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, help="an earlier `see3d generate` output (default: run the example now)")
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "readme.png", help="the PNG to write")
    ap.add_argument("--width", type=int, default=1200, help="picture width in pixels")
    args = ap.parse_args(argv)
    if args.folder is None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "out"
            run_generate(folder)
            img = compose(folder, args.width)
    else:
        img = compose(args.folder, args.width)
    n = save_small(img, args.out)
    print(f"wrote {args.out} ({img.width}x{img.height}, {n / 1000:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
