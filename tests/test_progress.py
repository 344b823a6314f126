"""The shared progress bar: full redraws on a terminal, a few lines in a log."""

import io
import time

from see3d._progress import LOG_INTERVAL, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream, steps=400, pause=0.0005, postfix=False):
    bar = progress_bar(total=steps, desc="work", file=stream)
    for i in range(steps):
        time.sleep(pause)
        bar.update(1)
        if postfix:  # as `see3d train mvd` reports its loss every step
            bar.set_postfix(loss=f"{i:.4f}")
    bar.close()
    return stream.getvalue().count("\r")


def test_log_gets_few_updates_terminal_gets_many(monkeypatch):
    monkeypatch.delenv("TQDM_MININTERVAL", raising=False)
    log, term = _run(io.StringIO()), _run(_Terminal())
    # ~0.3 s of work: a terminal redraws every 0.1 s, a log only at the start and the end
    assert log <= 3, log
    assert term > log
    bar = progress_bar(total=1, file=io.StringIO())
    assert bar.mininterval == LOG_INTERVAL and bar.maxinterval >= LOG_INTERVAL


def test_per_step_postfix_stays_throttled_in_a_log(monkeypatch):
    monkeypatch.delenv("TQDM_MININTERVAL", raising=False)
    log = io.StringIO()
    assert _run(log, postfix=True) <= 3, log.getvalue()[-300:]
    assert "loss=399.0000" in log.getvalue()  # the final state carries the last postfix
    assert _run(_Terminal(), postfix=True) > 3


def test_environment_and_explicit_interval_win(monkeypatch):
    monkeypatch.setenv("TQDM_MININTERVAL", "0.01")
    assert progress_bar(total=1, file=io.StringIO()).mininterval != LOG_INTERVAL
    monkeypatch.delenv("TQDM_MININTERVAL")
    assert progress_bar(total=1, file=io.StringIO(), mininterval=2.0).mininterval == 2.0
