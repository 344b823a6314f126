"""Texture bank for the procedural scenes: real photographs and procedural patterns.

Every texture is an RGB float32 image in ``[0, 1]`` that tiles (the photographs
tile with a visible seam, like wallpaper; the procedural ones are periodic).
The bank is built once per process (:func:`texture_bank`) and is identical in
every process: photographs come from ``skimage.data`` and procedural textures
from a fixed seed.  Each texture is stored with its mip pyramid in one flat
array so a renderer can sample any texture at any level with one gather.

Names (``TEXTURES``):

- photographs (``skimage.data``, public domain / CC0): ``astronaut``, ``coffee``,
  ``chelsea``, ``rocket``, ``hubble``, ``ihc``, ``colorwheel``, ``retina``,
  ``camera``, ``moon``, ``coins``, ``clock``, ``text``, ``page``;
  material photographs ``brick`` (512 px = 0.8 m of wall, bricks upright in the
  image), ``grass`` (~1 m), ``gravel`` (~0.5 m);
- procedural: ``checker`` (2 x 2 cells), ``stripes`` (8 stripes), ``noise``
  (1/f fractal noise), ``fine_noise``, ``wood`` (4 planks with grain),
  ``tiles`` (2 x 2 tiles with grout lines), ``fabric`` (woven pattern), ``plaster``
  (bright, faint noise: ceilings and painted walls).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: Side of every texture in the bank (pixels).  Photographs are resized to fit.
TEX_SIZE = 256

PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble",
    "ihc",
    "colorwheel",
    "retina",
    "camera",
    "moon",
    "coins",
    "clock",
    "text",
    "page",
)
MATERIAL_PHOTOS = ("brick", "grass", "gravel")
PROCEDURAL = ("checker", "stripes", "noise", "fine_noise", "wood", "tiles", "fabric", "plaster")
TEXTURES = PHOTOS + MATERIAL_PHOTOS + PROCEDURAL

_SKIMAGE_NAME = {"hubble": "hubble_deep_field", "ihc": "immunohistochemistry"}


@dataclass(frozen=True)
class TextureBank:
    """All textures and their mip levels in one flat ``[T, 3]`` float32 array.

    ``table[k, l] = (offset, width, height)`` of texture ``k`` at mip level ``l``
    (level 0 is full size, each level halves; levels below 1 px repeat the last).
    """

    names: tuple[str, ...]
    texels: np.ndarray  #: float32 [T, 3]
    table: np.ndarray  #: int64 [K, L, 3]
    aspect: np.ndarray  #: float64 [K] width / height of the source image (posters keep it)

    @property
    def levels(self) -> int:
        return self.table.shape[1]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def image(self, name: str, level: int = 0) -> np.ndarray:
        """Texture ``name`` at mip ``level`` as ``[h, w, 3]``."""
        off, w, h = self.table[self.index(name), level]
        return self.texels[off : off + w * h].reshape(h, w, 3)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    interp = cv2.INTER_AREA if min(img.shape[:2]) >= size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(img, np.float32), (size, size), interpolation=interp)


_FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "hubble": "hubble_deep_field.jpg",
    "ihc": "ihc.png",
    "colorwheel": "color.png",
    "retina": "retina.jpg",
    "camera": "camera.png",
    "moon": "moon.png",
    "coins": "coins.png",
    "clock": "clock_motion.png",
    "text": "text.png",
    "page": "page.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
}


def _load_photo(name: str) -> np.ndarray:
    """The ``skimage.data`` image as RGB(A) or grey, read straight from the wheel (fast) when possible."""
    import os

    import skimage.data
    from PIL import Image

    path = os.path.join(os.path.dirname(skimage.data.__file__), _FILES[name])
    if not os.path.isfile(path):  # layout changed: go through the public loader (slower first call)
        return np.asarray(getattr(skimage.data, _SKIMAGE_NAME.get(name, name))())
    with Image.open(path) as im:
        return np.asarray(im)


def _photo(name: str) -> tuple[np.ndarray, float]:
    img = _load_photo(name).astype(np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    aspect = img.shape[1] / img.shape[0]
    return _resize(img, TEX_SIZE), float(aspect)


def _periodic_noise(rng: np.random.Generator, n: int, beta: float, low_cut: float = 1.0) -> np.ndarray:
    """Periodic fractal noise in [0, 1]: white noise filtered by ``1 / f**beta`` (tiles exactly)."""
    f = np.fft.fftfreq(n) * n
    fx, fy = np.meshgrid(f, f)
    r = np.sqrt(fx**2 + fy**2)
    amp = np.where(r >= low_cut, 1.0 / np.maximum(r, 1e-9) ** beta, 0.0)
    spec = np.fft.fft2(rng.normal(size=(n, n))) * amp
    x = np.real(np.fft.ifft2(spec))
    x = (x - x.min()) / (x.max() - x.min() + 1e-12)
    return x


def _procedural(name: str, rng: np.random.Generator) -> np.ndarray:
    n = TEX_SIZE
    s = (np.arange(n) + 0.5) / n
    u, v = np.meshgrid(s, s)
    if name == "checker":
        g = ((np.floor(u * 2) + np.floor(v * 2)) % 2) * 0.65 + 0.25
        g = g * (0.92 + 0.08 * _periodic_noise(rng, n, 1.0))
    elif name == "stripes":
        g = 0.55 + 0.35 * np.sign(np.sin(2 * np.pi * 8 * u)) * (0.7 + 0.3 * np.sin(2 * np.pi * 16 * u) ** 2)
        g = g * (0.9 + 0.1 * _periodic_noise(rng, n, 1.5))
    elif name == "noise":
        g = 0.2 + 0.75 * _periodic_noise(rng, n, 1.6)
    elif name == "fine_noise":
        g = 0.55 + 0.4 * (_periodic_noise(rng, n, 0.8, low_cut=4.0) - 0.5) * 2
    elif name == "wood":  # 4 planks across v, grain along u, staggered plank ends
        planks = 4
        warp = _periodic_noise(rng, n, 2.2)
        pv = v * planks
        plank = np.floor(pv).astype(int)
        offs = rng.uniform(0, 1, planks)[plank]
        shade = rng.uniform(0.8, 1.1, planks)[plank]
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * (3 * (pv % 1) + 2.0 * warp + offs * 5))
        g = shade * (0.62 - 0.2 * grain**4 + 0.18 * _periodic_noise(rng, n, 1.0))
        side_seam = np.abs(pv % 1 - 0.5) > 0.485
        end_seam = ((u + offs) % 1) < 0.006
        g = np.where(side_seam | end_seam, 0.18, g)
    elif name == "tiles":
        tile = 2
        fu, fv = (u * tile) % 1, (v * tile) % 1
        grout = (np.minimum(fu, 1 - fu) < 0.03) | (np.minimum(fv, 1 - fv) < 0.03)
        shade = 0.75 + 0.15 * rng.uniform(-1, 1, (tile, tile))[
            np.floor(v * tile).astype(int), np.floor(u * tile).astype(int)
        ]
        g = np.where(grout, 0.35, shade * (0.9 + 0.1 * _periodic_noise(rng, n, 1.0)))
    elif name == "fabric":
        weave = np.sin(2 * np.pi * 32 * u) * np.sin(2 * np.pi * 32 * v)
        g = 0.6 + 0.15 * weave + 0.25 * (_periodic_noise(rng, n, 1.2) - 0.5)
    elif name == "plaster":
        g = 0.8 + 0.2 * _periodic_noise(rng, n, 1.3) - 0.05 * _periodic_noise(rng, n, 0.6, low_cut=8.0)
    else:  # pragma: no cover - guarded by TEXTURES
        raise KeyError(name)
    g = np.clip(g, 0.0, 1.0).astype(np.float32)
    return np.repeat(g[..., None], 3, axis=2)


def _mips(img: np.ndarray) -> list[np.ndarray]:
    levels = [img]
    while levels[-1].shape[0] > 1:
        a = levels[-1]
        levels.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))
    return levels


@functools.lru_cache(maxsize=1)
def texture_bank() -> TextureBank:
    """The texture bank (built once per process, ~0.5 s; deterministic)."""
    rng = np.random.default_rng(20241209)
    images, aspects = [], []
    for name in TEXTURES:
        if name in PHOTOS or name in MATERIAL_PHOTOS:
            img, aspect = _photo(name)
        else:
            img, aspect = _procedural(name, rng), 1.0
        images.append(img)
        aspects.append(aspect)
    pyramids = [_mips(img) for img in images]
    L = len(pyramids[0])
    table = np.zeros((len(images), L, 3), np.int64)
    chunks, off = [], 0
    for k, pyr in enumerate(pyramids):
        for lev, a in enumerate(pyr):
            h, w = a.shape[:2]
            table[k, lev] = (off, w, h)
            chunks.append(a.reshape(-1, 3))
            off += w * h
    texels = np.ascontiguousarray(np.concatenate(chunks).astype(np.float32))
    texels.setflags(write=False)
    table.setflags(write=False)
    return TextureBank(tuple(TEXTURES), texels, table, np.asarray(aspects))


def sample(
    bank: TextureBank,
    tex: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    level: np.ndarray,
    clamp: np.ndarray,
) -> np.ndarray:
    """Trilinear texture lookup.

    ``tex`` int [N] texture index, ``u, v`` [N] texture coordinates (1.0 = one
    texture width; repeat, or clamp where ``clamp``), ``level`` float [N] mip level.
    Returns ``[N, 3]`` float32.  Texel ``i`` has its centre at ``(i + 0.5) / w``.
    """
    L = bank.levels
    level = np.clip(level, 0.0, L - 1.0)
    l0 = np.floor(level).astype(np.int64)
    l1 = np.minimum(l0 + 1, L - 1)
    a = (level - l0)[:, None].astype(np.float32)
    return (1 - a) * _bilinear(bank, tex, u, v, l0, clamp) + a * _bilinear(bank, tex, u, v, l1, clamp)


def _bilinear(bank, tex, u, v, lev, clamp):
    ent = bank.table[tex, lev]
    off, w, h = ent[:, 0], ent[:, 1], ent[:, 2]
    uu = np.where(clamp, np.clip(u, 0.0, 1.0), u - np.floor(u))
    vv = np.where(clamp, np.clip(v, 0.0, 1.0), v - np.floor(v))
    x = uu * w - 0.5
    y = vv * h - 0.5
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0).astype(np.float32)[:, None]
    fy = (y - y0).astype(np.float32)[:, None]
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    x1, y1 = x0 + 1, y0 + 1
    # repeat wraps, clamp stops at the border
    x0w = np.where(clamp, np.clip(x0, 0, w - 1), x0 % w)
    x1w = np.where(clamp, np.clip(x1, 0, w - 1), x1 % w)
    y0w = np.where(clamp, np.clip(y0, 0, h - 1), y0 % h)
    y1w = np.where(clamp, np.clip(y1, 0, h - 1), y1 % h)
    t = bank.texels
    c00 = t[off + y0w * w + x0w]
    c01 = t[off + y0w * w + x1w]
    c10 = t[off + y1w * w + x0w]
    c11 = t[off + y1w * w + x1w]
    return (1 - fy) * ((1 - fx) * c00 + fx * c01) + fy * ((1 - fx) * c10 + fx * c11)
