"""The example workflows call vinconsole with arguments it accepts (they drift silently otherwise)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from console.cli import build_parser

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "github-actions").glob("*.yml"))
CALL = re.compile(r"(?:run:\s*|^\s+)(vinconsole\s[^#>|]*)")


def calls(path: Path) -> list[str]:
    return [m.group(1).strip() for line in path.read_text().splitlines() if (m := CALL.search(line))]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_vinconsole_call_in_the_examples_parses(path):
    found = calls(path)
    assert found, f"{path.name} calls vinconsole nowhere"
    for call in found:
        args = shlex.split(call)[1:]
        build_parser().parse_args(args)  # SystemExit (exit 2) on an unknown or missing argument


def test_the_parser_really_refuses_a_wrong_call():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["cost", "--notfy"])
