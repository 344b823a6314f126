"""The local side of ``see3d weights``: find, verify and remove models in the Hugging Face cache.

Nothing here touches the network or imports ``huggingface_hub``: every command other than
``see3d weights get`` only reads the cache. The cache is huggingface_hub's standard layout
(``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``)::

    models--OWNER--NAME/blobs/<etag>                  file contents (etag = sha256 of large files,
                                                      git blob sha1 of small ones)
    models--OWNER--NAME/snapshots/<commit>/<path>     links to the blobs
    models--OWNER--NAME/refs/<branch>                 the commit a branch pointed at
    models--OWNER--NAME/see3d-weights.json            see3d's record (below)

see3d's record holds the file listing the Hub advertised at download time (path, etag, size)
and, per blob, the size and modification time it had when its hash was last checked. A
model is *cached* when every file of its entry is there with the advertised size and a hash
that matches its etag; a file changed since its last check is hashed again. A truncated or
corrupted file is reported and never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from see3d.errors import See3DError
from see3d.weights.registry import ModelEntry

RECORD = "see3d-weights.json"
PART_SUFFIX = ".see3d-part"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


# ----------------------------------------------------------------------------- environment
def hf_home() -> Path:
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "huggingface"


def hub_cache_dir() -> Path:
    """huggingface_hub's cache folder, read from the environment now (not at import)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    return hf_home() / "hub"


def offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    v = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return v.strip().upper() in ("1", "ON", "YES", "TRUE")


def hf_token() -> str | None:
    """``HF_TOKEN``, else the token file that ``hf auth login`` writes (``$HF_TOKEN_PATH`` or ``$HF_HOME/token``)."""
    tok = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if tok:
        return tok.strip()
    path = Path(os.environ["HF_TOKEN_PATH"]).expanduser() if os.environ.get("HF_TOKEN_PATH") else hf_home() / "token"
    try:
        tok = path.read_text().strip()
    except OSError:
        return None
    return tok or None


def repo_folder(repo: str, cache: Path | None = None) -> Path:
    return (cache or hub_cache_dir()) / ("models--" + repo.replace("/", "--"))


