"""A local stand-in for the Hugging Face Hub, on 127.0.0.1, for ``see3d weights`` tests.

It answers what ``huggingface_hub`` asks when it downloads a snapshot into its cache:

* ``GET /api/models/OWNER/NAME[/revision/REV]``: repo info with the commit (``sha``);
* ``GET /api/models/OWNER/NAME/tree/REV?recursive=...``: the file listing (size, git blob id,
  and for large files an ``lfs`` block with the sha256), one page;
* ``HEAD`` / ``GET /OWNER/NAME/resolve/REV/PATH``: the file, with ``X-Repo-Commit``, ``ETag``
  (the sha256 for large files, the git blob id otherwise), ``Content-Length`` and, for a
  ``Range: bytes=N-`` request, ``206 Partial Content``.

No xet headers are sent (no ``X-Xet-Hash``, no ``xetHash`` in the listing), so the client
falls back to plain HTTP downloads. Faults for the tests: ``drop_after[path] = n`` sends the
first ``n`` bytes of the first full GET of ``path`` and closes the connection;
``stall_after[path] = n`` sends ``n`` bytes and then waits until ``release`` is set (a process
killed meanwhile leaves a partial download); ``corrupt[path] = bytes`` serves other bytes than
the listing and headers advertise. Every request is logged in ``requests``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

#: Files at least this large are served as LFS files (sha256 ETag), like the Hub's large files.
LFS_MIN = 1024


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    files: dict[str, bytes]
    commit: str
    revision: str = "main"

    def entry(self, path: str) -> dict:
        data = self.files[path]
        e = {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": path}
        if len(data) >= LFS_MIN or path.endswith((".safetensors", ".onnx", ".bin")):
            e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return e


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    drop_after: dict[str, int] = field(default_factory=dict)
    stall_after: dict[str, int] = field(default_factory=dict)
    corrupt: dict[str, bytes] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def add_repo(self, repo_id: str, files: dict[str, bytes], revision: str = "main") -> str:
        h = hashlib.sha1(repo_id.encode())
        for p in sorted(files):
            h.update(p.encode() + hashlib.sha1(files[p]).digest())
        commit = revision if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision) else h.hexdigest()
        self.repos[repo_id] = Repo(repo_id, dict(files), commit, revision)
        return commit

    # ------------------------------------------------------------------ server
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                hub._handle(self, head=True)

            def do_GET(self):
                hub._handle(self, head=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def file_gets(self, path: str) -> list[dict]:
        """Headers of the GET requests for ``path`` (any repo), in order."""
        return [h for m, p, h in self.requests if m == "GET" and "/resolve/" in p and p.endswith("/" + path)]

    # ------------------------------------------------------------------ routing
    def _find(self, parts: list[str]) -> tuple[Repo | None, list[str]]:
        if len(parts) >= 2 and "/".join(parts[:2]) in self.repos:
            return self.repos["/".join(parts[:2])], parts[2:]
        return None, parts

    def _rev_ok(self, repo: Repo, rev: str) -> bool:
        return rev in (repo.revision, repo.commit)

    def _handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        url = urlparse(h.path)
        path = unquote(url.path)
        self.requests.append(("HEAD" if head else "GET", path, {k.lower(): v for k, v in h.headers.items()}))
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "models"]:
            repo, rest = self._find(parts[2:])
            if repo is None:
                return self._error(h, 404, "RepoNotFound", head)
            if not rest or rest[0] == "revision":
                rev = rest[1] if len(rest) > 1 else repo.revision
                if not self._rev_ok(repo, rev):
                    return self._error(h, 404, "RevisionNotFound", head)
                return self._json(h, {
                    "id": repo.repo_id, "modelId": repo.repo_id, "sha": repo.commit, "private": False,
                    "siblings": [{"rfilename": p} for p in sorted(repo.files)], "tags": [],
                }, head)
            if rest[0] == "tree":
                if len(rest) < 2 or not self._rev_ok(repo, rest[1]):
                    return self._error(h, 404, "RevisionNotFound", head)
                under = "/".join(rest[2:])
                files = sorted(p for p in repo.files if not under or p.startswith(under + "/"))
                dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
                listing = [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in dirs]
                listing += [repo.entry(p) for p in files]
                return self._json(h, listing, head)
            return self._error(h, 404, "EntryNotFound", head)
        repo, rest = self._find(parts)
        if repo is None or len(rest) < 3 or rest[0] != "resolve":
            return self._error(h, 404, "RepoNotFound", head)
        if not self._rev_ok(repo, rest[1]):
            return self._error(h, 404, "RevisionNotFound", head)
        fpath = "/".join(rest[2:])
        if fpath not in repo.files:
            return self._error(h, 404, "EntryNotFound", head, commit=repo.commit)
        self._send_file(h, repo, fpath, head)

    def _send_file(self, h, repo: Repo, fpath: str, head: bool) -> None:
        entry = repo.entry(fpath)
        data = self.corrupt.get(fpath, repo.files[fpath])
        etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
        start = 0
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes=") and not head:
            start = int(rng[len("bytes="):].split("-")[0])
        body = data[start:]
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", repo.commit)
        h.send_header("ETag", f'"{etag}"')
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Type", "application/octet-stream")
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(repo.files[fpath]) if head else len(body)))
        h.end_headers()
        if head:
            return
        cut = None
        if start == 0 and fpath in self.drop_after:
            cut = self.drop_after.pop(fpath)
        stall = self.stall_after.pop(fpath, None) if start == 0 else None
        if stall is not None:
            h.wfile.write(body[:stall])
            h.wfile.flush()
            self.release.wait(30)
            h.close_connection = True
            return
        if cut is not None:
            h.wfile.write(body[:cut])
            h.wfile.flush()
            h.close_connection = True
            try:
                import socket

                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        h.wfile.write(body)

    def _json(self, h, obj, head: bool) -> None:
        body = json.dumps(obj).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _error(self, h, status: int, code: str, head: bool, commit: str | None = None) -> None:
        body = json.dumps({"error": code}).encode()
        h.send_response(status)
        h.send_header("X-Error-Code", code)
        if commit:
            h.send_header("X-Repo-Commit", commit)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)
