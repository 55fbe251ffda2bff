"""A headless bake in a CI log: never silent for more than a minute (of the rollout's clock)."""

from __future__ import annotations

import re
from datetime import datetime

from console.headless import QUIET_LIMIT_SECONDS
from tests.e2e.test_cli import AUTO, emulator_process, strict_config  # noqa: F401 - the fixture is used by name

POLL_SLACK_SECONDS = 60  # a line is due at the first bake poll after the limit; at ×200 a loaded machine may
# stretch one poll (15 s of rollout clock) to several; without the limit the gaps reach 4–5 minutes


def test_a_bake_prints_a_line_at_least_every_minute(emulator_process, tmp_path):  # noqa: F811
    emu = emulator_process("healthy", strict_config(tmp_path))
    result = emu.vinconsole(*AUTO)
    assert result.returncode == 0, result.stdout + result.stderr
    # from the first bake on: before it, a fraction of a real second of start-up reads (the trailing
    # day of stable's latency) is two clock minutes at ×200, and no bake is running yet
    lines = result.stdout.splitlines()
    first_bake = next(i for i, line in enumerate(lines) if " bake: " in line)
    stamps = [datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
              for line in lines[first_bake:] if (m := re.match(r"(\d{4}-\d\d-\d\dT\S+Z) ", line))]
    assert len(stamps) > 10, result.stdout
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert max(gaps) <= QUIET_LIMIT_SECONDS + POLL_SLACK_SECONDS, (max(gaps), result.stdout)