# ----------------------------------------------------------------------------- the record
def read_record(folder: Path) -> dict:
    try:
        d = json.loads((folder / RECORD).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {"listings": {}, "verified": {}}
    if not isinstance(d, dict):
        return {"listings": {}, "verified": {}}
    d.setdefault("listings", {})
    d.setdefault("verified", {})
    return d


def write_record(folder: Path, record: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, folder / RECORD)


def file_hash(path: Path, etag: str) -> str:
    """The hash of ``path`` in the form of ``etag``: sha256 (64 hex) or git blob sha1 (40 hex)."""
    size = path.stat().st_size
    h = hashlib.sha256() if len(etag) == 64 else hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def check_blob(path: Path, etag: str, size: int | None, record: dict) -> str | None:
    """``None`` when ``path`` has the advertised ``size`` and a hash equal to ``etag``; else the problem.

    A blob whose size and modification time match the record's last successful check is not
    hashed again (the record is updated in place after a new successful check).
    """
    try:
        st = path.stat()
    except OSError:
        return f"{path.name}: missing"
    if size is not None and st.st_size != size:
        return f"{st.st_size} bytes where the Hub lists {size} (truncated or corrupted)"
    stamp = [st.st_size, st.st_mtime_ns]
    if record["verified"].get(etag) == stamp:
        return None
    if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", etag):
        return None  # no hash known for it: the size check is all there is
    got = file_hash(path, etag)
    if got != etag:
        kind = "sha256" if len(etag) == 64 else "git sha1"
        return f"{kind} {got[:12]}... where the Hub lists {etag[:12]}... (corrupted)"
    record["verified"][etag] = stamp
    record["_dirty"] = True
    return None


# ----------------------------------------------------------------------------- status
@dataclass
class CacheStatus:
    entry: ModelEntry
    state: str  #: "cached" | "partial" | "corrupt" | "missing" | "not hosted"
    commit: str | None = None
    snapshot: Path | None = None
    problems: list[str] = field(default_factory=list)
    files: dict[str, dict] = field(default_factory=dict)  #: path -> {etag, size}

    @property
    def ok(self) -> bool:
        return self.state == "cached"

    @property
    def path(self) -> Path | None:
        """What see3d hands to the backend: the entry's ``target`` inside the snapshot."""
        if self.snapshot is None:
            return None
        return self.snapshot if self.entry.target in ("", ".") else self.snapshot / self.entry.target

    @property
    def nbytes(self) -> int:
        return sum(int(f.get("size") or 0) for f in self.files.values())

    def record(self) -> dict:
        """What run.json says about this model."""
        e = self.entry
        return {
            "name": e.name,
            "repo": e.repo,
            "revision": e.revision,
            "commit": self.commit,
            "path": str(self.path) if self.path else None,
            "license": e.license,
        }

    def not_cached_message(self) -> str:
        e = self.entry
        if self.state == "not hosted":
            return f"{e.name} is not on the Hub: {e.how}"
        why = {"missing": "is not downloaded", "partial": "is only partly downloaded", "corrupt": "has a damaged file"}[self.state]
        detail = f" ({self.problems[0]})" if self.problems else ""
        return f"model {e.name} {why}{detail}: run `{e.get_command}`"


def commit_of(entry: ModelEntry, cache: Path | None = None) -> str | None:
    """The commit of ``entry.revision`` known to the cache (a 40-hex revision is its own commit)."""
    if _COMMIT.match(entry.revision):
        return entry.revision
    ref = repo_folder(entry.repo, cache) / "refs" / entry.revision
    try:
        c = ref.read_text().strip()
    except OSError:
        return None
    return c if _COMMIT.match(c) else None


def status(entry: ModelEntry, cache: Path | None = None, deep: bool = True) -> CacheStatus:
    """Where ``entry`` stands in the local cache; with ``deep`` every file's hash is confirmed
    (at most once per file version, see :func:`check_blob`)."""
    if not entry.hosted:
        return CacheStatus(entry, "not hosted")
    folder = repo_folder(entry.repo, cache)
    commit = commit_of(entry, cache)
    if commit is None:
        return CacheStatus(entry, "missing")
    snap = folder / "snapshots" / commit
    record = read_record(folder)
    listing = record["listings"].get(commit)
    if listing is not None:
        files = {p: r for p, r in listing.items() if entry.wants(p)}
    else:  # fetched by another tool: judge by the files there, each blob against its name
        files = {}
        if snap.is_dir():
            for f in sorted(snap.rglob("*")):
                rel = f.relative_to(snap).as_posix()
                if f.is_file() and entry.wants(rel):
                    files[rel] = {"etag": Path(os.path.realpath(f)).name, "size": None}
    st = CacheStatus(entry, "missing", commit, snap, files=files)
    if not files:
        return st
    present = 0
    for rel, r in files.items():
        f = snap / rel
        if not f.exists():
            st.problems.append(f"{rel}: missing")
            continue
        present += 1
        if deep:
            problem = check_blob(Path(os.path.realpath(f)), r["etag"], r.get("size"), record)
        else:
            problem = None
            if r.get("size") is not None and f.stat().st_size != r["size"]:
                problem = f"{f.stat().st_size} bytes where the Hub lists {r['size']} (truncated or corrupted)"
        if problem:
            st.problems.append(f"{rel}: {problem}")
    if record.pop("_dirty", False):
        try:
            write_record(folder, record)
        except OSError:  # a read-only cache still works, it is only hashed again next time
            pass
    if not st.problems:
        st.state = "cached"
    elif present == 0:
        st.state = "missing"
    elif any("corrupted" in p for p in st.problems):
        st.state = "corrupt"
    else:
        st.state = "partial"
    return st


def resolve(entry: ModelEntry, cache: Path | None = None) -> CacheStatus:
    """The verified cached copy of ``entry``; a one-line :class:`See3DError` naming
    ``see3d weights get NAME`` when it is not (fully, intact) there."""
    st = status(entry, cache)
    if not st.ok:
        raise See3DError(st.not_cached_message())
    return st


# ----------------------------------------------------------------------------- remove
def remove(entry: ModelEntry, cache: Path | None = None) -> int:
    """Delete ``entry``'s files from the cache (blobs other entries still link to are kept).
    Returns the bytes freed."""
    folder = repo_folder(entry.repo, cache)
    if not folder.is_dir():
        return 0
    from see3d.weights.registry import registry

    record = read_record(folder)
    # files another complete entry of the same repo needs stay (e.g. the See3D VAE)
    keep = [e for e in registry().values() if e.repo == entry.repo and e.name != entry.name and status(e, cache, deep=False).ok]
    freed = 0
    snaps = folder / "snapshots"
    for snap in sorted(snaps.iterdir()) if snaps.is_dir() else []:
        for f in sorted(snap.rglob("*"), reverse=True):
            rel = f.relative_to(snap).as_posix()
            if (f.is_file() or f.is_symlink()) and entry.wants(rel) and not any(k.wants(rel) for k in keep):
                f.unlink()
        for d in sorted((p for p in snap.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
        if not any(snap.iterdir()):
            snap.rmdir()
    # blobs no snapshot links to any more (and partial downloads of this entry)
    linked = set()
    for snap in snaps.iterdir() if snaps.is_dir() else []:
        for f in snap.rglob("*"):
            if f.is_symlink():
                linked.add(Path(os.path.realpath(f)).name)
    mine = {r["etag"] for lst in record["listings"].values() for p, r in lst.items() if entry.wants(p)}
    blobs = folder / "blobs"
    for b in sorted(blobs.iterdir()) if blobs.is_dir() else []:
        base = b.name.split(".")[0]
        if base in linked:
            continue
        if b.name.endswith(PART_SUFFIX) and base not in mine:
            continue
        freed += b.stat().st_size
        b.unlink()
        record["verified"].pop(base, None)
    remaining = snaps.is_dir() and any(snaps.iterdir())
    if not remaining:
        shutil.rmtree(folder, ignore_errors=True)
        for lock in (folder.parent / ".locks" / folder.name,):
            shutil.rmtree(lock, ignore_errors=True)
    else:
        write_record(folder, record)
    return freed
