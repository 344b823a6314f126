"""One progress bar for every long stage (tqdm on stderr).

On a terminal the bar redraws as usual. When stderr is not a terminal (a log file, a pipe,
CI), tqdm would still write a carriage-return update every 0.1 s, so an hour of training
leaves tens of thousands of updates in its log; there the bar writes at most one update per
:data:`LOG_INTERVAL` seconds (and its final state). ``TQDM_MININTERVAL`` in the environment
still wins, as tqdm documents. ``set_postfix`` on such a bar waits for the next throttled update
instead of forcing a redraw (tqdm's default), so a per-step loss in the postfix does not bring the
per-step lines back.
"""

from __future__ import annotations

import os
import sys

#: Seconds between updates of a bar whose stream is not a terminal.
LOG_INTERVAL = 30.0


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable=None, **kwargs):
    """``tqdm.auto.tqdm(iterable, **kwargs)`` writing to stderr, throttled when that is not a terminal."""
    from tqdm.auto import tqdm

    kwargs.setdefault("file", sys.stderr)
    if "mininterval" in kwargs or "TQDM_MININTERVAL" in os.environ or _is_terminal(kwargs["file"]):
        return tqdm(iterable, **kwargs)
    kwargs["mininterval"] = LOG_INTERVAL
    kwargs.setdefault("maxinterval", LOG_INTERVAL)  # tqdm's monitor thread otherwise redraws every 10 s

    class _LogBar(tqdm):
        def set_postfix(self, ordered_dict=None, refresh=False, **kw):
            super().set_postfix(ordered_dict, refresh=refresh, **kw)

    return _LogBar(iterable, **kwargs)
