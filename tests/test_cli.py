"""The command-line surface: every command and option explains itself in ``--help``."""

import typer

from see3d.cli import app, main


def _leaves(cmd, name="see3d"):
    if hasattr(cmd, "commands"):
        for sub_name, sub in cmd.commands.items():
            yield from _leaves(sub, f"{name} {sub_name}")
    else:
        yield name, cmd


def test_every_command_and_option_has_help():
    leaves = list(_leaves(typer.main.get_command(app)))
    names = {n for n, _ in leaves}
    assert {"see3d generate", "see3d reconstruct", "see3d depth", "see3d train mvd", "see3d render", "see3d view"} <= names
    missing = []
    for name, cmd in leaves:
        if not (cmd.help or "").strip():
            missing.append(name)
        for p in cmd.params:
            if p.param_type_name == "option" and p.name != "help" and not (p.help or "").strip():
                missing.append(f"{name} {'/'.join(p.opts)}")
    assert not missing, f"without help text: {missing}"


def test_unknown_option_is_a_usage_error(capsys):
    rc = main(["generate", "--no-such-option"])
    assert rc == 2
    assert "no-such-option" in capsys.readouterr().err


def test_help_texts_survive_rich_markup(monkeypatch):
    """The help is rendered as Markdown by rich: nothing a help text says may vanish on the way
    (``[word]`` read as a style tag, ``<name>`` as HTML, ``*`` or ``_`` as emphasis markers
    eating words). Every word and every bracketed part of each help text must reach --help."""
    import re

    from typer.testing import CliRunner

    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("TERMINAL_WIDTH", "400")
    runner = CliRunner()
    lost = []
    for name, cmd in _leaves(typer.main.get_command(app)):
        texts = [cmd.help or ""] + [p.help or "" for p in cmd.params if getattr(p, "help", None)]
        out = runner.invoke(app, name.split()[1:] + ["--help"], terminal_width=400).output
        flat = " ".join(out.replace("│", " ").split())
        for t in texts:
            t = t.replace("\\[", "[").replace("`", "")
            parts = re.findall(r"\[[^\]\[]*\]|<[^<>]*>", t) + t.split()  # bracketed parts, every word with its punctuation
            lost += [f"{name}: {p}" for p in parts if " ".join(p.split()) not in flat]
    assert not lost, f"dropped from --help: {sorted(set(lost))[:20]}"
