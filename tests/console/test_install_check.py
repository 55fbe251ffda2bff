"""Another distribution owning `console`, `screens` or `widgets` stops the CLI with a message, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from console.install_check import collision_message, collisions

REPO = Path(__file__).resolve().parents[2]


def test_only_other_distributions_count():
    owners = {"console": ["vinconsole", "console"], "screens": ["vinconsole"], "rich": ["rich"]}
    assert collisions(owners) == {"console": ["console"]}
    assert collisions({"console": ["VinConsole"], "widgets": ["vinconsole"]}) == {}


def test_the_message_names_the_collision_and_the_isolated_installs():
    text = collision_message({"console": ["console"]})
    assert "`console` is also installed by 'console'" in text
    assert "pipx install" in text and "uv tool install" in text and "pip uninstall console vinconsole" in text


def test_the_cli_refuses_to_run_beside_a_colliding_distribution(tmp_path):
    """A real (minimal) installed distribution on sys.path that claims the top-level name `console`."""
    dist_info = tmp_path / "console-0.5.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: console\nVersion: 0.5\n")
    (dist_info / "top_level.txt").write_text("console\n")
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main(['status']))"],
        capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": f"{REPO}:{tmp_path}", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("vinconsole: ") and "'console'" in result.stderr
    assert "Traceback" not in result.stderr
