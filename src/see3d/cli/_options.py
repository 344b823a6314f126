"""Options and parsers of option values that several commands share (one-line errors)."""

from __future__ import annotations

import typer

from see3d.errors import See3DError


def overwrite_option() -> bool:
    """``--overwrite``: replace an earlier see3d output at ``-o`` (other files are never replaced)."""
    return typer.Option(
        False,
        "--overwrite",
        help="Replace an earlier see3d output at -o (a folder see3d wrote, or the output file). "
        "Folders with other files, inputs and the current folder are never replaced.",
    )


def parse_background(text: str) -> tuple[float, float, float]:
    """``--background r,g,b`` with every component in [0, 1]."""
    try:
        bg = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise See3DError(f"--background must be r,g,b numbers, got {text!r}") from None
    if len(bg) != 3 or not all(0 <= c <= 1 for c in bg):
        raise See3DError(f"--background must be three numbers in [0, 1], got {text!r}")
    return bg
