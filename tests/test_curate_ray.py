"""``see3d curate --engine ray``: the same decisions and the same shards as the local engine, on a
local Ray instance with 2 CPUs that the test starts and stops."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'see3d[ray]')")

from see3d.curate import CurateConfig, curate  # noqa: E402
from see3d.curate.synthetic import camera_clip, write_clip_video  # noqa: E402


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    d = tmp_path_factory.mktemp("ray_inputs")
    out = []
    for i, kind in enumerate(["translate", "dynamic", "fixed", "rotate", "translate"]):
        p = d / f"clip{i}_{kind}.mp4"
        write_clip_video(p, camera_clip(kind, seed=0 if i < 4 else 1))
        out.append(str(p))
    return out


@pytest.fixture(scope="module")
def ray_cluster():
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ctx.address_info["gcs_address"]
    finally:
        ray.shutdown()


def _shards(ds: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((ds / "shards").glob("shard-*.tar"))]


def _decisions(ds: Path) -> list[tuple]:
    recs = [json.loads(ln) for ln in (ds / "report.jsonl").read_text().splitlines()]
    return [(r["type"], r["source"], r.get("clip"), r["decision"], r["reason"], json.dumps(r.get("scores"), sort_keys=True)) for r in recs]


def test_ray_engine_matches_local(inputs, ray_cluster, tmp_path):
    cfg = CurateConfig(shard_bytes=1)
    local = curate(inputs, tmp_path / "local", cfg)
    remote = curate(inputs, tmp_path / "ray", cfg, engine="ray")
    assert remote["run"]["engine"] == "ray" and remote["complete"]
    assert local["kept"] == remote["kept"] == 2
    assert _decisions(tmp_path / "local") == _decisions(tmp_path / "ray")
    assert _shards(tmp_path / "local") == _shards(tmp_path / "ray") and len(_shards(tmp_path / "ray")) == 2
    with tarfile.open(sorted((tmp_path / "ray" / "shards").glob("*.tar"))[0]) as tf:
        assert any(m.name.endswith(".json") for m in tf)


def test_ray_command_line_with_address(inputs, ray_cluster, tmp_path):
    """``see3d curate --engine ray --address ADDR`` runs its tasks on the running cluster."""
    r = subprocess.run(
        [sys.executable, "-m", "see3d", "curate", *inputs[:3], "-o", str(tmp_path / "ds"), "--engine", "ray", "--address", ray_cluster, "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    local = curate(inputs[:3], tmp_path / "local", CurateConfig())
    assert _decisions(tmp_path / "ds") == _decisions(tmp_path / "local")
    assert _shards(tmp_path / "ds") == _shards(tmp_path / "local")
    assert local["kept"] == 1
