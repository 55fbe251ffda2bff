"""Cloud Run's system log (`run.googleapis.com/varlog/system`) generated from a revision tick.

What Cloud Run itself writes about a revision's containers, with the texts it uses:

- a container start (scale-out, cold start, restart): "Starting new instance. Reason: AUTOSCALING - …"
  (INFO), then "Default STARTUP TCP probe succeeded after 1 attempt for container … on port 8080." (INFO);
- an out-of-memory kill: "Memory limit of 512 MiB exceeded with 527 MiB used. Consider increasing
  the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits" (ERROR), then
  "Container terminated on signal 9." (WARNING);
- a crash of a crash-looping revision: "Container called exit(1)." (ERROR).

Deterministic per tick (its own seed), so a list and a tail see the same entries.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # pragma: no cover
    from console.emulator.fleet import SimService
    from console.emulator.traffic import RevisionTick

SYSTEM_LOG_ID = "run.googleapis.com/varlog/system"
_SYSTEM_ENC = quote(SYSTEM_LOG_ID, safe="")
INFO, WARNING, ERROR = 200, 400, 500

STARTING = ("Starting new instance. Reason: AUTOSCALING - Instance started due to configured scaling factors "
            "(e.g. CPU utilization, request throughput, etc.) or no existing capacity for current traffic.")
PROBE = 'Default STARTUP TCP probe succeeded after 1 attempt for container "{container}" on port 8080.'
MEMORY = ("Memory limit of {limit} MiB exceeded with {used} MiB used. Consider increasing the memory limit, "
          "see https://cloud.google.com/run/docs/configuring/memory-limits")
SIGKILL = "Container terminated on signal 9."
EXIT = "Container called exit(1)."


def system_records(svc: SimService, revision: str, rt: RevisionTick, seed: int) -> list[dict[str, Any]]:
    """The system log records of one revision tick (filterable dicts, as logging_api generates them)."""
    starts = rt.startup.count if rt.startup is not None else 0
    if not (starts or rt.oom_kills or rt.crashes):
        return []
    rng = random.Random(f"system/{seed}/{svc.project}/{svc.region}/{svc.name}/{revision}/{int(rt.start)}/{int(rt.end)}")
    rev = svc.revisions.get(revision)
    limit_mib = round((rev.memory_gib if rev is not None else svc.memory_gib) * 1024)
    container = f"{svc.name}-1"
    span = rt.end - rt.start
    out: list[dict[str, Any]] = []

    def add(at: float, severity: int, text: str, instance: str) -> None:
        at = min(max(at, rt.start + 1e-3), rt.end - 1e-3)
        ident = hashlib.sha1(f"{revision}/{at!r}/{text[:24]}/{len(out)}".encode()).hexdigest()[:16]
        out.append({
            "logName": f"projects/{svc.project}/logs/{_SYSTEM_ENC}",
            "resource": {"type": "cloud_run_revision", "labels": {
                "project_id": svc.project, "location": svc.region, "service_name": svc.name,
                "revision_name": revision, "configuration_name": svc.name}},
            "timestamp": at,
            "receiveTimestamp": at + 0.5 + rng.random(),
            "severity": severity,
            "insertId": ident,
            "textPayload": text,
            "labels": {"instanceId": instance},
        })

    restarts = list(rt.oom_kills)
    for killed_at in rt.oom_kills:
        instance = _instance(rng)
        used = limit_mib + rng.randint(2, max(3, limit_mib // 20))
        add(killed_at, ERROR, MEMORY.format(limit=limit_mib, used=used), instance)
        add(killed_at + 0.05, WARNING, SIGKILL, instance)
    for _ in range(rt.crashes):
        at = rt.start + span * rng.random()
        add(at, ERROR, EXIT, _instance(rng))
        restarts.append(at + 0.2)
    others = max(0, starts - len(restarts))
    for at in restarts[: starts] + [rt.start + span * rng.random() for _ in range(others)]:
        instance = _instance(rng)
        add(at + 0.3, INFO, STARTING, instance)
        add(at + 1.2, INFO, PROBE.format(container=container), instance)
    out.sort(key=lambda record: (record["timestamp"], record["insertId"]))
    return out


def _instance(rng: random.Random) -> str:
    return "00" + f"{rng.getrandbits(256):064x}"[:62]
