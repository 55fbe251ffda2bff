"""The request log feed against the in-process emulator (real google-cloud-logging client):
read-backs that deduplicate, a live tail shared by the services of a project, suppressed
entries turning a range unknown until read back, and the read quota."""

from __future__ import annotations

import time

from google.cloud.logging_v2.types import TailLogEntriesResponse

from console.clock import Clock
from console.requestlog_feed import LIST_CALLS_PER_MINUTE, ListBudget, RequestLogFeed, request_log_filter

PROJECT, REGION = "vinsight-prod", "us-central1"


def wait_until(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_read_back_counts_each_request_once_as_monitoring_does(emulator, clients_for, manual_clock):
    emu = emulator()
    start = (manual_clock.now() // 60 + 1) * 60
    manual_clock.advance(start - manual_clock.now() + 180)
    feed = RequestLogFeed(clients_for(emu), PROJECT, REGION, manual_clock, live=False)
    feed.watch("vinsight-backend", start)
    feed.pull()  # overlaps the first read-back: nothing counted twice
    svc = emu.fleet.find(PROJECT, REGION, "vinsight-backend")
    for revision in svc.revisions:
        logged = sum(1 for e in feed.log.entries("vinsight-backend", start, start + 120) if e.revision == revision)
        assert logged == sum(emu.traffic.revision_counts(svc, revision, start, start + 120).values())
    assert feed.log.duplicates > 0 and feed.log.unknown() == []
    assert feed.log.watermark() <= manual_clock.now() - 5


def test_a_read_back_ends_at_now_while_the_service_writes_faster_than_it_is_read(emulator, clients_for, manual_clock,
                                                                              monkeypatch):
    """A busy service (or a fast clock) writes a page's worth of entries while one page is read: a read
    back with an open end chased the newest entries page after page and never finished."""
    emu = emulator()
    clients = clients_for(emu)
    manual_clock.advance(600)
    client, list_entries, calls = clients.logging, clients.logging.list_log_entries, []

    def slow_list(*args, **kwargs):
        calls.append(1)
        if len(calls) > 40:
            raise RuntimeError("still reading after 40 pages")
        response = list_entries(*args, **kwargs)
        manual_clock.advance(120)  # two minutes of traffic go by while each page is read
        return response

    monkeypatch.setattr(client, "list_log_entries", slow_list)
    feed = RequestLogFeed(clients, PROJECT, REGION, manual_clock, live=False)
    start = manual_clock.now() - 300
    assert feed.backfill(["vinsight-backend"], start), feed.error
    assert 1 < len(calls) <= 40 and feed.log.entries("vinsight-backend", start, manual_clock.now())


def test_one_live_tail_follows_every_watched_service(emulator, clients_for):
    clock = Clock(5.0, time.time())  # ×5: the 30 s bound below is 6 real seconds of delivery on a busy machine
    emu = emulator(clock=clock)
    feed = RequestLogFeed(clients_for(emu), PROJECT, REGION, clock)
    try:
        since = clock.now() - 20
        feed.watch("vinsight-backend", since)
        assert wait_until(lambda: feed.tail_opened is not None and not feed.log.unknown())
        seen_from = clock.now()
        feed.watch("vinsight-frontend", since)  # the same tail, reopened with both services
        assert feed.log.unknown("vinsight-frontend")  # being read back
        # ... while the backend, which a rollout may be judged on, stays known through the reopening
        backend_unknown = []
        assert wait_until(lambda: backend_unknown.extend(feed.log.unknown("vinsight-backend")) or (
            (feed.log.last_received("vinsight-frontend") or 0) > seen_from + 10
            and (feed.log.last_received("vinsight-backend") or 0) > seen_from + 10))
        assert backend_unknown == []
        assert wait_until(lambda: not feed.log.unknown())
        assert feed.reconnects == 0 and feed.error is None
        watermark = feed.log.watermark()
        assert watermark is not None and clock.now() - watermark < 30  # seconds behind, not minutes
    finally:
        feed.stop()


def test_suppressed_entries_make_a_range_unknown_until_read_back(emulator, clients_for, manual_clock):
    emu = emulator()
    manual_clock.advance(120)
    feed = RequestLogFeed(clients_for(emu), PROJECT, REGION, manual_clock, live=False)
    feed.watch("vinsight-backend", manual_clock.now() - 60)
    budget, feed.budget = feed.budget, ListBudget(manual_clock.now, per_minute=0)  # the read quota is spent
    raw = TailLogEntriesResponse.pb(TailLogEntriesResponse())
    raw.suppression_info.add(reason=1, suppressed_count=1500)
    feed._suppressed(["vinsight-backend"], raw)
    assert feed.suppressed == 1500
    assert wait_until(lambda: feed.error is not None and "ListLogEntries calls in the last minute" in feed.error)
    reasons = {u.reason for u in feed.log.unknown()}
    assert "the tail suppressed 1,500 entries" in reasons
    buckets, unknown = feed.log.step_buckets("vinsight-backend", "a", "b", manual_clock.now() - 60, None)
    assert unknown  # never a bucket of zeros
    feed.budget = budget
    feed.pull()
    assert feed.log.unknown() == []  # the read-back filled it


def test_the_read_quota_is_shared_not_spent():
    now = [0.0]
    budget = ListBudget(lambda: now[0])
    assert all(budget.take() for _ in range(LIST_CALLS_PER_MINUTE))
    assert not budget.take()
    now[0] += 60
    assert budget.take()


def test_the_filter_names_the_request_log_and_every_service():
    text = request_log_filter("p", "r", ["b", "a"])
    assert 'logName = "projects/p/logs/run.googleapis.com%2Frequests"' in text
    assert '(resource.labels.service_name = "a" OR resource.labels.service_name = "b")' in text
