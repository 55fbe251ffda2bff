"""Who is driving: the identity written into leases and audit entries."""

from __future__ import annotations

import os
import socket
import uuid

from console.state import Lease


def driver_identity() -> str:
    """Who drives: CI (with its run) or an operator (user@host)."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        run = os.environ.get("GITHUB_RUN_ID", "?")
        actor = os.environ.get("GITHUB_ACTOR", "?")
        return f"ci:github-actions run {run} ({actor})"
    if os.environ.get("CI"):
        return f"ci:{os.environ.get('USER', 'ci')}@{socket.gethostname()}"
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "operator"
    return f"operator:{user}@{socket.gethostname()}"


def my_lease(now: float, seconds: float) -> Lease:
    host = socket.gethostname()
    return Lease(
        holder=f"{driver_identity()} pid {os.getpid()}",
        host=host,
        pid=os.getpid(),
        expires=now + seconds,
        session=uuid.uuid4().hex[:8],
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
