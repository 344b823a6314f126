"""The ``see3d`` command line.

Each command lives in its own module with a ``register(app, groups)`` function;
heavy imports happen inside the commands so ``see3d --help`` stays fast.
Errors from bad input (:class:`see3d.errors.See3DError`) print one line,
``error: <message>``, and exit with status 2.
"""

from __future__ import annotations

import importlib
import sys

import typer

from see3d.errors import See3DError

app = typer.Typer(
    name="see3d",
    help="One photo, a few photos or a video prior -> novel views and an explorable 3D scene.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
train_app = typer.Typer(help="Train the bundled models (depth, multi-view diffusion).", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models against ground truth (depth benchmarks).", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
GROUPS = {"train": train_app, "eval": eval_app}

#: Command modules, each with ``register(app, groups)``.
COMMAND_MODULES = [
    "see3d.cli.depth",
    "see3d.cli.generate",
    "see3d.cli.mvd",
    "see3d.cli.render",
    "see3d.cli.view",
    "see3d.cli.reconstruct",
    "see3d.cli.synth",
    "see3d.cli.curate",
    "see3d.cli.weights",
    "see3d.cli.webapp",
    "see3d.cli.mesh",
    "see3d.cli.edit",
]


def _version(value: bool) -> None:
    if value:
        from see3d import __version__

        print(f"see3d {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version, is_eager=True),
) -> None:
    """One photo, a few photos or a video prior -> novel views and an explorable 3D scene."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app, GROUPS)


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so that temporary outputs are removed on the way out."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised through a subprocess in the tests
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point.

    Exit codes: 0 success; 1 an unexpected error (traceback); 2 bad input or usage (one line,
    ``error: ...``); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM). Interrupted or
    terminated runs leave no temporary output behind.
    """
    import signal

    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a test thread)
        previous = None
    try:
        rv = app(args=argv, standalone_mode=False)
    except See3DError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FileExistsError as e:
        print(f"error: output exists: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except typer.Exit as e:
        return e.exit_code
    except SystemExit as e:  # click usage errors
        return int(e.code or 0)
    except OSError as e:  # disk full, read-only or missing location, permissions: one line
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        print(f"error: cannot write or read{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # click exceptions (bad option values...) carry their own formatting
        if isinstance(e, _click_errors()):
            e.show()
            return e.exit_code
        if type(e).__name__ == "Abort":
            return 1
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if rv == 130:  # typer turns KeyboardInterrupt into this return value
        print("interrupted", file=sys.stderr)
        return 130
    return int(rv) if isinstance(rv, int) else 0


def entry() -> None:
    """The ``see3d`` executable: :func:`main`, then exit with its code.

    An interrupted or terminated run exits at once with 130 / 143 once its temporary outputs are
    removed (``os._exit``): CPython otherwise re-kills the process with SIGINT when the signal
    happened to land inside code that an extension ran through ``PyRun_*``, and the exit status
    became "killed by SIGINT" instead of 130 in about one run in six.
    """
    import os

    rc = main()
    if rc in (130, 143):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    sys.exit(rc)


def _click_errors() -> tuple[type, ...]:
    """``ClickException`` of click and of the copy vendored by newer typer releases."""
    types: list[type] = []
    try:
        import click

        types.append(click.exceptions.ClickException)
    except ImportError:  # pragma: no cover
        pass
    try:
        from typer._click.exceptions import ClickException

        types.append(ClickException)
    except ImportError:  # older typer uses click itself
        pass
    return tuple(types)


if __name__ == "__main__":  # pragma: no cover
    entry()
