"""`see3d generate --batch jobs.jsonl -o OUTROOT`: one folder per job, results.jsonl, failures
isolated, reruns skip finished jobs, a malformed jobs file stops everything before any work."""

import json

import numpy as np
import pytest
from PIL import Image

from see3d.cli import main

DEFAULTS = ["--fill", "telea", "--no-gaussians", "--max-size", "64", "--depth-model", "tiny", "-q"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two synth views (photo + exact depth) in a folder, with a relative-path jobs file."""
    from see3d.io import save_image, to_uint8
    from see3d.synth import render_clip

    root = tmp_path_factory.mktemp("batch")
    (root / "in").mkdir()
    clip = render_clip(seed=5, frames=2, size=(48, 64), kind="room")
    for i in range(2):
        save_image(root / "in" / f"p{i}.png", to_uint8(clip.rgb[i]))
        np.save(root / "in" / f"p{i}.npy", clip.depth[i])
    return root, clip


def _jobs(root, lines, name="jobs.jsonl"):
    p = root / name
    p.write_text("".join((json.dumps(x) if not isinstance(x, str) else x) + "\n" for x in lines))
    return p


def _results(out):
    return {r["name"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


def test_batch_runs_every_job_and_isolates_failures(photos, tmp_path, capsys):
    root, clip = photos
    jobs = _jobs(root, [
        {"name": "a", "input": "in/p0.png", "depth": "in/p0.npy", "frames": 3, "fov": 60},
        "# a comment line, then a blank one",
        "",
        {"input": "in/missing.png"},  # fails: job_0002
        {"name": "c", "input": "in/p1.png", "trajectory": "dolly", "frames": 4, "gaussians": False},
    ])
    out = tmp_path / "runs"
    assert main(["generate", "--batch", str(jobs), "-o", str(out), *DEFAULTS]) == 2  # a job failed
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 of 3 jobs failed" in err[0] and "job_0002" in err[0]
    res = _results(out)
    assert list(res) == ["a", "job_0002", "c"]
    assert res["a"]["status"] == res["c"]["status"] == "ok" and res["job_0002"]["status"] == "error"
    assert "image not found" in res["job_0002"]["error"] and res["job_0002"]["seconds"] >= 0
    assert all(r["seconds"] > 0 for r in (res["a"], res["c"]))
    assert not (out / "job_0002").exists()
    # each job got its own options: frames, trajectory; job a used the given depth
    assert len(list((out / "a" / "views").glob("*.png"))) == 3
    assert len(list((out / "c" / "views").glob("*.png"))) == 4
    assert json.loads((out / "c" / "transforms.json").read_text())["see3d"]["trajectory"] == "dolly"
    d0 = np.load(out / "a" / "depth" / "0000.npy")
    assert np.allclose(d0, clip.depth[0], atol=1e-5)
    assert np.array_equal(np.asarray(Image.open(out / "a" / "views" / "0000.png")), np.asarray(Image.open(root / "in" / "p0.png")))

    # rerun: finished jobs are skipped (their folders untouched), the failed one runs again
    stamp = (out / "a" / "views" / "0001.png").stat().st_mtime_ns
    (root / "in" / "missing.png").write_bytes((root / "in" / "p1.png").read_bytes())
    try:
        assert main(["generate", "--batch", str(jobs), "-o", str(out), *DEFAULTS]) == 0
    finally:
        (root / "in" / "missing.png").unlink()
    res2 = _results(out)
    assert res2["a"]["reused"] and res2["c"]["reused"] and not res2["job_0002"].get("reused")
    assert res2["job_0002"]["status"] == "ok" and (out / "job_0002" / "views").is_dir()
    assert (out / "a" / "views" / "0001.png").stat().st_mtime_ns == stamp
    # a changed option reruns that job only
    jobs2 = _jobs(root, [{"name": "a", "input": "in/p0.png", "depth": "in/p0.npy", "frames": 2, "fov": 60}], "jobs2.jsonl")
    assert main(["generate", "--batch", str(jobs2), "-o", str(out), *DEFAULTS]) == 0
    assert len(list((out / "a" / "views").glob("*.png"))) == 2


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a"]', "line 2: a job must be a JSON object"),
        ('{"input": "x.png", "colour": 3}', "line 2: 'colour' is not an option"),
        ('{"frames": 3}', "line 2: no input"),
        ('{"input": "x.png", "prompt": "a car"}', "more than one input"),
        ('{"input": "x.png", "out": "y"}', "'out' is set by the batch runner"),
        ('{"input": "x.png", "frames": "many"}', "line 2: frames"),
        ('{"input": "x.png", "frames": 0}', "line 2: frames"),
        ('{"input": "x.png", "gaussians": "no"}', "gaussians must be true or false"),
        ('{"name": "ok", "input": "x.png"}', "name 'ok' is already used on line 1"),
        ('{"name": "../up", "input": "x.png"}', "name must be"),
        ('{"prompt": " "}', "the prompt is empty"),
    ],
)
def test_malformed_jobs_file_is_one_line_before_any_work(tmp_path, capsys, line, message):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"name": "ok", "input": "x.png"}\n' + line + "\n")
    out = tmp_path / "runs"
    assert main(["generate", "--batch", str(jobs), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not out.exists()


def test_batch_refuses_inputs_beside_it_and_foreign_folders(tmp_path, capsys):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"example": "motorcycle"}\n')
    assert main(["generate", "--batch", str(jobs), "--example", "motorcycle", "-o", str(tmp_path / "r"), "-q"]) == 2
    assert "--batch takes the inputs from the jobs file" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["generate", "--batch", str(jobs), "-o", str(other), "-q"]) == 2
    assert "not written by see3d" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    assert main(["generate", "--batch", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "r"), "-q"]) == 2
    assert "jobs file not found" in capsys.readouterr().err


def test_ctrl_c_stops_the_batch_and_keeps_what_finished(photos, tmp_path, monkeypatch):
    """Ctrl-C during a job: the batch stops (no further job), results.jsonl keeps the finished ones."""
    import see3d.pipeline.single_view as pg
    root, _ = photos
    jobs = _jobs(root, [{"name": f"j{i}", "input": "in/p0.png", "frames": 2} for i in range(3)], "ctrlc.jsonl")
    real = pg.generate_views
    calls = []

    def interrupt_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(pg, "generate_views", interrupt_second)
    out = tmp_path / "runs"
    assert main(["generate", "--batch", str(jobs), "-o", str(out), *DEFAULTS]) == 130
    assert len(calls) == 2
    res = _results(out)
    assert list(res) == ["j0"] and res["j0"]["status"] == "ok"
    assert not (out / "j1").exists() and not (out / "j2").exists()
