"""``see3d weights list | get | path | remove``: published models in the Hugging Face cache.

``get`` is the only command of see3d that downloads anything; every other command reads the
cache and, when a named model is missing, says which ``see3d weights get`` command fetches it.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from see3d.errors import See3DError

weights_app = typer.Typer(
    help="Published models (Metric3D, Depth Anything V2, Depth Pro, the See3D release, ...): list, download, locate, delete. "
    "Downloads go to the Hugging Face cache (HF_HOME, HF_HUB_CACHE; HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE apply).",
    no_args_is_help=True,
)


def _say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


@weights_app.command("list")
def list_cmd(
    task: Optional[str] = typer.Option(None, "--task", help="Only this task: depth | mvd | text-to-image."),
    check: bool = typer.Option(False, "--check", help="Confirm the hash of every cached file (slow for large models; a file is hashed again only when it changed since its last check)."),
) -> None:
    """Every published model see3d knows: size on disk, licence, and whether it is downloaded.

    The depth models marked with a rank are what `--depth-model auto` tries, in that order.
    """
    from see3d.weights import cache as wc
    from see3d.weights.registry import TASKS, registry

    if task is not None and task not in TASKS:
        raise See3DError(f"unknown --task {task!r} ({', '.join(TASKS)})")
    rows = []
    for e in registry().values():
        if task and e.task != task:
            continue
        st = wc.status(e, deep=check)
        state = {"cached": "yes", "missing": "-", "not hosted": "export"}.get(st.state, st.state)
        rank = str(e.auto_rank) if e.auto_rank else ""
        rows.append((e.name, e.task, rank, e.size.split(" (")[0], state, e.license))
    head = ("name", "task", "auto", "size", "cached", "license")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"cache: {wc.hub_cache_dir()}  (get one: see3d weights get NAME)")


@weights_app.command("get")
def get_cmd(
    names: list[str] = typer.Argument(..., help="Model names (see3d weights list)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Download models into the Hugging Face cache, resumable and checked against the Hub's sha256.

    Run it again after an interruption and it continues where it stopped.

    Example: see3d weights get metric3d-vit-small
    """
    from see3d.weights import get, get_entry

    for n in names:
        get_entry(n)  # unknown names fail before anything is fetched
    for n in names:
        st = get(n, progress=not quiet, say=lambda m: _say(m, quiet))
        _say(f"{n}: ready ({st.entry.repo}@{(st.commit or '')[:12]}, {len(st.files)} files) at {st.path}", quiet)


@weights_app.command("path")
def path_cmd(name: str = typer.Argument(..., help="Model name (see3d weights list).")) -> None:
    """Print the local path of a downloaded model (the file or folder see3d hands to its backend)."""
    from see3d.weights import path

    print(path(name))


@weights_app.command("remove")
def remove_cmd(
    names: list[str] = typer.Argument(..., help="Model names (see3d weights list)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No output."),
) -> None:
    """Delete downloaded models from the cache (files another downloaded model still needs stay)."""
    from see3d.weights import get_entry, remove
    from see3d.weights.download import _human

    for n in names:
        get_entry(n)
    for n in names:
        freed = remove(n)
        _say(f"{n}: removed ({_human(freed)} freed)" if freed else f"{n}: nothing to remove", quiet)


def register(app: typer.Typer, groups: dict) -> None:
    app.add_typer(weights_app, name="weights")
