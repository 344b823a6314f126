"""``see3d curate``: each step's scores, the decisions on synthetic and real clips, the dataset
folder (shards, report, summary), resume after kill -9, bad inputs, and training on the result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from see3d.curate import (
    CurateConfig,
    analyse_clip,
    circle_radius,
    curate,
    decode,
    detect_shots,
    dynamic_check,
    edge_check,
    expand_inputs,
    motion_mask,
    process_input,
    quality_check,
    sampson_distance,
    semantic_check,
    viewpoint_check,
)
from see3d.curate.decode import Frame
from see3d.curate.synthetic import camera_clip, write_clip_folder, write_clip_video
from see3d.errors import See3DError

EXPECTED = {"translate": None, "fixed": "static", "dynamic": "dynamic", "rotate": "small_viewpoint"}


@pytest.fixture(scope="module")
def synth_videos(tmp_path_factory) -> dict[str, Path]:
    """The four synthetic camera clips (seed 0, 160 x 120, 48 frames) as H.264 videos."""
    d = tmp_path_factory.mktemp("synth")
    out = {}
    for kind in EXPECTED:
        p = d / f"{kind}.mp4"
        write_clip_video(p, camera_clip(kind, seed=0))
        out[kind] = p
    return out


def _clip_records(res):
    return [r for r in res.records if r["type"] == "clip"]


# ------------------------------------------------------------------------------ decisions


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_synthetic_clip_decisions(synth_videos, kind):
    res = process_input(0, str(synth_videos[kind]), CurateConfig())
    clips = _clip_records(res)
    assert len(clips) == 1 and clips[0]["frames"] == 24  # 48 frames, every 2nd
    rec = clips[0]
    want = EXPECTED[kind]
    assert rec["reason"] == want, rec["detail"]
    assert rec["decision"] == ("keep" if want is None else "drop")
    # the step that dropped it says so, with its scores
    if want is not None:
        step = {"static": "static", "dynamic": "dynamic", "small_viewpoint": "viewpoint"}[want]
        assert rec["scores"][step]["drop"] and rec["scores"][step]["reason"] == want
    else:
        assert len(res.samples) == 1 and res.thumbs
        assert all(rec["scores"][s] is not None for s in ("quality", "static", "dynamic", "viewpoint"))
    assert rec["scores"]["semantic"]["scores"] == {"off": True}  # off by default, and it says so
    inp = res.records[-1]
    assert inp["type"] == "input" and inp["decision"] == "ok" and inp["semantic"] == "off"


def test_all_scores_keep_the_first_reason(synth_videos):
    res = process_input(0, str(synth_videos["rotate"]), CurateConfig(all_scores=True))
    rec = _clip_records(res)[0]
    assert rec["reason"] == "small_viewpoint"
    assert all(rec["scores"][s] is not None for s in ("quality", "semantic", "static", "dynamic", "viewpoint"))
    assert rec["scores"]["dynamic"]["drop"] is False  # a rotation in place is not motion


def test_frame_folder_input(tmp_path):
    write_clip_folder(tmp_path / "walk", camera_clip("translate", seed=0)[::2])
    res = process_input(3, str(tmp_path / "walk"), CurateConfig())
    rec = _clip_records(res)[0]
    assert rec["decision"] == "keep" and rec["time_unit"] == "frame" and rec["frames"] == 24
    meta = json.loads(res.samples[0][1]["json"])
    assert meta["names"][0] == "00000.jpg" and meta["source_frames"] == list(range(24))


# ------------------------------------------------------------------------------ steps


def test_decode_downsamples_and_strides(synth_videos, tmp_path):
    frames, st = decode(synth_videos["translate"], size=60, stride=2)
    assert len(frames) == 24 and st.decoded == 48 and st.size == (80, 60)
    assert [f.source_index for f in frames[:3]] == [0, 2, 4]
    assert frames[1].time == pytest.approx(2 / 30, abs=1e-3)
    big = np.zeros((8, 960, 1280, 3), np.uint8)
    write_clip_video(tmp_path / "big.mp4", big)
    frames, st = decode(tmp_path / "big.mp4", size=480, stride=1)
    assert frames[0].rgb.shape == (480, 640, 3) and st.source_size == (1280, 960)


def test_shot_detector_finds_a_cut():
    a = camera_clip("translate", seed=0, frames=16)
    b = camera_clip("translate", seed=3, frames=16)
    cuts, scores = detect_shots(list(a) + list(b), threshold=27.0, min_frames=4)
    assert cuts == [16]
    assert scores[16] > 27 > max(scores[1:16])


def test_black_frames_at_clip_ends_are_trimmed(tmp_path):
    """A video opening on black: the black frame is no view, and as a clip's first frame it left
    the tracks nothing to follow, so a camera turning in place passed as kept."""
    from see3d.curate.pipeline import trim_black

    rot = camera_clip("rotate", seed=0)
    write_clip_video(tmp_path / "v.mp4", np.concatenate([np.zeros_like(rot[:2]), rot, np.zeros_like(rot[:2])]))
    recs = _clip_records(process_input(0, str(tmp_path / "v.mp4")))
    rec = max(recs, key=lambda r: r["frames"])
    assert rec["reason"] == "small_viewpoint" and rec["frames"] == 24 and rec["start"] > 0
    # the black end is cut off as a shot of its own by the content change, and dropped
    assert all(r["decision"] == "drop" for r in recs) and sum(r["frames"] for r in recs) == 25
    black = [Frame(i, i, float(i), np.zeros((4, 4, 3), np.uint8)) for i in range(3)]
    assert trim_black(black, 16.0) is black  # all black: left to the quality step


def test_quality_scores():
    rng = np.random.default_rng(0)
    sharp = [(rng.random((60, 80)) * 255).astype(np.uint8) for _ in range(16)]
    r = quality_check(sharp)
    assert not r.drop and r.scores["sharpness"] > 1000
    assert quality_check(sharp[:5]).reason == "too_few_frames"
    assert quality_check([np.zeros((60, 80), np.uint8)] * 16).reason == "black_frames"
    assert quality_check([np.full((60, 80), 250, np.uint8)] * 16).reason == "exposure"
    blurred = [cv2.GaussianBlur(np.full((60, 80), 120, np.uint8) + (np.arange(80) // 20).astype(np.uint8), (0, 0), 5)] * 16
    assert quality_check(blurred).reason == "blurry"


def test_edge_check_scores():
    g = cv2.cvtColor(camera_clip("fixed", seed=0, frames=20)[0], cv2.COLOR_RGB2GRAY)
    r = edge_check([g] * 20)
    assert r.drop and r.reason == "static" and min(r.scores["edge_scores"]) > 0.99
    moving = [np.roll(g, 3 * i, axis=1) for i in range(20)]
    assert not edge_check(moving).drop


def test_circle_radius():
    t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    circle = np.stack([50 + 10 * np.cos(t), 40 + 10 * np.sin(t)], 1)
    assert circle_radius(circle) == pytest.approx(10, rel=0.05)
    line = np.stack([np.linspace(0, 100, 30), np.full(30, 5.0)], 1)
    assert 25 < circle_radius(line) < 55  # the smallest circle holding 60% of a 100 px track
    assert circle_radius(np.full((10, 2), 3.0)) == pytest.approx(0, abs=1e-6)


def test_sampson_distance_of_a_rigid_motion():
    """Flow of a camera translating along x over a scene with depth: zero Sampson distance for F = [t]x."""
    h, w, f = 40, 50, 40.0
    depth = 2 + (np.arange(h)[:, None] + np.arange(w)[None]) / 30
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = f * 0.1 / depth  # horizontal parallax, no vertical motion
    F = np.array([[0, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64)  # epipolar lines are the rows
    assert np.abs(sampson_distance(flow, F)).max() < 1e-4
    flow[10:20, 10:20, 1] = 3.0  # something moves up
    d = sampson_distance(flow, F)
    assert d[10:20, 10:20].min() > 1.5 and d[25:, 25:].max() < 1e-4


def test_motion_mask_and_dynamic_check():
    fr = camera_clip("dynamic", seed=0)[::2]
    from see3d.curate.flow import make_flow

    fl = make_flow("dis")
    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in fr]
    fw = [fl(g[i], g[i + 1]) for i in range(len(g) - 1)]
    bw = [fl(g[i + 1], g[i]) for i in range(len(g) - 1)]
    m, info = motion_mask(fw[0], bw[0], 4.0, CurateConfig(), grey=g[0], grey_b=g[1])
    assert m.shape == g[0].shape and m.dtype == bool and 0 <= info["ratio"] <= 1
    r = dynamic_check(fw, bw, 4.0, CurateConfig(), images=list(zip(g[:-1], g[1:])))
    assert r.drop and r.reason == "dynamic" and len(r.scores["mask_ratio"]) == len(fw)


def test_decode_shows_portrait_phone_video_upright(tmp_path, phone_video):
    """Frames come upright and at the displayed size (portrait), analysed at <= size on the short side."""
    walk = camera_clip("translate", seed=0, frames=8, size=(160, 96))  # portrait 96 x 160
    phone_video(tmp_path / "phone.mp4", list(walk))
    frames, st = decode(tmp_path / "phone.mp4", size=48, stride=1)
    assert st.source_size == (96, 160) and st.size == (48, 80)
    small = cv2.resize(walk[3], (48, 80), interpolation=cv2.INTER_AREA).astype(float)
    assert frames[3].rgb.shape == (80, 48, 3) and np.abs(frames[3].rgb - small).mean() < 8
    turned = cv2.resize(np.rot90(walk[3], 1), (48, 80), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(frames[3].rgb - turned).mean() > 2 * np.abs(frames[3].rgb - small).mean()


@pytest.fixture(scope="module")
def flow_pairs():
    """Grey frame pairs with forward and backward DIS flow: a walking camera (480 x 640, so the
    fundamental matrix holds) and moving objects in front of a still camera (the homography)."""
    from see3d.curate.flow import make_flow

    fl = make_flow("dis")
    out = []
    for kind, size in (("translate", (240, 320)), ("dynamic", (120, 160)), ("fixed", (120, 160))):
        fr = camera_clip(kind, seed=1, frames=8, size=size)
        g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in fr]
        for i in (0, 4):
            out.append((kind, g[i], g[i + 2], fl(g[i], g[i + 2]), fl(g[i + 2], g[i])))
    return out


def test_reliable_pixel_kernel_matches_the_reference(flow_pairs):
    """The compiled pass gives the NumPy / OpenCV reliability mask and flow length up to float
    rounding (a few pixels on a comparison's edge), with each test on or off."""
    from see3d.curate.dynamic import _reliable_fast, _reliable_reference

    cfgs = [CurateConfig(), CurateConfig(texture_min=0, photo_max=0), CurateConfig(fb_alpha=0.5, fb_beta=0.5)]
    for kind, a, b, fw, bw in flow_pairs:
        for cfg in cfgs:
            for bwd, ga, gb in ((bw, a, b), (None, a, b), (bw, None, None), (None, None, None)):
                ref, mag_ref, _ = _reliable_reference(fw, bwd, cfg, ga, gb)
                fast, mag = _reliable_fast(fw, bwd, cfg, ga, gb)
                assert np.mean(ref != fast) < 2e-3, (kind, cfg, bwd is None, ga is None)
                np.testing.assert_allclose(mag, mag_ref, rtol=1e-6, atol=1e-6)
    # a flow that leaves the image: only the bounds decide
    fw = np.zeros((30, 40, 2), np.float32)
    fw[:, :20, 0] = -25.0
    fast, _ = _reliable_fast(fw, None, CurateConfig(), None, None)
    assert not fast[:, :20].any() and fast[:, 20:].all()


def test_model_distance_kernels_match_the_reference(flow_pairs):
    """Sampson and transfer distances of the kernels equal the NumPy / OpenCV ones; the fused
    threshold gives the reference mask; fast and reference motion masks give the same ratios."""
    from see3d.curate import kernels
    from see3d.curate.dynamic import fundamental_from_flow, homography_from_flow, transfer_distance

    rng = np.random.default_rng(0)
    for kind, a, b, fw, bw in flow_pairs:
        h, w = fw.shape[:2]
        every = np.ones((h, w), bool)
        for homography in (False, True):
            model = (homography_from_flow if homography else lambda *x: fundamental_from_flow(*x, "ransac", 0.5))(fw, every, 500, rng)
            if model is None:
                continue
            ref = transfer_distance(fw, model) if homography else sampson_distance(fw, model)
            d = kernels.distances_at(fw, model, homography, every, 1).reshape(h, w)
            np.testing.assert_allclose(d, ref, rtol=1e-4, atol=1e-3)
            sub = kernels.distances_at(fw, model, homography, every, 4)
            np.testing.assert_array_equal(sub, d[::4, ::4].ravel())
            valid = rng.random((h, w)) < 0.7
            mag = cv2.magnitude(*cv2.split(fw))
            for thr, rel in ((0.5, 0.2), (1.0, 0.0)):
                want = valid & (ref > np.maximum(thr, rel * mag) if rel > 0 else ref > thr)
                got = kernels.model_mask(fw, model, homography, valid, mag, thr, rel).view(bool)
                assert np.mean(want != got) < 1e-3
        r_ref = motion_mask(fw, bw, 2.0, CurateConfig(), np.random.default_rng(3), a, b, fast=False)[1]
        r_fast = motion_mask(fw, bw, 2.0, CurateConfig(), np.random.default_rng(3), a, b)[1]
        assert r_ref["model"] == r_fast["model"] and abs(r_ref["ratio"] - r_fast["ratio"]) < 0.01, (kind, r_ref, r_fast)
        assert abs(r_ref["valid"] - r_fast["valid"]) < 2e-3


def test_circle_radii_batch_equals_reference_and_single_calls():
    from see3d.curate.viewpoint import circle_radii

    rng = np.random.default_rng(5)
    tracks = [np.cumsum(rng.normal(size=(int(rng.integers(3, 16)), 2)) * rng.uniform(0.1, 5), 0) for _ in range(60)]
    tracks += [np.full((10, 2), 3.0), np.zeros((2, 2)), np.stack([np.arange(10.0), np.zeros(10)], 1)]
    fast = circle_radii(tracks, 0.6, 100, np.random.default_rng(7))
    ref = circle_radii(tracks, 0.6, 100, np.random.default_rng(7), fast=False)
    np.testing.assert_array_equal(fast, ref)
    g = np.random.default_rng(7)
    one = np.array([circle_radius(t, 0.6, 100, g) for t in tracks])
    np.testing.assert_array_equal(fast, one)
    assert np.isnan(fast[-2]) and fast[-3] == pytest.approx(0, abs=1e-6) and fast[-1] == pytest.approx(2.5)  # 6 of 10 points in a row: a 5 px diameter


def test_viewpoint_scores():
    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in camera_clip("rotate", seed=0)[::2]]
    r = viewpoint_check(g)
    assert r.drop and r.scores["judged"] >= 40 and r.scores["mean_radius"] < 10
    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in camera_clip("translate", seed=0)[::2]]
    assert not viewpoint_check(g).drop


