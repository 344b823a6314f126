"""Depth evaluation in Metric3D's protocol, on hand-made maps and the real metric3d_demo frames."""

import json

import numpy as np
import pytest

from see3d.cli import main
from see3d.eval.depth import depth_metrics, eval_mask, evaluate_annotations, median_align
from see3d.errors import See3DError
from see3d.io import load_depth, read_metric3d_annotations


def test_metrics_on_a_known_example():
    gt = np.array([[1.0, 2.0], [4.0, 0.0]])
    pred = np.array([[1.1, 2.0], [2.0, 7.0]])  # last pixel has no ground truth
    m = depth_metrics(pred, gt)
    assert m["n_pixels"] == 3
    assert m["abs_rel"] == pytest.approx((0.1 + 0 + 0.5) / 3)
    assert m["delta1"] == pytest.approx(2 / 3)  # ratio 2.0 fails 1.25 and 1.5625 ...
    assert m["delta2"] == pytest.approx(2 / 3) and m["delta3"] == pytest.approx(2 / 3)  # ... and 1.953
    assert m["rmse"] == pytest.approx(np.sqrt((0.01 + 0 + 4) / 3))
    assert m["log10"] == pytest.approx((np.log10(1.1) + 0 + np.log10(2)) / 3)
    e = np.log([1.1, 1.0, 0.5])
    assert m["silog"] == pytest.approx(100 * np.sqrt(np.mean(e**2) - np.mean(e) ** 2))
    # a constant factor leaves SILog at 0 and median alignment undoes it
    m2 = depth_metrics(3 * gt + (gt == 0), gt)
    assert m2["silog"] == pytest.approx(0, abs=1e-9) and m2["delta3"] == 0.0
    mask = gt > 0
    assert depth_metrics(median_align(3 * gt + 1e-9, gt, mask), gt, mask)["abs_rel"] == pytest.approx(0, abs=1e-6)


def test_metrics_reject_bad_predictions():
    gt = np.ones((4, 4))
    with pytest.raises(See3DError, match="does not match|prediction is"):
        depth_metrics(np.ones((3, 4)), gt)
    with pytest.raises(See3DError, match="NaN"):
        depth_metrics(np.full((4, 4), np.nan), gt)
    with pytest.raises(See3DError, match="no pixel"):
        depth_metrics(np.zeros((4, 4)), gt)


def test_protocol_masks():
    gt = np.full((480, 640), 5.0)
    gt[0, 0] = 11.0  # beyond NYU's 10 m
    m = eval_mask(gt, "nyu")
    assert m.sum() == (471 - 45) * (601 - 41)
    assert not m[44].any() and m[45, 41] and not m[45, 40] and not m[471].any()
    k = np.full((375, 1242), 50.0)
    k[200, 600] = 85.0  # beyond KITTI's 80 m
    mk = eval_mask(k, "kitti")
    rows = np.nonzero(mk.any(1))[0]
    assert rows[0] == int(0.40810811 * 375) and rows[-1] == int(0.99189189 * 375) - 1
    assert not mk[200, 600]
    with pytest.raises(See3DError, match="protocol"):
        eval_mask(gt, "cityscapes")


@pytest.fixture(scope="module")
def demo(shared_data):
    ann = shared_data / "metric3d_demo" / "test_annotations.json"
    entries = read_metric3d_annotations(ann)
    gts = [load_depth(e.depth, e.depth_scale) for e in entries]
    return ann, entries, gts


def _gt_predictor(entries, gts, factor):
    queue = list(zip(entries, gts))

    def predict(img, intr):
        e, g = queue.pop(0)
        assert intr.fx == e.cam_in[0] and img.shape[:2] == g.shape  # intrinsics come from cam_in
        return g * factor

    return predict


def test_demo_truth_is_perfect_and_twice_truth_fails(demo):
    ann, entries, gts = demo
    assert [g.shape for g in gts] == [(375, 1242), (480, 640)]
    assert 0.1 < (gts[0] > 0).mean() < 0.35  # sparse KITTI lidar
    res = evaluate_annotations(ann, _gt_predictor(entries, gts, 1.0), median_scale=True)
    assert [r["protocol"] for r in res.per_image] == ["kitti", "nyu"]
    assert res.mean["abs_rel"] == 0.0 and res.mean["delta1"] == 1.0 and res.mean["rmse"] == 0.0
    res2 = evaluate_annotations(ann, _gt_predictor(entries, gts, 2.0), median_scale=True)
    assert res2.mean["delta1"] == 0.0 and res2.mean["abs_rel"] == pytest.approx(1.0)
    # reported separately: the median-scaled numbers undo the factor
    assert res2.mean_median_aligned["delta1"] == 1.0
    assert res2.mean_median_aligned["abs_rel"] == pytest.approx(0.0, abs=1e-6)


def test_eval_cli_on_demo(demo, tmp_path, capsys):
    ann, _, _ = demo
    out = tmp_path / "m.json"
    assert main(["eval", "depth", str(ann), "--model", "gt", "--json", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "abs_rel" in printed and "mean" in printed
    data = json.loads(out.read_text())
    assert data["mean"]["delta1"] == 1.0 and len(data["per_image"]) == 2


def test_eval_annotation_errors(tmp_path):
    """Builds its own files (runs without ../shared/data)."""
    from PIL import Image

    from see3d.io import save_depth_png

    rgb, dep = tmp_path / "rgb.png", tmp_path / "wide.depth_scale256.png"
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(rgb)
    save_depth_png(dep, np.full((30, 100), 5.0), 256.0)
    bad = tmp_path / "a.json"
    bad.write_text(json.dumps({"files": [{"rgb": str(rgb), "cam_in": [50.0, 50.0, 32.0, 24.0], "depth_scale": 1000.0}]}))
    with pytest.raises(See3DError, match="no ground-truth depth"):
        evaluate_annotations(bad, lambda img, k: np.ones(img.shape[:2]))
    bad.write_text(json.dumps({"files": [{"rgb": str(rgb), "depth": str(dep), "cam_in": [50.0, 50.0, 32.0, 24.0], "depth_scale": 256.0}]}))
    with pytest.raises(See3DError, match="ground truth .* is 100x30"):
        evaluate_annotations(bad, lambda img, k: np.ones(img.shape[:2]))
    assert main(["eval", "depth", str(tmp_path / "missing.json"), "--model", "gt", "-q"]) == 2
