"""What a first user gets from a built wheel, outside the repository: a fresh virtualenv, an empty
directory and an empty HOME. The bundled demo fleet runs the emulator and the demo; `init`
writes a config that `status` then reads.

Builds a wheel and installs it with its dependencies (from pip's cache: about ten seconds), so
it is marked `wheel` (`pytest -m "not wheel"` skips it while iterating).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ directory of a fresh virtualenv holding vinconsole installed from a wheel."""
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "-w", str(wheels), "--no-deps", "-q"],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("vinconsole-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr
    return venv / "bin"


@pytest.fixture
def first_user(installed, tmp_path) -> dict[str, str]:
    """An environment with nothing of the repository in it: empty HOME, empty working directory."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return {"HOME": str(home), "PATH": f"{installed}:/usr/bin:/bin", "TERM": "xterm-256color",
            "GRPC_VERBOSITY": "ERROR", "CWD": str(work)}


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cwd = env["CWD"]
    return subprocess.run(["vinconsole", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={k: v for k, v in env.items() if k != "CWD"})


def start_emulator(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(["vinconsole", "emulator"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=env["CWD"], env={k: v for k, v in env.items() if k != "CWD"})
    line = proc.stdout.readline()
    match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
    if match is None:
        proc.kill()
        raise AssertionError(f"the emulator did not start: {line}{proc.stderr.read()}")
    return proc, match.group(1)


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_version_and_help_run_from_the_wheel(first_user):
    version = run(first_user, "--version")
    assert version.returncode == 0 and version.stdout.startswith("vinconsole 0."), version
    assert run(first_user, "status", "--help").returncode == 0


def test_the_emulator_starts_with_the_bundled_fleet(first_user):
    proc, address = start_emulator(first_user)
    assert address.startswith("127.0.0.1:")
    assert "fleet from the bundled demo fleet" in stop(proc)


def test_init_writes_a_config_that_status_reads(first_user):
    no_config = run(first_user, "status")
    assert no_config.returncode == 2 and "vinconsole init" in no_config.stderr
    init = run(first_user, "init", "--project", "staging=vinsight-staging", "--project", "production=vinsight-prod",
               "--service", "vinsight-backend")
    assert init.returncode == 0, init.stderr
    written = Path(first_user["HOME"]) / ".config" / "vinconsole" / "config.toml"
    assert str(written) in init.stdout and written.is_file()
    proc, address = start_emulator(first_user)  # seeds from the config init wrote (the user's)
    try:
        status = run({**first_user, "VINCONSOLE_EMULATOR_HOST": address}, "status", "--json")
        plain = run({**first_user, "VINCONSOLE_EMULATOR_HOST": address}, "status")
    finally:
        stop(proc)
    assert status.returncode == 0, status.stderr
    services = json.loads(status.stdout)["services"]
    assert {(s["env"], s["service"]) for s in services} == {("staging", "vinsight-backend"),
                                                           ("production", "vinsight-backend")}
    assert plain.returncode == 0 and not re.search("[\u2500-\u257f]", plain.stdout), plain.stdout


def test_demo_paints_the_bundled_fleet(first_user):
    """`vinconsole --demo` on a real pseudo-terminal: the fleet screen shows both services, `q` quits."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    proc = subprocess.Popen(["vinconsole", "--demo"], stdin=slave, stdout=slave, stderr=slave, cwd=first_user["CWD"],
                            env={k: v for k, v in first_user.items() if k != "CWD"}, close_fds=True)
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not all(
            name in screen for name in (b"vinsight-backend", b"vinsight-frontend", b"bundled demo fleet")
        ):
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(master, 65536)
                except OSError:  # the app exited and closed the terminal
                    break
        painted = screen.decode(errors="replace")
        assert "vinsight-backend" in painted and "vinsight-frontend" in painted, painted[-2000:]
        assert "bundled demo fleet" in painted
        os.write(master, b"q")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
