"""``see3d app``: a local web page for the photo-to-3D job (Gradio, the ``app`` extra).

:mod:`see3d.app.runs` (run folders, the job in a child process) needs nothing extra;
:mod:`see3d.app.ui` builds and launches the Gradio page::

    from see3d.app.ui import launch
    launch("runs/app", host="127.0.0.1", port=7860)
"""

INSTALL_HINT = "the app needs Gradio: pip install -e \".[app]\" (or pip install gradio gradio_client)"


def require_gradio() -> None:
    """Raise :class:`see3d.errors.See3DError` with the install command when Gradio is missing."""
    from see3d.errors import See3DError

    try:
        import gradio  # noqa: F401
    except ImportError:
        raise See3DError(INSTALL_HINT) from None
