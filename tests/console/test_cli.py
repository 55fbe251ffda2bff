"""The command line's parsing (its behaviour end to end is in tests/e2e)."""


def test_options_before_the_command_are_kept():
    from console.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--env", "staging", "status"]).env == "staging"
    assert parser.parse_args(["status", "--env", "production"]).env == "production"
    assert parser.parse_args(["--read-only", "incident"]).read_only is True
    assert parser.parse_args(["--config", "x.toml", "history"]).config == "x.toml"
