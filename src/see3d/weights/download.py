"""``see3d weights get``: the only code in see3d that downloads, through ``huggingface_hub``.

Steps: ask the Hub (``$HF_ENDPOINT``, a token from ``$HF_TOKEN`` or the ``hf auth login`` file)
for the commit of the entry's revision and its file listing; fetch each wanted file that is
not already in the cache into ``blobs/<etag>.see3d-part`` with HTTP range requests, so a
download that was killed continues where it stopped on the next run (huggingface_hub itself
only retries within one run: since 1.x its partial files carry a per-process name and are
deleted on failure); check the bytes against the size and the sha256 / git sha1 the Hub lists
(a mismatch deletes them and fails); move them to ``blobs/<etag>``; then let
``snapshot_download`` create the snapshot links and refs, so the result is huggingface_hub's
standard cache that transformers / diffusers read as well. Files are fetched over plain HTTP
also from repositories stored with xet (the Hub serves them at the same resolve URLs).
"""

from __future__ import annotations

import inspect
import os
import sys
from urllib.parse import urlparse

from see3d.errors import See3DError
from see3d.weights import cache as wc
from see3d.weights.registry import ModelEntry


def _bar_class(enabled: bool):
    """A huggingface_hub tqdm that writes to stderr and, off a terminal, at most every
    :data:`see3d._progress.LOG_INTERVAL` seconds (as see3d's other bars)."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    from see3d._progress import LOG_INTERVAL, _is_terminal

    class Bar(hf_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["file"] = sys.stderr
            if not enabled:
                kwargs["disable"] = True
            elif not _is_terminal(sys.stderr) and "TQDM_MININTERVAL" not in os.environ:
                kwargs.setdefault("mininterval", LOG_INTERVAL)
                kwargs.setdefault("maxinterval", LOG_INTERVAL)
            super().__init__(*args, **kwargs)

    return Bar


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def fetch(entry: ModelEntry, progress: bool = True, say=None) -> wc.CacheStatus:
    """Download ``entry`` into the Hugging Face cache (resuming, verified) and return its status."""
    say = say or (lambda msg: print(msg, file=sys.stderr))
    if not entry.hosted:
        raise See3DError(f"{entry.name} is not on the Hub: {entry.how}")
    cache = wc.hub_cache_dir()
    if wc.offline():
        st = wc.status(entry, cache)
        if st.ok:
            return st
        raise See3DError(f"HF_HUB_OFFLINE is set and {entry.name} is not in the cache ({cache}): run `{entry.get_command}` with network access")
    try:
        import huggingface_hub as hh
        from huggingface_hub.file_download import get_hf_file_metadata, http_get
        from huggingface_hub.utils import build_hf_headers
    except ImportError:
        raise See3DError("`see3d weights get` needs huggingface_hub (pip install huggingface_hub)") from None
    from huggingface_hub import errors as hf_errors

    endpoint = os.environ.get("HF_ENDPOINT") or None
    token = wc.hf_token()
    api = hh.HfApi(endpoint=endpoint, token=token if token else False)
    try:
        info = api.repo_info(entry.repo, revision=entry.revision)
        commit = info.sha
        tree = [f for f in api.list_repo_tree(entry.repo, revision=commit, recursive=True) if isinstance(f, hh.hf_api.RepoFile)]
    except hf_errors.GatedRepoError:
        raise See3DError(f"{entry.repo} is gated: accept its terms on the Hub, then log in (`hf auth login`) or set HF_TOKEN") from None
    except hf_errors.RevisionNotFoundError:
        raise See3DError(f"{entry.repo} has no revision {entry.revision!r}") from None
    except hf_errors.RepositoryNotFoundError:
        raise See3DError(f"{entry.repo} not found on {endpoint or 'the Hub'} (or it is private: set HF_TOKEN)") from None
    except (KeyboardInterrupt, See3DError):
        raise
    except Exception as e:  # network errors of httpx / requests, HTTP errors
        raise See3DError(f"cannot reach {endpoint or 'the Hub'} for {entry.repo}: {_one_line(e)}") from None
    full = {}  # the whole repository's listing: other entries of the same repository are judged by it too
    for f in tree:
        lfs = f.lfs
        sha = getattr(lfs, "sha256", None) if lfs is not None else None
        full[f.path] = {"etag": sha or f.blob_id, "size": int(getattr(lfs, "size", None) or f.size)}
    listing = {p: r for p, r in full.items() if entry.wants(p)}
    if not listing:
        raise See3DError(f"no file of {entry.repo}@{commit[:12]} matches the patterns of {entry.name} ({', '.join(entry.allow)})")
    folder = wc.repo_folder(entry.repo, cache)
    blobs = folder / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    record = wc.read_record(folder)
    record["listings"][commit] = full
    wc.write_record(folder, record)

    headers = build_hf_headers(token=token if token else False)
    todo = []
    for path, r in sorted(listing.items()):
        blob = blobs / r["etag"]
        if blob.exists():
            problem = wc.check_blob(blob, r["etag"], r["size"], record)
            if problem is None:
                continue
            say(f"{path}: cached copy is damaged ({problem}); fetching it again")
            blob.unlink()
        todo.append((path, r))
    total = sum(r["size"] for _, r in todo)
    if todo:
        say(f"{entry.name}: fetching {len(todo)} of {len(listing)} files ({_human(total)}) from {entry.repo}@{commit[:12]} into {cache}")
    accepts_bar = "tqdm_class" in inspect.signature(http_get).parameters
    for path, r in todo:
        blob = blobs / r["etag"]
        part = blobs / (r["etag"] + wc.PART_SUFFIX)
        url = hh.hf_hub_url(entry.repo, path, revision=commit, endpoint=endpoint)
        try:
            meta = get_hf_file_metadata(url, token=token if token else False, endpoint=endpoint)
        except (KeyboardInterrupt, See3DError):
            raise
        except Exception as e:
            raise See3DError(f"cannot fetch {path} of {entry.repo}: {_one_line(e)}") from None
        if meta.size is not None and meta.size != r["size"]:
            raise See3DError(f"{path}: the Hub lists {r['size']} bytes but serves {meta.size}; try again later")
        get_url, get_headers = url, dict(headers)
        if meta.location and meta.location != url:
            get_url = meta.location
            if urlparse(meta.location).netloc != urlparse(url).netloc:
                get_headers.pop("authorization", None)
                get_headers.pop("Authorization", None)
        done = part.stat().st_size if part.exists() else 0
        if done > r["size"]:
            part.unlink()
            done = 0
        if done:
            say(f"{path}: resuming at {_human(done)} of {_human(r['size'])}")
        kwargs = {"tqdm_class": _bar_class(progress)} if accepts_bar else {}
        try:
            with open(part, "ab", buffering=0) as fh:  # unbuffered: what arrived is on disk if the process dies
                http_get(get_url, fh, resume_size=done, headers=get_headers, expected_size=r["size"], displayed_filename=path, **kwargs)
        except (KeyboardInterrupt, See3DError):
            raise
        except Exception as e:
            raise See3DError(f"download of {path} stopped ({_one_line(e)}); run `{entry.get_command}` again to continue") from None
        got = wc.file_hash(part, r["etag"]) if part.stat().st_size == r["size"] else None
        if got != r["etag"]:
            size = part.stat().st_size
            part.unlink()
            what = f"{size} bytes where the Hub lists {r['size']}" if got is None else f"hash {got[:12]}... where the Hub lists {r['etag'][:12]}..."
            raise See3DError(f"{path} of {entry.repo} arrived damaged ({what}); it was deleted, nothing uses it: run `{entry.get_command}` again")
        os.replace(part, blob)
        st = blob.stat()
        record["verified"][r["etag"]] = [st.st_size, st.st_mtime_ns]
        wc.write_record(folder, record)
    # snapshot links and refs in huggingface_hub's own way (every blob is there: nothing is downloaded)
    try:
        hh.snapshot_download(
            entry.repo, revision=entry.revision, allow_patterns=list(entry.allow), ignore_patterns=list(entry.ignore) or None,
            cache_dir=str(cache), endpoint=endpoint, token=token if token else False, tqdm_class=_bar_class(False),
        )
    except (KeyboardInterrupt, See3DError):
        raise
    except Exception as e:
        raise See3DError(f"cannot link {entry.name} in the cache: {_one_line(e)}; run `{entry.get_command}` again") from None
    if not wc._COMMIT.match(entry.revision):  # the branch's commit as downloaded (snapshot_download wrote it too)
        ref = folder / "refs" / entry.revision
        ref.parent.mkdir(parents=True, exist_ok=True)
        if not ref.exists() or ref.read_text().strip() != commit:
            ref.write_text(commit)
    st = wc.status(entry, cache)
    if not st.ok:
        raise See3DError(f"{entry.name} is incomplete after the download ({'; '.join(st.problems[:2])}); run `{entry.get_command}` again")
    return st


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
