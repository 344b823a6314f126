"""``see3d view``: look at a 3DGS scene in the browser (local server on 127.0.0.1, or one HTML file)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from see3d.cli._options import overwrite_option, parse_background


def view_cmd(
    scene: Path = typer.Argument(..., help="3DGS scene: standard .ply, .splat, or a saved model folder."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained viewer page (scene embedded) to this file instead of serving."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."),
    cameras: Optional[Path] = typer.Option(None, "--cameras", help="transforms.json with the start camera (default: the one beside SCENE)."),
    camera_index: int = typer.Option(0, "--camera-index", help="Which camera of the camera file to start from."),
    background: str = typer.Option("0,0,0", "--background", help="Background colour r,g,b in [0, 1]."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Interactive viewer: drag to orbit, right-drag to pan, wheel to zoom, r to reset.

    Serves only the viewer page and the scene (converted in memory) on 127.0.0.1; stop with Ctrl-C.
    Example: see3d view out/scene.ply   |   see3d view out/scene.ply --html scene.html
    """
    from see3d.gs import load_gaussians
    from see3d.viewer import scene_camera, serve, write_viewer_html

    bg = parse_background(background)
    if html is not None:
        from see3d.io import check_output

        html = check_output(html, inputs=[scene, cameras], overwrite=overwrite, kind="file", what="--html")
    model = load_gaussians(scene)
    cam, _ = scene_camera(model, scene, cameras, camera_index)
    if html is not None:
        write_viewer_html(model, html, cam, background=bg)
        print(f"wrote {html} ({len(model)} Gaussians); open it in a browser with WebGL2", file=sys.stderr)
        return
    server = serve(model, port, cam, background=bg, title=f"see3d: {scene.name}")
    print(f"viewer: {server.url}  ({len(model)} Gaussians; Ctrl-C to stop)", file=sys.stderr)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        while True:
            time.sleep(3600)
    finally:  # Ctrl-C: the server stops and the command exits 130 ("interrupted")
        server.close()


def register(app: typer.Typer, groups: dict) -> None:
    app.command("view")(view_cmd)
