"""Outputs that are never half-written and never clobber a user's files.

Two layers:

- :func:`check_output` validates a user's ``-o`` *before any work*: a folder that holds other
  files, a file where a folder is wanted, a path that contains or equals an input, or the
  current folder are refused with one line; an earlier see3d output (recognised by its marker
  file :data:`MARKER`, or the ``run.json`` of older releases) is replaced only with
  ``overwrite=True``.
- :func:`atomic_output_dir` / :func:`atomic_file` write to a temporary name beside the target
  and rename it into place on success; on any error (Ctrl-C included) the temporary is removed.
  Temporaries left by a killed process (``.NAME.tmp-PID-*`` whose PID is gone) are removed by
  the next run into the same output.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from see3d.errors import See3DError

#: File that marks a folder as written by see3d (JSON: the command and the version).
MARKER = ".see3d.json"
#: Files that mark older see3d outputs (``generate`` wrote ``run.json`` before the marker existed).
_LEGACY_MARKERS = ("run.json",)


def _real(path: str | Path) -> Path:
    """Absolute path with every symlink resolved (a symlinked ``-o`` writes where the link points)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove ``.NAME.tmp-PID-*`` / ``.NAME.old-PID`` beside ``path`` whose process is gone."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        return []
    pattern = re.compile(r"^\." + re.escape(path.name) + r"\.(?:tmp|old)-(\d+)(?:-.*)?$")
    removed = []
    for entry in parent.iterdir():
        m = pattern.match(entry.name)
        if m is None:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def is_see3d_output(path: str | Path) -> bool:
    """True when ``path`` is a folder that see3d wrote (its marker, or an older release's ``run.json``)."""
    path = Path(path)
    return path.is_dir() and any((path / m).is_file() for m in (MARKER, *_LEGACY_MARKERS))


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _check_writable(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    anc = path.parent
    while not anc.exists():
        if anc.parent == anc:
            break
        anc = anc.parent
    if not anc.is_dir():
        raise See3DError(f"{what} {path}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise See3DError(f"{what} {path}: {anc} is not writable (permission denied or read-only)")


def check_output(
    path: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    kind: str = "dir",
    what: str = "output",
) -> Path:
    """Validate a user-given output path before any work; return it with symlinks resolved.

    ``kind="dir"``: ``path`` must be absent, an empty folder, or (with ``overwrite``) an earlier
    see3d output. ``kind="file"``: ``path`` must be absent or (with ``overwrite``) a file.
    In both cases it must not equal or contain an input, nor contain the current folder.
    Raises :class:`See3DError` with one line otherwise. Stale temporaries of killed runs beside
    ``path`` are removed.
    """
    if kind not in ("dir", "file"):
        raise ValueError(f"kind must be 'dir' or 'file', got {kind!r}")
    if os.fspath(path) == "":
        raise See3DError(f"{what} path is empty")
    given = Path(path)
    real = _real(path)
    if real.parent == real:
        raise See3DError(f"{what} {given} is the root folder; choose a new folder")
    for inp in inputs:
        if inp is None:
            continue
        r = _real(inp)
        if real == r:
            raise See3DError(f"{what} {given} is the input {inp}; choose another {what} path")
        if kind == "dir" and _inside(r, real):
            raise See3DError(f"{what} {given} contains the input {inp}; choose another folder")
    if kind == "dir" and _inside(_real(os.getcwd()), real):
        raise See3DError(f"{what} {given} contains the current folder; choose a new folder")
    if real.exists():
        if kind == "dir":
            if not real.is_dir():
                raise See3DError(f"{what} {given} is a file; -o takes a folder")
            if any(real.iterdir()):
                if not is_see3d_output(real):
                    raise See3DError(
                        f"{what} {given} is a folder with other files (not written by see3d); choose a new or empty folder"
                    )
                if not overwrite:
                    raise See3DError(f"{what} {given} holds an earlier see3d result; pass --overwrite to replace it")
        else:
            if real.is_dir():
                raise See3DError(f"{what} {given} is a folder; a file name is needed")
            if not overwrite:
                raise See3DError(f"{what} {given} exists; pass --overwrite to replace it")
    _check_writable(real, what)
    remove_stale_temporaries(real)
    return real


def _write_marker(folder: Path, command: str | None) -> None:
    from see3d import __version__

    (folder / MARKER).write_text(json.dumps({"see3d": __version__, "command": command}) + "\n")


def _os_error(e: OSError, path: Path) -> See3DError:
    if e.errno == errno.ENOSPC:
        return See3DError(f"no space left on the device while writing {path}")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return See3DError(f"cannot write {path}: {os.strerror(e.errno).lower()}")
    return See3DError(f"cannot write {path}: {e.strerror or e}")


@contextmanager
def atomic_output_dir(path: str | Path, overwrite: bool = True, marker: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``, on error it is removed.

    If ``path`` exists and ``overwrite`` is false, :class:`FileExistsError` is raised up front.
    ``marker``: the command name recorded in the :data:`MARKER` file that marks a user-facing
    output as see3d's (user-facing outputs are validated with :func:`check_output` first).
    The folder gets the permissions the umask allows (not ``mkdtemp``'s 0700).
    """
    path = _real(path)
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as e:
        raise _os_error(e, path) from None
    try:
        yield tmp
        if marker is not None:
            _write_marker(tmp, marker)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS):
            raise _os_error(e, path) from None
        raise
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        if path.is_dir():
            os.replace(path, old)
        else:
            path.unlink()
    os.replace(tmp, path)
    if old is not None and old.exists():
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary file path beside ``path`` (same suffix); renamed onto ``path`` on success."""
    path = _real(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.tmp-{os.getpid()}-",
            suffix=suffix if suffix is not None else path.suffix,
            dir=path.parent,
        )
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as e:
        raise _os_error(e, path) from None
    tmp = Path(tmp)
    try:
        yield tmp
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS):
            raise _os_error(e, path) from None
        raise
    os.replace(tmp, path)
