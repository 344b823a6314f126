"""What ``see3d curate INPUTS...`` accepts, expanded to a list of inputs (videos or frame folders).

* a video file (any file that is not a list; one that does not decode is reported, not fatal);
* a folder of ordered frames (images directly inside it): one input, a photo walk or extracted frames;
* a folder of videos and / or frame folders: every video and frame folder below it, in natural order;
* a text file (``.txt``, ``.lst``, ``.list``): one path per line (``#`` comments, blank lines
  ignored; relative paths are relative to the file), each expanded as above.

A path that does not exist is kept (it is reported as unreadable when processed: at scale a
missing file must not stop a run).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from see3d.curate.decode import IMAGE_SUFFIXES, VIDEO_SUFFIXES, natural_key
from see3d.errors import See3DError

LIST_SUFFIXES = (".txt", ".lst", ".list")


def _has_images(folder: Path) -> bool:
    try:
        return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.iterdir())
    except OSError:
        return False


def _walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    try:
        entries = sorted(folder.iterdir(), key=lambda p: natural_key(p.name))
    except OSError:
        return [folder]  # unreadable folder: reported when processed
    for p in entries:
        if p.name.startswith("."):
            continue
        if p.is_dir():
            out.extend([p] if _has_images(p) else _walk(p))
        elif p.suffix.lower() in VIDEO_SUFFIXES:
            out.append(p)
    return out


def expand_inputs(items: Iterable[str | os.PathLike], _depth: int = 0) -> list[str]:
    """Absolute paths of the inputs named by ``items`` (see the module doc), duplicates removed."""
    if _depth > 8:
        raise See3DError("input lists nest more than 8 deep")
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
            try:
                lines = p.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise See3DError(f"cannot read input list {p}: {e}") from None
            names = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
            out.extend(expand_inputs([n if os.path.isabs(n) else str(p.parent / n) for n in names], _depth + 1))
        elif p.is_dir():
            found = [p] if _has_images(p) else _walk(p)
            out.extend(str(q) for q in (found or [p]))  # an empty folder is reported, not ignored
        else:
            out.append(str(p))
    seen: set[str] = set()
    result = []
    for s in out:
        a = os.path.abspath(s)
        if a not in seen:
            seen.add(a)
            result.append(a)
    return result
