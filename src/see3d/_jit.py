"""Compile numba kernels ahead, in a background process, while the pipeline does other work.

numba compiles a kernel on its first call and caches it on disk (``cache=True``); only the
first run of a fresh install pays. On 2 cores, ``see3d generate`` would otherwise compile the
warp kernels (~10 s) and then, after warping and filling, the rasterizer's (~11 s), one after
the other. :func:`prewarm` starts a child process that compiles a module's kernels into the
same on-disk cache while the parent goes on; :meth:`Prewarm.wait` joins it before the parent
needs them, and the parent then loads them from the cache. When the cache is already there
nothing is started. Any failure of the child only costs the time it used: the parent
compiles (or loads) as usual.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Prewarm", "cache_present", "prewarm"]


def cache_present(dispatchers) -> bool:
    """Whether every numba dispatcher has an on-disk cache index (a cheap, conservative test)."""
    try:
        return all(Path(d._cache._cache_file._index_path).is_file() for d in dispatchers)
    except AttributeError:  # numba internals moved: assume cached (no prewarm)
        return True


@dataclass
class Prewarm:
    proc: subprocess.Popen | None = None

    def wait(self, timeout: float = 300.0) -> None:
        """Join the child (kill it after ``timeout`` s: the parent then compiles itself)."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.cancel()

    def cancel(self) -> None:
        """Stop the child if it still runs (the parent failed or no longer needs it)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def prewarm(target: str, dispatchers) -> Prewarm:
    """Run ``target`` (``"module:function"``, a function that calls the kernels once) in a
    child process unless ``dispatchers`` are cached already."""
    if cache_present(dispatchers):
        return Prewarm()
    module, func = target.split(":")
    code = f"import {module} as m; m.{func}()"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    except OSError:
        return Prewarm()
    return Prewarm(proc)
