"""Background compilation into numba's disk cache (see3d._jit), used by `see3d generate`."""

import importlib
import sys

import numpy as np

from see3d._jit import cache_present, prewarm

MODULE = '''
import numba
import numpy as np

@numba.njit(cache=True)
def double(x):
    return x * 2.0

def compile_all():
    double(np.ones(3))
'''


def test_prewarm_compiles_into_the_cache_the_parent_then_loads(tmp_path, monkeypatch):
    (tmp_path / "jit_probe_mod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    sys.modules.pop("jit_probe_mod", None)
    mod = importlib.import_module("jit_probe_mod")
    try:
        assert not cache_present([mod.double])
        warm = prewarm("jit_probe_mod:compile_all", [mod.double])
        assert warm.proc is not None
        warm.wait(timeout=120)
        assert warm.proc is None
        assert cache_present([mod.double])
        assert prewarm("jit_probe_mod:compile_all", [mod.double]).proc is None  # nothing to do
        np.testing.assert_array_equal(mod.double(np.ones(3)), 2.0)
        assert sum(mod.double.stats.cache_hits.values()) == 1  # loaded, not compiled here
    finally:
        sys.modules.pop("jit_probe_mod", None)


def test_cancel_stops_a_running_child(tmp_path, monkeypatch):
    (tmp_path / "jit_slow_mod.py").write_text("import time\ndef compile_all():\n    time.sleep(60)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))

    class Uncached:  # stands in for a dispatcher without a cache index
        class _cache:
            class _cache_file:
                _index_path = str(tmp_path / "missing.nbi")

    warm = prewarm("jit_slow_mod:compile_all", [Uncached])
    assert warm.proc is not None and warm.proc.poll() is None
    proc = warm.proc
    warm.cancel()
    assert warm.proc is None and proc.returncode is not None
