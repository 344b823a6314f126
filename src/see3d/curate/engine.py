"""Running :func:`see3d.curate.pipeline.process_input` over many inputs: in this process, in a
local process pool (``workers``), or as Ray tasks on a cluster (``engine="ray"``).

Every engine runs the same pure per-input function and hands its result to the same driver
(:class:`see3d.curate.dataset.CurateDataset`), which packs shards in input order: the engines
give the same decisions and byte-identical shards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from see3d.curate.config import CurateConfig
from see3d.curate.dataset import CurateDataset
from see3d.curate.inputs import expand_inputs
from see3d.curate.flow import make_flow
from see3d.curate.pipeline import InputResult, process_input
from see3d.curate.semantic import make_detector
from see3d.curate.shots import ShotDetector
from see3d.errors import See3DError

ENGINES = ("local", "ray")


def _run_local(jobs: list[tuple[int, str]], cfg: CurateConfig, workers: int) -> Iterator[InputResult]:
    if workers <= 1:
        for i, src in jobs:
            yield process_input(i, src, cfg)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: OpenCV's and FFmpeg's thread pools do not survive a fork
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        pending = set()
        it = iter(jobs)
        for i, src in it:
            pending.add(pool.submit(process_input, i, src, cfg))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.add(pool.submit(process_input, nxt[0], nxt[1], cfg))


def _run_ray(jobs: list[tuple[int, str]], cfg: CurateConfig, address: str | None, workers: int) -> Iterator[InputResult]:
    try:
        import ray
    except ImportError:
        raise See3DError("--engine ray needs Ray: pip install 'see3d[ray]'") from None
    started = False
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": workers if workers > 1 else None}
        ray.init(log_to_driver=False, include_dashboard=False, **kwargs)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(process_input)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        window = 2 * cpus
        it = iter(jobs)
        pending = [task.remote(i, src, cfg) for i, src in (next(it) for _ in range(min(window, len(jobs))))]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(task.remote(nxt[0], nxt[1], cfg))
    finally:
        if started:
            ray.shutdown()


def curate(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    config: CurateConfig = CurateConfig(),
    *,
    workers: int = 1,
    engine: str = "local",
    address: str | None = None,
    limit: int | None = None,
    progress: Callable[[InputResult, int, int], None] | None = None,
) -> dict:
    """Curate ``inputs`` (videos, frame folders, folders of them, list files) into ``out``.

    Running again into the same ``out`` resumes: inputs already done are skipped, new inputs are
    added. ``workers``: parallel inputs (processes, or Ray's CPUs for a local Ray instance);
    ``engine``: ``local`` or ``ray`` (``address``: an existing cluster, default a local one);
    ``limit``: process at most that many inputs in this call; ``progress(result, done, total)``
    after each input. Returns the summary counts (also written to ``out/summary.md``).
    """
    if engine not in ENGINES:
        raise See3DError(f"unknown engine {engine!r}: use {' or '.join(ENGINES)}")
    if workers < 1:
        raise See3DError(f"workers must be >= 1, got {workers}")
    # settings that would fail on every input fail once, here, in one line
    make_flow(config.flow)
    make_detector(config.semantic)
    if config.shot_threshold > 0:
        ShotDetector(config.shot_threshold)
    out = Path(out)
    home = Path(os.path.abspath(out))
    # the dataset's own files (thumbs/ is a folder of images) are never inputs, even when the
    # output folder lies inside an input folder
    names = [n for n in expand_inputs(inputs) if not (Path(n) == home or home in Path(n).parents)]
    if not names:
        raise See3DError("no inputs (give video files, folders of frames or videos, or a list file)")
    ds = CurateDataset(out, config, names)
    todo = ds.todo()
    if limit is not None:
        todo = todo[: max(0, int(limit))]
    jobs = [(i, ds.inputs[i]) for i in todo]
    t0 = time.perf_counter()
    frames = 0
    results: Iterable[InputResult] = _run_ray(jobs, config, address, workers) if engine == "ray" else _run_local(jobs, config, workers)
    try:
        for n, res in enumerate(results, 1):
            ds.add(res)
            frames += int(res.stats.get("analysed", 0))
            if progress is not None:
                progress(res, n, len(jobs))
        ds.pack(final=True)
    except BaseException:
        ds.abandon()
        raise
    run = {"inputs": len(jobs), "workers": workers, "engine": engine, "wall": time.perf_counter() - t0, "frames": frames}
    summary = ds.write_summary(run)
    summary.update(complete=ds.complete, run=run, out=str(out))
    return summary