def test_semantic_filter_with_a_detector():
    frames = list(camera_clip("translate", seed=0, frames=4))
    assert semantic_check(frames, None).scores == {"off": True}

    def crowd(rgb):  # four people in every frame
        return np.array([[0, 0, 40, 80]] * 4, float), np.array([1, 1, 1, 1]), np.array([0.9] * 4)

    r = semantic_check(frames, crowd, CurateConfig(semantic_max=10))
    assert r.drop and r.reason == "semantic" and r.scores["detections"] == 16
    v = analyse_clip(list(camera_clip("translate", seed=0)[::2]), CurateConfig(), detector=crowd)
    assert v.reason == "semantic"


def test_onnx_backends_from_local_files(tmp_path, synth_videos):
    """A learned flow model and a detector are loaded from local ONNX files (tiny graphs here)."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    # flow model: zero flow ([1, 2, H, W] slice of image1 - image1)
    x1 = helper.make_tensor_value_info("image1", TensorProto.FLOAT, [1, 3, None, None])
    x2 = helper.make_tensor_value_info("image2", TensorProto.FLOAT, [1, 3, None, None])
    y = helper.make_tensor_value_info("flow", TensorProto.FLOAT, [1, 2, None, None])
    consts = [helper.make_node("Constant", [], [n], value=helper.make_tensor(n, TensorProto.INT64, [1], [v])) for n, v in (("s", 0), ("e", 2), ("ax", 1))]
    nodes = consts + [helper.make_node("Sub", ["image1", "image1"], ["z"]), helper.make_node("Mul", ["z", "image2"], ["z2"]),
                      helper.make_node("Slice", ["z2", "s", "e", "ax"], ["flow"])]  # fmt: skip
    model = helper.make_model(helper.make_graph(nodes, "zero_flow", [x1, x2], [y]), opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, tmp_path / "flow.onnx")
    res = process_input(0, str(synth_videos["translate"]), CurateConfig(flow=f"onnx:{tmp_path / 'flow.onnx'}"))
    rec = _clip_records(res)[0]
    # the edge maps change, the (zero) flow says nothing moves: the learned backend was used
    assert rec["reason"] == "static" and rec["scores"]["static"]["scores"]["still_fraction"] == 1.0

    # detector: always one person over the whole frame, score 0.9
    img = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])
    outs = [helper.make_tensor_value_info(n, t, None) for n, t in (("boxes", TensorProto.FLOAT), ("labels", TensorProto.INT64), ("scores", TensorProto.FLOAT))]
    nodes = [
        helper.make_node("Constant", [], ["boxes"], value=helper.make_tensor("b", TensorProto.FLOAT, [1, 4], [0, 0, 1000, 1000])),
        helper.make_node("Constant", [], ["labels"], value=helper.make_tensor("l", TensorProto.INT64, [1], [1])),
        helper.make_node("ReduceMax", ["image"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["m0"]),
        helper.make_node("Add", ["m0", "p9"], ["scores1"]),
        helper.make_node("Reshape", ["scores1", "shape1"], ["scores"]),
    ]
    inits = [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]), helper.make_tensor("p9", TensorProto.FLOAT, [], [0.9]),
             helper.make_tensor("shape1", TensorProto.INT64, [1], [1])]  # fmt: skip
    det = helper.make_model(helper.make_graph(nodes, "person", [img], outs, inits), opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(det, tmp_path / "det.onnx")
    res = process_input(0, str(synth_videos["translate"]), CurateConfig(semantic=f"onnx:{tmp_path / 'det.onnx'}"))
    rec = _clip_records(res)[0]
    assert rec["reason"] == "semantic" and rec["scores"]["semantic"]["scores"]["detections"] == 21
    assert res.records[-1]["semantic"] == "on"


# ------------------------------------------------------------------------------ real data


def test_real_videos_and_photo_walk(shared_data, tmp_path):
    """vtest.avi (fixed camera, pedestrians) is dropped; the fox photos (static scene, moving
    camera) are kept; tree.avi (hand-held at a tree in wind) is dropped for a small viewpoint."""
    s = curate([shared_data / "videos" / "vtest.avi", shared_data / "videos" / "tree.avi", shared_data / "fox" / "images"], tmp_path / "ds")
    recs = [json.loads(ln) for ln in (tmp_path / "ds" / "report.jsonl").read_text().splitlines()]
    clips = [r for r in recs if r["type"] == "clip"]
    by = lambda name: [r for r in clips if name in r["source"]]  # noqa: E731
    vt = by("vtest")
    assert len(vt) == 13 and all(r["decision"] == "drop" and r["reason"] == "static" for r in vt)
    fox = by("fox")
    assert len(fox) == 1 and fox[0]["decision"] == "keep" and fox[0]["frames"] == 25
    tree = by("tree")
    assert len(tree) == 1 and tree[0]["reason"] == "small_viewpoint"
    assert s["kept"] == 1 and s["shards"] == 1


# ------------------------------------------------------------------------------ the dataset folder


def _shard_members(ds: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted((ds / "shards").glob("shard-*.tar")):
        with tarfile.open(p) as tf:
            for m in tf:
                assert m.name not in out, f"{m.name} is in two shards"
                out[m.name] = tf.extractfile(m).read()
    return out


def _report(ds: Path) -> list[dict]:
    recs = [json.loads(ln) for ln in (ds / "report.jsonl").read_text().splitlines()]
    for r in recs:
        r.pop("seconds", None)  # timings differ run to run; nothing else may
    return recs


def test_dataset_outputs_and_bad_inputs(synth_videos, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "noise.mp4").write_bytes(os.urandom(5000))
    _write_ts(bad / "whole.ts", camera_clip("translate", seed=0))
    data = (bad / "whole.ts").read_bytes()
    (bad / "truncated.ts").write_bytes(data[: len(data) // 2])  # a stream cut in the middle
    (bad / "whole.ts").unlink()
    (bad / "frames").mkdir()
    for i in range(3):
        (bad / "frames" / f"{i:03d}.jpg").write_bytes(b"not a jpeg")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# inputs\n{synth_videos['translate']}\n{synth_videos['fixed']}\nbad\n{tmp_path / 'missing.mp4'}\n")
    s = curate([listing], tmp_path / "ds", CurateConfig(shard_bytes=1))
    ds = tmp_path / "ds"
    recs = _report(ds)
    ins = {Path(r["source"]).name: r for r in recs if r["type"] == "input"}
    assert set(ins) == {"translate.mp4", "fixed.mp4", "empty.mp4", "noise.mp4", "truncated.ts", "frames", "missing.mp4"}
    for name in ("empty.mp4", "noise.mp4", "frames", "missing.mp4"):
        assert ins[name]["decision"] == "drop" and ins[name]["reason"] == "unreadable" and ins[name]["error"], name
    assert ins["translate.mp4"]["decision"] == "ok" and ins["translate.mp4"]["kept"] == 1
    assert 0 < ins["truncated.ts"]["frames_decoded"] < 48 and ins["truncated.ts"]["decision"] == "ok"  # what decodes is analysed
    assert s["kept"] >= 1 and s["unusable"]["unreadable"] == 4
    # shards: one per input with kept clips (shard_bytes=1), WebDataset members key.NNN.jpg + key.json
    members = _shard_members(ds)
    keys = {n.split(".", 1)[0] for n in members}
    kept = [r["clip"] for r in recs if r["type"] == "clip" and r["decision"] == "keep"]
    assert keys == set(kept)
    for k in keys:
        meta = json.loads(members[f"{k}.json"])
        assert meta["frames"] == sum(1 for n in members if n.startswith(k + ".") and n.endswith(".jpg"))
        assert set(meta["scores"]) == {"quality", "semantic", "static", "dynamic", "viewpoint"}
        img = cv2.imdecode(np.frombuffer(members[f"{k}.000.jpg"], np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (120, 160, 3)
        assert (ds / "thumbs" / f"{k}.jpg").is_file()
    summary = (ds / "summary.md").read_text()
    assert "| keep |" in summary and "unreadable" in summary and "frames per CPU-second" in summary
    assert "Semantic filter: off" in summary and all(f"thumbs/{k}.jpg" in summary for k in keys)
    kept_lines = [ln for ln in summary.splitlines() if ln.startswith("- `")]
    assert kept_lines and all(ln.endswith(" frames") and " s, " in ln for ln in kept_lines)  # "0.0-3.1 s, 24 frames"
    assert not list((ds / "parts").iterdir())  # everything packed


def _write_ts(path: Path, frames: np.ndarray) -> None:
    """An MPEG-TS stream (decodable up to wherever it is cut)."""
    import av

    with av.open(str(path), "w", format="mpegts") as c:
        st = c.add_stream("mpeg2video", rate=30)
        st.width, st.height, st.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)


def test_output_folder_rules(synth_videos, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(See3DError, match="not a curate dataset"):
        curate([synth_videos["fixed"]], other)
    curate([synth_videos["fixed"]], tmp_path / "ds")
    with pytest.raises(See3DError, match="other settings"):
        curate([synth_videos["fixed"]], tmp_path / "ds", CurateConfig(clip_frames=16))
    # the same run again: nothing to do, same report
    before = (tmp_path / "ds" / "report.jsonl").read_bytes()
    s = curate([synth_videos["fixed"]], tmp_path / "ds")
    assert s["run"]["inputs"] == 0 and (tmp_path / "ds" / "report.jsonl").read_bytes() == before
    # adding an input resumes the dataset with it
    s = curate([synth_videos["fixed"], synth_videos["translate"]], tmp_path / "ds")
    assert s["run"]["inputs"] == 1 and s["kept"] == 1 and s["complete"]
    with pytest.raises(See3DError, match="flow model not found"):
        curate([synth_videos["fixed"]], tmp_path / "ds2", CurateConfig(flow="onnx:/nonexistent/raft.onnx"))
    # the command line refuses in one line
    r = subprocess.run([sys.executable, "-m", "see3d", "curate", str(synth_videos["fixed"]), "-o", str(other), "-q"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "not a curate dataset" in r.stderr


def test_output_inside_an_input_folder(tmp_path, synth_videos):
    """``see3d curate videos/ -o videos/dataset`` twice: the dataset's thumbnails are not an input."""
    vids = tmp_path / "videos"
    vids.mkdir()
    (vids / "a.mp4").write_bytes(synth_videos["translate"].read_bytes())
    s1 = curate([vids], vids / "dataset")
    s2 = curate([vids], vids / "dataset")
    assert s1["inputs"] == s2["inputs"] == 1 and s2["run"]["inputs"] == 0 and s2["kept"] == 1


