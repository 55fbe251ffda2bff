"""Refuse to run when another installed distribution owns one of vinconsole's import names.

vinconsole's top-level packages are `console`, `screens` and `widgets` (the layout is part of the
spec). PyPI has a `console` package: installed into the same environment, each overwrites the
other's files and uninstalling either breaks both. That shows up as an ImportError or a strange
traceback far from its cause, so the CLI checks once, after parsing its arguments (`--help` and
`--version` never pay for the scan), and says what collides and how to install safely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

IMPORT_NAMES = ("console", "screens", "widgets")
DISTRIBUTION = "vinconsole"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def collisions(owners: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Import name → the other distributions that also provide it, from a mapping shaped like
    `importlib.metadata.packages_distributions()`. Empty when nothing collides."""
    found: dict[str, list[str]] = {}
    for name in IMPORT_NAMES:
        others = sorted({d for d in owners.get(name, ()) if _normalized(d) != DISTRIBUTION})
        if others:
            found[name] = others
    return found


def collision_message(found: Mapping[str, Sequence[str]]) -> str:
    """One paragraph: what collides, why it matters, and the two ways out."""
    pairs = "; ".join(f"`{name}` is also installed by {', '.join(repr(d) for d in dists)}" for name, dists in found.items())
    others = sorted({d for dists in found.values() for d in dists})
    return (
        f"this Python environment has packages that overwrite vinconsole's files: {pairs}. "
        "They share top-level import names, so each replaces the other's modules. "
        "Install vinconsole in an environment of its own: `pipx install git+https://REPO@COMMIT` or "
        "`uv tool install ./vinconsole-*.whl` (README, \"Install\"); or remove the other package and "
        f"reinstall vinconsole here: `pip uninstall {' '.join(others)} vinconsole && pip install …`."
    )


def check_installation() -> str | None:
    """The collision message for this environment, or None when vinconsole owns its names alone."""
    from importlib.metadata import packages_distributions

    found = collisions(packages_distributions())
    return collision_message(found) if found else None
