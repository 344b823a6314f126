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
