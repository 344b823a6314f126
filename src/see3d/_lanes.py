"""Run compiled kernels on a few threads: the CPU parallelism of the warp and the rasterizer.

The heavy loops are serial numba functions compiled with ``nogil=True``; a small pool of
Python threads calls them on disjoint pieces of the work (*lanes*) and waits. This replaces
numba's ``parallel=True`` drivers, whose parfor compilation added ~5 s per driver to every
first call in a fresh install (measured: the warp's ``prange`` driver 11.7 s vs 6.2 s for
the code it wraps), and it avoids numba's OpenMP threading layer spinning on a busy CPU.
The thread count is numba's (``NUMBA_NUM_THREADS`` / :func:`numba.set_num_threads`).

Asking numba for that count starts its threading layer. Its default layer, OpenMP, shares the
OpenMP runtime with PyTorch and sets that runtime's thread count to ``NUMBA_NUM_THREADS`` (all
CPUs), so PyTorch's intra-op threads changed from ``OMP_NUM_THREADS`` behind the user's back
(1 -> 2 here, and a 30x slower fill on a loaded machine). No kernel here is ``parallel=True``,
so numba gets its own ``workqueue`` layer, which leaves OpenMP alone (unless
``NUMBA_THREADING_LAYER`` says otherwise).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

__all__ = ["num_threads", "run_lanes"]

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def num_threads() -> int:
    """Threads the kernels may use (numba's setting for the calling thread)."""
    return max(1, int(numba.get_num_threads()))


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="see3d-lane")
            _pool_size = n
        return _pool


def run_lanes(calls: Sequence[Callable[[], object]]) -> None:
    """Run ``calls`` (closures over ``nogil`` kernels writing disjoint outputs) concurrently.

    One call runs on the calling thread; several run on the shared pool (the first
    exception is re-raised after all of them finished, so no lane still writes to the
    outputs when the caller sees the error).
    """
    if len(calls) == 1:
        calls[0]()
        return
    if not calls:
        return
    futures = [_get_pool(len(calls)).submit(c) for c in calls]
    error = None
    for f in futures:
        try:
            f.result()
        except BaseException as e:  # noqa: BLE001 - re-raised below, after every lane stopped
            error = error or e
    if error is not None:
        raise error
