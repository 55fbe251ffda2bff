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


USES = re.compile(r"^\s*-?\s*uses:\s*['\"]?([^\s'\"#]+)['\"]?\s*(#.*)?$")
INSTALL = re.compile(r"\b(?:pip|pipx|uv\s+tool|uv\s+pip)\s+install\b(.*)")
BARE_NAME = re.compile(r"^['\"]?vinconsole(?:\[[^\]]*\])?(?:[=<>~!]=?.*)?['\"]?$", re.IGNORECASE)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version_named(path):
    uses = [m for line in path.read_text().splitlines() if (m := USES.match(line))]
    assert uses, f"{path.name} uses no action"
    for match in uses:
        action, comment = match.group(1), match.group(2) or ""
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), f"{path.name}: {action} is not pinned to a commit"
        assert re.search(r"#\s*v\d+", comment), f"{path.name}: {action} has no version comment"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_nothing_installs_vinconsole_by_bare_name_from_an_index(path):
    installs = [m.group(1) for line in path.read_text().splitlines() if (m := INSTALL.search(line))]
    assert installs, f"{path.name} installs vinconsole nowhere"
    for arguments in installs:
        for word in shlex.split(arguments.split("#")[0]):
            assert not BARE_NAME.match(word), f"{path.name}: installs {word!r} from a package index"
        assert "git+" in arguments and "@${VINCONSOLE_COMMIT}" in arguments or ".whl" in arguments, arguments


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_jobs_have_timeouts_and_checkouts_keep_no_credentials(path):
    text = path.read_text()
    jobs = re.findall(r"^    runs-on:", text, re.MULTILINE)
    assert jobs and len(re.findall(r"^    timeout-minutes: \d+", text, re.MULTILINE)) == len(jobs)
    checkouts = re.findall(r"uses: actions/checkout@\S+.*\n\s+with:\n\s+persist-credentials: false", text)
    assert len(checkouts) == text.count("uses: actions/checkout@")


def test_the_rollout_judges_the_revision_the_deploy_step_created():
    text = (EXAMPLES[0].parent / "deploy.yml").read_text()
    for call in calls(EXAMPLES[0].parent / "deploy.yml"):
        if "--auto-promote" in call:
            assert '--revision "$REVISION"' in call
    assert text.count("REVISION: ${{ steps.deploy.outputs.revision }}") == 2


def test_the_pin_check_refuses_a_bare_install():
    assert BARE_NAME.match("vinconsole") and BARE_NAME.match("'vinconsole==0.1.0'")
    assert not BARE_NAME.match("git+https://github.com/vinsight/vinconsole@0123")
