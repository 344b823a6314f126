"""The registry of published models (``registry.toml`` beside this module): data, not code."""

from __future__ import annotations

import difflib
import fnmatch
import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from see3d.errors import See3DError

REGISTRY_FILE = Path(__file__).with_name("registry.toml")
TASKS = ("depth", "mvd", "text-to-image", "inpainting")


@dataclass(frozen=True)
class ModelEntry:
    """One published model: where it lives on the Hub, which files see3d needs, what it is."""

    name: str
    task: str
    backend: str
    description: str
    repo: str
    revision: str = "main"
    allow: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    target: str = "."
    size: str = ""
    size_bytes: int = 0
    size_exact: bool = False
    license: str = ""
    license_note: str = ""
    auto_rank: int = 0
    hosted: bool = True
    how: str = ""
    options: dict = field(default_factory=dict)
    camera: dict | None = None
    variant: str = ""
    revision_note: str = ""
    input_convention: str = ""
    published: str = ""

    def wants(self, path: str) -> bool:
        """Whether ``path`` (a file of the repo) is one of this entry's files (allow / ignore
        patterns, matched as huggingface_hub matches ``allow_patterns``)."""
        allow = [p + "*" if p.endswith("/") else p for p in self.allow]
        ignore = [p + "*" if p.endswith("/") else p for p in self.ignore]
        if allow and not any(fnmatch.fnmatchcase(path, p) for p in allow):
            return False
        return not any(fnmatch.fnmatchcase(path, p) for p in ignore)

    @property
    def get_command(self) -> str:
        return f"see3d weights get {self.name}"


_FIELDS = set(ModelEntry.__dataclass_fields__)


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, ModelEntry]:
    """All entries of ``registry.toml`` by name (validated)."""
    with open(REGISTRY_FILE, "rb") as f:
        raw = tomllib.load(f)
    out: dict[str, ModelEntry] = {}
    for name, d in raw.items():
        unknown = set(d) - _FIELDS
        if unknown:
            raise See3DError(f"registry entry {name!r} has unknown fields: {', '.join(sorted(unknown))}")
        d = dict(d)
        for k in ("allow", "ignore"):
            d[k] = tuple(d.get(k, ()))
        e = ModelEntry(name=name, **d)
        if e.task not in TASKS:
            raise See3DError(f"registry entry {name!r}: unknown task {e.task!r}")
        if e.hosted and not (e.repo and e.allow):
            raise See3DError(f"registry entry {name!r}: a hosted model needs repo and allow patterns")
        out[name] = e
    return out


def get_entry(name: str) -> ModelEntry:
    """The entry called ``name``; a one-line error naming close matches otherwise."""
    reg = registry()
    if name in reg:
        return reg[name]
    close = difflib.get_close_matches(name, list(reg), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise See3DError(f"no published model called {name!r}{hint}; `see3d weights list` shows them all")


def is_registered(name: str) -> bool:
    return name in registry()


def depth_auto_order() -> list[ModelEntry]:
    """Depth entries that ``--depth-model auto`` may pick, best first."""
    return sorted((e for e in registry().values() if e.task == "depth" and e.auto_rank > 0 and e.hosted), key=lambda e: e.auto_rank)