def test_expand_inputs(tmp_path, synth_videos):
    (tmp_path / "walk").mkdir()
    (tmp_path / "walk" / "0001.jpg").write_bytes(b"x")
    (tmp_path / "vids" / "sub").mkdir(parents=True)
    for n in ("b10.mp4", "b2.mp4"):
        (tmp_path / "vids" / n).write_bytes(b"x")
    (tmp_path / "vids" / "sub" / "0.png").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("walk\nvids\n\n# comment\nwalk\n")
    got = expand_inputs([tmp_path / "list.txt"])
    assert [Path(g).relative_to(tmp_path).as_posix() for g in got] == ["walk", "vids/b2.mp4", "vids/b10.mp4", "vids/sub"]


def _make_inputs(tmp_path, synth_videos, n: int) -> list[str]:
    """``n`` distinct inputs (copies of the synthetic clips under new names)."""
    d = tmp_path / "inputs"
    d.mkdir(exist_ok=True)
    kinds = ["translate", "dynamic", "translate", "fixed", "rotate", "translate"]
    out = []
    for i in range(n):
        p = d / f"clip{i:02d}_{kinds[i % len(kinds)]}.mp4"
        p.write_bytes(synth_videos[kinds[i % len(kinds)]].read_bytes())
        out.append(str(p))
    return out


