"""Parsers of option values that several commands share (one-line errors)."""

from __future__ import annotations

from see3d.errors import See3DError


def parse_background(text: str) -> tuple[float, float, float]:
    """``--background r,g,b`` with every component in [0, 1]."""
    try:
        bg = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise See3DError(f"--background must be r,g,b numbers, got {text!r}") from None
    if len(bg) != 3 or not all(0 <= c <= 1 for c in bg):
        raise See3DError(f"--background must be three numbers in [0, 1], got {text!r}")
    return bg
