"""The incident view on an out-of-memory release (issue 14): after a bad promotion the service whose
revision is being OOM-killed ranks first, pages, and names the kills with Cloud Run's log line."""

from __future__ import annotations

from console.emulator.fleet import REVISION, TrafficEntry
from console.incident import ContainerTrouble, IncidentReader, container_trouble
from console.saturation import ContainerEvent, ContainerEventKind

PROD = ("vinsight-prod", "us-central1")
OOM_LINE = ("Memory limit of 512 MiB exceeded with 531 MiB used. Consider increasing the memory limit, "
            "see https://cloud.google.com/run/docs/configuring/memory-limits")


def test_an_oom_killed_release_ranks_first_with_the_kills_named(repo_config, emulator, clients_for, manual_clock):
    emu = emulator(scenario="oom")
    svc = emu.fleet.find(*PROD, "vinsight-backend")
    candidate = list(svc.revisions)[-1]
    with emu.fleet.lock:  # the bad promotion: the leaking candidate serves everyone
        svc.record_served([TrafficEntry(REVISION, candidate, 100)], manual_clock.now())
    manual_clock.advance(15 * 60)
    reader = IncidentReader(repo_config, clients_for(emu), manual_clock)
    rows = reader.overview(repo_config.targets())
    first = rows[0]
    assert first.key == "production/vinsight-backend"
    assert first.level == "page"
    assert first.containers.revision == candidate and first.containers.oom_kills >= 4
    assert first.reason.startswith(f"out-of-memory kills: {candidate} killed ")
    assert '"Memory limit of 512 MiB exceeded with ' in first.reason and "Consider increasing" not in first.reason
    assert first.to_json()["oom_kills"] == first.containers.oom_kills
    assert all(r.containers is None for r in rows[1:])  # the other candidates serve nothing
    # the detail's error groups carry Cloud Run's own lines beside the app's
    detail = reader.detail(repo_config.targets("production", "vinsight-backend")[0], "1h", first)
    assert any("Memory limit of 512 MiB exceeded" in g.example.text for g in detail.errors)
    kills = [m for m in detail.timeline.markers if m.kind == "oom"]
    assert len(kills) >= 4 and all(m.revision == candidate and m.actor == "Cloud Run" for m in kills)
    assert kills[0].message == f"{candidate}: Memory limit of 512 MiB exceeded with {kills[0].message.split('with ')[1]}"


def test_only_a_serving_revision_makes_trouble():
    def event(revision: str, kind: ContainerEventKind, line: str) -> ContainerEvent:
        return ContainerEvent(10.0, "api", revision, kind, line)

    events = [event("api-2", ContainerEventKind.OOM_KILL, OOM_LINE), event("api-2", ContainerEventKind.OOM_KILL, OOM_LINE),
              event("api-3", ContainerEventKind.CRASH, "Container called exit(1).")]
    assert container_trouble(events, "api", {"api-1": 100}) is None  # e.g. a candidate behind its tag only
    trouble = container_trouble(events, "api", {"api-2": 90, "api-3": 10})
    assert trouble == ContainerTrouble("api-2", 2, 0, ("Memory limit of 512 MiB exceeded with 531 MiB used.",), 10.0)
    assert container_trouble(events, "web", {"api-2": 100}) is None