def test_kill_9_and_resume(synth_videos, tmp_path):
    """Kill -9 in the middle, run again: the shards hold every kept clip exactly once and equal
    (byte for byte) those of an uninterrupted run."""
    inputs = _make_inputs(tmp_path, synth_videos, 8)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("shard_bytes = 1\n")  # one shard per input with a kept clip: many shards to interrupt
    cmd = [sys.executable, "-m", "see3d", "curate", *inputs, "--config", str(cfg), "-q", "-o"]
    ref = tmp_path / "ref"
    curate(inputs, ref, CurateConfig(shard_bytes=1))
    ds = tmp_path / "ds"
    proc = subprocess.Popen([*cmd, str(ds)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.time()
    while time.time() - t0 < 120:
        man = ds / "manifest.jsonl"
        if man.is_file() and len(man.read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()[-500:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len((ds / "manifest.jsonl").read_text().splitlines())
    assert 2 <= done < 8
    r = subprocess.run([*cmd, str(ds)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _shard_members(ds) == _shard_members(ref)
    assert [p.read_bytes() for p in sorted((ds / "shards").glob("*.tar"))] == [p.read_bytes() for p in sorted((ref / "shards").glob("*.tar"))]
    assert _report(ds) == _report(ref)
    assert not [p for p in (ds / "shards").iterdir() if p.name.startswith(".")]


def test_kill_between_steps_of_packing(synth_videos, tmp_path):
    """The states a kill can leave (a part written, a shard renamed but not recorded, a torn
    manifest line, a stale temporary) are repaired on the next run."""
    inputs = _make_inputs(tmp_path, synth_videos, 4)
    ref = tmp_path / "ref"
    curate(inputs, ref, CurateConfig(shard_bytes=1))
    ds = tmp_path / "ds"
    curate(inputs, ds, CurateConfig(shard_bytes=1), limit=3)
    man = ds / "manifest.jsonl"
    lines = man.read_text().splitlines()
    man.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # torn last line
    (ds / "shards" / ".shard-000009.tar.tmp-1").write_bytes(b"junk")
    with open(ds / "report.jsonl", "a") as fh:
        fh.write('{"type": "clip", "half written')
    curate(inputs, ds, CurateConfig(shard_bytes=1))
    assert _shard_members(ds) == _shard_members(ref)
    assert _report(ds) == _report(ref)


def test_local_workers_match_serial(synth_videos, tmp_path):
    inputs = _make_inputs(tmp_path, synth_videos, 4)
    a = curate(inputs, tmp_path / "a", CurateConfig(shard_bytes=1))
    b = curate(inputs, tmp_path / "b", CurateConfig(shard_bytes=1), workers=2)
    assert a["kept"] == b["kept"] and b["run"]["workers"] == 2
    assert _shard_members(tmp_path / "a") == _shard_members(tmp_path / "b")
    assert _report(tmp_path / "a") == _report(tmp_path / "b")


# ------------------------------------------------------------------------------ training on it


@pytest.fixture(scope="module")
def small_dataset(synth_videos, tmp_path_factory) -> Path:
    """A curated dataset with 4 kept clips in 2 shards (frame folders of translating cameras)."""
    d = tmp_path_factory.mktemp("curated")
    ins = []
    for s in (0, 1, 5, 6):
        write_clip_folder(d / "in" / f"walk{s}", camera_clip("translate", seed=s, frames=32)[::2])
        ins.append(d / "in" / f"walk{s}")
    s = curate(ins, d / "ds", CurateConfig(shard_bytes=120_000, out_size=96))
    assert s["kept"] == 4 and s["shards"] == 2, s
    return d / "ds"


def test_webdataset_reads_the_shards(small_dataset):
    wds = pytest.importorskip("webdataset")
    shards = sorted(str(p) for p in (small_dataset / "shards").glob("*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False, nodesplitter=None, workersplitter=None, empty_check=False))
    assert len(samples) == 4
    for s in samples:
        meta = json.loads(s["json"])
        assert meta["key"] == s["__key__"] and sum(k.endswith(".jpg") for k in s) == meta["frames"] == 16


def test_curated_source_is_streamed_shuffled_and_positional(small_dataset):
    from see3d.curate.shards import CuratedClips

    a = CuratedClips(small_dataset, 32, seed=0, rank=0, buffer=3)
    assert a.total == 4
    first_epoch = [a.locate(i)[2] for i in range(4)]
    assert sorted(first_epoch) == [0, 1, 2, 3]  # every clip once per epoch
    orders = {tuple(a.locate(i)[2] for i in range(e * 4, e * 4 + 4)) for e in range(6)}
    assert len(orders) > 1  # shuffled anew each epoch
    clips = [a.draw(None, i).rgb for i in range(10)]
    assert clips[0].shape == (16, 32, 32, 3) and clips[0].dtype == np.float32
    # a fresh source that starts at sample 7 (a resumed run) draws what the first one drew
    b = CuratedClips(small_dataset, 32, seed=0, rank=0, buffer=3)
    for i in (7, 8, 9):
        assert np.array_equal(b.draw(None, i).rgb, clips[i])
    # another rank or seed streams another order
    c = CuratedClips(small_dataset, 32, seed=0, rank=1, buffer=3)
    d = CuratedClips(small_dataset, 32, seed=1, rank=0, buffer=3)
    base = [a.locate(i)[2] for i in range(12)]
    assert [c.locate(i)[2] for i in range(12)] != base or [d.locate(i)[2] for i in range(12)] != base


def test_train_mvd_on_a_curated_dataset(small_dataset, tmp_path):
    from test_mvd_train import tiny_train_config

    from see3d.mvd.train import train

    cfg = tiny_train_config(data=str(small_dataset), steps=4, ckpt_every=2, clip_frames=8)
    full = train(cfg, tmp_path / "a")
    assert len(full) == 4 and all(np.isfinite(l) for _, l in full)
    part = train(cfg, tmp_path / "b", max_steps=3)
    rest = train(cfg, tmp_path / "b")  # resumes from step 2: the same batches
    assert [l for _, l in full] == [l for _, l in part[:2]] + [l for _, l in rest]
    # the command line takes the folder too
    r = subprocess.run(
        [sys.executable, "-m", "see3d", "train", "mvd", "--config", str(_write_cfg(tmp_path, cfg)), "--data", str(small_dataset),
         "--steps", "1", "--out", str(tmp_path / "cli"), "-q"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cli" / "model").is_dir()


def _write_cfg(tmp_path: Path, cfg) -> Path:
    p = tmp_path / "train.json"
    p.write_text(json.dumps(cfg.to_dict()))
    return p
