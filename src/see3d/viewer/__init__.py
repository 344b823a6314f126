"""A small self-written WebGL2 Gaussian-splat viewer: a self-contained HTML file or a local server.

- :func:`viewer_html` builds one HTML page; with ``embed=True`` the scene travels inside it as
  base64 ``.splat`` records (a single file that opens offline), otherwise the page fetches
  ``scene.splat`` from the server.
- :func:`serve` starts an HTTP server bound to ``127.0.0.1`` that answers exactly two paths:
  ``/`` (the page) and ``/scene.splat`` (the scene, converted in memory). Nothing is read from disk
  while serving, so no file outside (or inside) the scene folder can be fetched.

Controls: drag to orbit about the look-at point, right-drag (or shift-drag) to pan, wheel to
zoom, ``r`` to return to the start camera. The first view uses the given camera exactly (same
intrinsics, fitted to the window height), so it matches :func:`see3d.gs.train.render`.
"""

from __future__ import annotations

import base64
import html
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from see3d.camera import Intrinsics, look_at
from see3d.errors import See3DError

#: The only address the server binds to.
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ViewerCamera:
    """Start camera of the viewer: OpenCV camera-to-world pose, intrinsics and the orbit centre."""

    c2w: np.ndarray
    intrinsics: Intrinsics
    target: np.ndarray

    def to_json(self) -> dict:
        k = self.intrinsics
        return {
            "c2w": np.asarray(self.c2w, dtype=float).tolist(),
            "fx": k.fx,
            "fy": k.fy,
            "cx": k.cx,
            "cy": k.cy,
            "width": k.width,
            "height": k.height,
        }


def default_camera(model, width: int = 960, height: int = 640, fov_deg: float = 60.0) -> ViewerCamera:
    """A camera that sees the scene: the world origin looking down +z when the scene lies there
    (scenes made by ``see3d generate`` live in the input camera's frame), else a view from -z."""
    means = model.means.detach().cpu().numpy().astype(np.float64)
    op = model.opacities.detach().cpu().numpy()
    pts = means[op >= 0.1] if (op >= 0.1).sum() >= 10 else means
    centre = np.median(pts, axis=0)
    intr = Intrinsics.from_fov(fov_deg, width, height)
    if np.mean(pts[:, 2] > 0) >= 0.8 and centre[2] > 0:
        return ViewerCamera(np.eye(4), intr, np.array([0.0, 0.0, float(centre[2])]))
    r = float(np.percentile(np.linalg.norm(pts - centre, axis=1), 90)) or 1.0
    eye = centre - np.array([0.0, 0.0, 2.5 * r])
    return ViewerCamera(look_at(eye, centre), intr, centre)


def camera_from_pose(c2w: np.ndarray, intrinsics: Intrinsics, model=None, target_distance: float | None = None) -> ViewerCamera:
    """Viewer camera at a given pose; the orbit centre is the median Gaussian depth ahead of it."""
    from see3d.camera.pose import as_pose

    c2w = as_pose(c2w)
    d = target_distance
    if d is None and model is not None:
        w2c = np.linalg.inv(c2w)
        z = model.means.detach().cpu().numpy() @ w2c[2, :3] + w2c[2, 3]
        z = z[z > 0]
        d = float(np.median(z)) if z.size else None
    d = d or 1.0
    return ViewerCamera(c2w, intrinsics, c2w[:3, 3] + d * c2w[:3, 2])


def scene_camera(model, scene_path: str | Path | None = None, cameras: str | Path | None = None, index: int = 0):
    """The start camera for a scene: camera ``index`` of ``cameras`` (a ``transforms.json``), else of a
    ``transforms.json`` beside the scene file (as ``see3d reconstruct`` / ``generate`` write), else
    :func:`default_camera`. Returns ``(ViewerCamera, CameraSet or None)``."""
    from see3d.io import read_transforms_json

    path = Path(cameras) if cameras is not None else None
    if path is None and scene_path is not None:
        cand = Path(scene_path).parent / "transforms.json"
        path = cand if cand.is_file() else None
    if path is None:
        return default_camera(model), None
    cs = read_transforms_json(path, probe_image_size=False)
    if not 0 <= index < len(cs):
        raise See3DError(f"camera index {index} out of range: {path.name} has {len(cs)} cameras")
    return camera_from_pose(cs.poses[index], cs.intrinsics[index], model), cs


