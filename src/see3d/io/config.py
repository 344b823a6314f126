"""Config files of the training commands: TOML (``.toml``) or JSON, read into a dict."""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields
from pathlib import Path

from see3d.errors import See3DError


def read_config_file(path: str | Path, what: str = "config") -> dict:
    """The table of a TOML (``.toml``) or JSON file; a clear error when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise See3DError(f"{what} not found: {path}")
    try:
        d = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise See3DError(f"cannot parse {what} {path}: {e}") from None
    if not isinstance(d, dict):
        raise See3DError(f"{what} {path}: expected a table of settings, got {type(d).__name__}")
    return d


def check_fields(cls, d: dict, what: str = "config") -> None:
    """Raise on keys of ``d`` that are not fields of the dataclass ``cls``."""
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise See3DError(f"{what}: unknown fields {', '.join(unknown)}")
