"""Config files of the training commands: TOML (``.toml``) or JSON, read into a dict."""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields
from pathlib import Path

from see3d.errors import See3DError


def read_config_file(path: str | Path, what: str = "config") -> dict:
    """The table of a TOML (``.toml``) or JSON file; a clear error when missing or malformed.

    ``extends = "other.toml"`` (a path relative to this file) starts from that file's table and
    overrides it with this one's keys; nested tables merge key by key, so an ablation config
    states only what it changes."""
    return _read(Path(path), what, ())


def _read(path: Path, what: str, seen: tuple[Path, ...]) -> dict:
    if not path.is_file():
        raise See3DError(f"{what} not found: {path}")
    try:
        d = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise See3DError(f"cannot parse {what} {path}: {e}") from None
    if not isinstance(d, dict):
        raise See3DError(f"{what} {path}: expected a table of settings, got {type(d).__name__}")
    base = d.pop("extends", None)
    if base is None:
        return d
    if not isinstance(base, str):
        raise See3DError(f"{what} {path}: 'extends' must be a file path, got {base!r}")
    key = path.resolve()
    if key in seen:
        raise See3DError(f"{what} {path}: 'extends' loops back to {key.name}")
    return _merge(_read(path.parent / base, what, seen + (key,)), d)


def _merge(base: dict, over: dict) -> dict:
    """``base`` updated by ``over``; tables present in both merge recursively."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_fields(cls, d: dict, what: str = "config") -> None:
    """Raise on keys of ``d`` that are not fields of the dataclass ``cls``."""
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise See3DError(f"{what}: unknown fields {', '.join(unknown)}")
