"""The command line's parsing (its behaviour end to end is in tests/e2e)."""


def test_options_before_the_command_are_kept():
    from console.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--env", "staging", "status"]).env == "staging"
    assert parser.parse_args(["status", "--env", "production"]).env == "production"
    assert parser.parse_args(["--read-only", "incident"]).read_only is True
    assert parser.parse_args(["--config", "x.toml", "history"]).config == "x.toml"


def test_version_exits_0_and_names_the_version(capsys):
    import pytest

    from console.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("vinconsole ")


def test_every_subcommand_help_has_a_description_an_example_and_exit_codes():
    from console.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        text = sub.format_help()
        assert sub.description, name
        assert "example:\n  vinconsole " + name in text, name
        assert "exit codes: 0 " in text, name


def test_completion_prints_a_script_that_knows_the_subcommands(capsys):
    from console.cli import main

    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete" in script and "rollback" in script and "--auto-promote" in script
