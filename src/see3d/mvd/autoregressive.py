"""Long trajectories, autoregressively (REFERENCE.md section 3.4).

Generate a group of views, make them anchors, warp the next group from the anchors, generate,
repeat. Warping needs geometry (depth of the anchors, cameras), which lives in the pipeline; it is
passed in as ``warp_group(anchor_rgb, anchor_ids, target_ids) -> (warped, masks)``. Anchor ids are
``-1, -2, ...`` for the input views and ``0 .. T-1`` for generated targets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from see3d.errors import See3DError


def fill_autoregressive(
    filler,
    refs: np.ndarray,
    n_targets: int,
    warp_group: Callable[[np.ndarray, list[int], list[int]], tuple[np.ndarray, np.ndarray]],
    group: int = 4,
    max_anchors: int = 4,
    seed: int = 0,
    progress: bool = False,
    callback: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Fill ``n_targets`` views group by group; returns ``[T, H, W, 3]``.

    For every group the anchors are the input views plus the ``max_anchors`` most recent generated
    views; the generated views of a group are passed to the filler as extra clean references of the
    next group, so the model sees what it generated before (3D attention keeps them consistent).
    """
    refs = np.asarray(refs, np.float32)
    if refs.ndim != 4 or refs.shape[0] == 0:
        raise See3DError(f"autoregressive fill: need input views [S, H, W, 3] with S >= 1, got {refs.shape}")
    if n_targets < 1 or group < 1 or max_anchors < 0:
        raise See3DError("autoregressive fill: n_targets and group must be >= 1, max_anchors >= 0")
    inputs = list(refs)
    in_ids = [-(i + 1) for i in range(len(inputs))]
    done: list[np.ndarray] = []
    for g0 in range(0, n_targets, group):
        ids = list(range(g0, min(g0 + group, n_targets)))
        recent = list(range(max(0, g0 - max_anchors), g0)) if max_anchors else []
        anchor_ids = in_ids + recent
        anchors = np.stack(inputs + [done[i] for i in recent])
        warped, masks = warp_group(anchors, anchor_ids, ids)
        warped, masks = np.asarray(warped, np.float32), np.asarray(masks, np.float32)
        if warped.shape[0] != len(ids) or masks.shape != warped.shape[:3]:
            raise See3DError(f"autoregressive fill: warp_group returned {warped.shape} / {masks.shape} for {len(ids)} targets")
        out = filler.fill(warped, masks, refs=anchors, seed=seed + g0, progress=progress)
        done.extend(list(out))
        if callback is not None:
            callback(len(done), n_targets)
    return np.stack(done)
