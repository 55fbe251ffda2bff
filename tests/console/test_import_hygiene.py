"""console/ is the headless engine: importing all of it must not pull in Textual."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import console

REPO = Path(__file__).resolve().parents[2]


def test_console_never_imports_textual():
    names = [m.name for m in pkgutil.walk_packages(console.__path__, "console.") if not m.name.endswith("__main__")]
    assert "console.cli" in names and "console.gcp.run" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(len(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_help_does_not_import_google_or_textual():
    code = (
        "import sys\n"
        "from console.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.startswith(('google.cloud', 'grpc', 'textual', 'pydantic'))]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert "--auto-promote" in result.stdout or "status" in result.stdout

