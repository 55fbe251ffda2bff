"""Who is driving: the identity written into leases and audit entries."""

from __future__ import annotations

import os
import socket
import threading
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


_driving_sessions: set[str] = set()  # this process's engines between taking a lease and ending
_driving_lock = threading.Lock()


def mark_driving(session: str, driving: bool) -> None:
    """Record whether this process's engine `session` is driving: a lease it left behind (fenced out
    by someone else's change, nothing it may write) then frees at once for this process's next engine."""
    with _driving_lock:
        (_driving_sessions.add if driving else _driving_sessions.discard)(session)


def holder_runs(lease: Lease) -> bool:
    """Whether the driver holding `lease` still runs, as far as this host can tell: a session of this
    process is known exactly; another process on this host by its pid; elsewhere, assumed so."""
    if lease.host != socket.gethostname():
        return True
    if lease.pid == os.getpid():
        with _driving_lock:
            return lease.session in _driving_sessions
    return pid_alive(lease.pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
