"""One exception type for bad user input.

Every check of user-supplied data (images, depth maps, camera files, numbers on
the command line) raises :class:`See3DError` with a one-line message naming the
problem. The CLI prints ``error: <message>`` and exits with status 2.
"""

from __future__ import annotations


class See3DError(ValueError):
    """Bad input or an unrecoverable, user-facing problem (one-line message)."""


def check(cond: bool, message: str) -> None:
    """Raise :class:`See3DError` with ``message`` unless ``cond`` holds."""
    if not cond:
        raise See3DError(message)
