"""``see3d app``: the local web page (Gradio) for the photo-to-3D job (module not named ``app``: that
would shadow the ``see3d.cli.app`` Typer object)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from see3d.errors import See3DError


def app_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only; another address exposes the app to the network)."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
    out_root: Path = typer.Option(Path("see3d-app-runs"), "--out-root", help="Folder that holds one sub-folder per run (created if missing; the app never deletes runs and serves no file outside it)."),
    max_upload_mb: float = typer.Option(50.0, "--max-upload-mb", min=0.1, help="Largest upload accepted, in MB."),
) -> None:
    """Start the local web app: upload a photo, watch the stages, turn the 3D result in the browser.

    Bound to 127.0.0.1 by default; no share link and no usage analytics. One job runs at a time
    (others wait in a queue); Cancel stops a job and leaves nothing half-written.

    Example: see3d app --out-root runs/app   (then open http://127.0.0.1:7860)
    """
    from see3d.app import require_gradio

    require_gradio()
    out = Path(out_root)
    if out.exists() and not out.is_dir():
        raise See3DError(f"--out-root {out} is a file; give a folder")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {host}: anyone who can reach this machine can use the app", file=sys.stderr)
    from see3d.app.ui import launch, stop

    try:
        demo = launch(out, host=host, port=port, max_file_size=int(max_upload_mb * 1e6), block=False, quiet=True)
    except OSError as e:  # the port is taken, or the address is not this machine's
        if "empty port" in str(e):
            raise See3DError(f"port {port} on {host} is in use; choose another with --port") from None
        raise See3DError(f"cannot serve on {host}:{port}: {str(e).splitlines()[0] if str(e) else e}") from None
    print(f"see3d app: {demo.local_url}  (runs in {out.resolve()}; Ctrl-C stops)", file=sys.stderr)
    try:
        demo.block_thread()
    finally:
        stop(demo)


def register(app: typer.Typer, groups: dict) -> None:
    app.command("app")(app_cmd)