def viewer_html(
    model,
    camera: ViewerCamera | None = None,
    embed: bool = True,
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
    title: str = "see3d scene",
    url: str = "scene.splat",
) -> str:
    """The viewer page; ``embed=True`` puts the scene in the page (one self-contained file)."""
    from see3d.gs.export import gaussians_to_splat_bytes
    from see3d.viewer._js import VIEWER_JS

    cam = camera or default_camera(model)
    cfg = {
        "camera": cam.to_json(),
        "target": np.asarray(cam.target, dtype=float).tolist(),
        "background": [float(c) for c in background],
        "url": url,
    }
    data = base64.b64encode(gaussians_to_splat_bytes(model)).decode("ascii") if embed else ""
    # "</" cannot appear in the JSON (no HTML in it) nor in base64, so the script blocks are safe
    cfg_json = json.dumps(cfg).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<style>html,body{margin:0;height:100%;overflow:hidden;background:#000}"
        "#see3d-canvas{display:block;width:100vw;height:100vh;touch-action:none}</style>"
        "</head><body>"
        "<canvas id=\"see3d-canvas\" title=\"drag: orbit, right-drag: pan, wheel: zoom, r: reset\"></canvas>"
        f"<script type=\"application/json\" id=\"see3d-config\">{cfg_json}</script>"
        f"<script type=\"application/octet-stream\" id=\"see3d-data\">{data}</script>"
        f"<script>{VIEWER_JS}</script>"
        "</body></html>\n"
    )


def write_viewer_html(model, path: str | Path, camera: ViewerCamera | None = None, background=(0.0, 0.0, 0.0)) -> Path:
    """Write a self-contained viewer page (scene embedded), atomically."""
    from see3d.io import atomic_file

    path = Path(path)
    page = viewer_html(model, camera, embed=True, background=background, title=f"see3d: {path.stem}")
    with atomic_file(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


class ViewerServer:
    """A running viewer server (``url``, ``port``; :meth:`close` stops it)."""

    def __init__(self, httpd: ThreadingHTTPServer, thread: threading.Thread):
        self.httpd = httpd
        self.thread = thread

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> "ViewerServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def loopback_host(host: str | None) -> bool:
    """True for a ``Host`` header that names this machine's loopback (``127.0.0.1``, ``localhost``,
    ``[::1]``, with any port); anything else is refused, so a web page whose domain re-resolves to
    127.0.0.1 (DNS rebinding) cannot read the scene."""
    if not host:
        return False
    h = host.strip().lower()
    if h.startswith("["):
        name = h[1 : h.find("]")] if "]" in h else h
    else:
        name = h.rsplit(":", 1)[0] if h.count(":") == 1 else h
    return name in ("127.0.0.1", "localhost", "::1")


def serve(model, port: int = 8080, camera: ViewerCamera | None = None, background=(0.0, 0.0, 0.0), title: str = "see3d scene") -> ViewerServer:
    """Serve the viewer on ``http://127.0.0.1:port/`` in a background thread (``port=0``: any free port)."""
    from see3d.gs.export import gaussians_to_splat_bytes

    page = viewer_html(model, camera, embed=False, background=background, title=title).encode("utf-8")
    scene = gaussians_to_splat_bytes(model)
    routes = {"/": (page, "text/html; charset=utf-8"), "/index.html": (page, "text/html; charset=utf-8"), "/scene.splat": (scene, "application/octet-stream")}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bool) -> None:
            if not loopback_host(self.headers.get("Host")):  # DNS rebinding: a foreign name resolving to us
                self.send_error(403, "forbidden host")
                return
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            if path not in routes:
                self.send_error(404, "not found")
                return
            data, ctype = routes[path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            self._answer(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def log_message(self, format: str, *args) -> None:  # quiet
            return

    try:
        httpd = ThreadingHTTPServer((HOST, int(port)), Handler)
    except OSError as e:
        raise See3DError(f"cannot listen on {HOST}:{port}: {e.strerror or e}") from None
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, name="see3d-viewer", daemon=True)
    t.start()
    return ViewerServer(httpd, t)


__all__ = ["HOST", "ViewerCamera", "ViewerServer", "camera_from_pose", "default_camera", "scene_camera", "serve", "viewer_html", "write_viewer_html"]
