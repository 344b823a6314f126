"""Shared test fixtures.

Real data lives in ``../shared/data`` (see its README); tests that need it skip
with a reason when the folder is absent (a user who cloned the project alone).
Set ``SEE3D_SHARED_DATA`` to point elsewhere.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEE3D_SHARED_DATA", ROOT.parent / "shared" / "data"))

torch.set_num_threads(min(2, torch.get_num_threads()))

# Hermetic model cache: `--depth-model auto` / `--fill-model auto` look for downloaded models in the
# Hugging Face cache; the tests must not see (or write to) the developer's own. Subprocesses inherit it.
_HF_HOME = Path(tempfile.mkdtemp(prefix="see3d-tests-hf-"))
os.environ["HF_HOME"] = str(_HF_HOME)
for _var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set SEE3D_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def motorcycle():
    """Middlebury motorcycle stereo pair from scikit-image with metric depth and intrinsics."""
    from see3d.synth.middlebury import load_motorcycle

    return load_motorcycle()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def tiny_model():
    """A small canonical-space depth network (channels 8/16/32, input 48x64) with a non-trivial
    head (it starts at zero): the depth backend tests' stand-in for real weights."""
    from see3d.depth.tiny import TinyDepthConfig, TinyDepthNet

    torch.manual_seed(0)
    m = TinyDepthNet(TinyDepthConfig(channels=(8, 16, 32), input_size=(48, 64))).eval()
    with torch.no_grad():
        m.head.weight.normal_(0, 0.3)
    return m


@pytest.fixture
def image(rng) -> np.ndarray:
    """A 70x45 random uint8 photo (depth backend tests)."""
    return rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)


@pytest.fixture
def phone_video():
    """``write(path, frames)``: an H.264 file as phones record portrait video: every frame
    (``[H, W, 3]`` uint8, H > W) stored turned on its side (W x H) with a -90 degree display
    rotation, so a player (and see3d) shows ``frames`` upright."""
    import av

    def write(path, frames) -> None:
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=10)
            s.height, s.width = frames[0].shape[1], frames[0].shape[0]
            s.pix_fmt = "yuv420p"
            s.options = {"crf": "12"}
            s.set_display_rotation(-90)  # show = stored turned 90 degrees clockwise
            for f in frames:
                for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(f, 1)), format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)

    return write
