"""Error signatures and grouping (pure)."""

import pytest

from console.emulator.fleet import INCIDENT_ERRORS, STABLE_ERRORS
from console.gcp.logs import LogEntry
from console.signatures import group_errors, headline, normalize, signature


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("upstream timed out after 30s: GET http://10.0.3.7:8080/users/48213",
         "upstream timed out after <n>s: GET http://<ip>/users/<n>"),
        ("connect to db-primary.internal:5432 failed", "connect to db-primary.internal:<port> failed"),
        ("request 3f2b9c1e-8a4d-4f7e-9b1a-2c3d4e5f6a7b failed", "request <uuid> failed"),
        ("object at 0x7f3a9c2b1d40 is not callable", "object at <hex> is not callable"),
        ("trace 4bf92f3577b34da6a3ce929d0e0e4736 dropped", "trace <hex> dropped"),
        ("KeyError: 'currency'", "KeyError: '<*>'"),
        ('column "price" of relation "quotes" does not exist', 'column "<*>" of relation "<*>" does not exist'),
        ("at 2026-03-01T12:00:00.123Z the job failed", "at <ts> the job failed"),
        ("deadline 12:04:55 passed", "deadline <ts> passed"),
        ("GET /api/orders/a81f9c20d3e4f5a6b7c8/items failed", "GET /api/orders/<hex>/items failed"),
        ("GET /files/AbC123xYz987qq failed", "GET /files/<id> failed"),
        ("client fe80::1ff:fe23:4567:890a refused", "client <ip> refused"),
        ("python3.11 and v8 stay", "python3.11 and v8 stay"),
        ("retry 3 of 5 in 2.5 s", "retry <n> of <n> in <n> s"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_only_the_exception_line_of_a_stack_trace_counts():
    text = INCIDENT_ERRORS[1]
    assert headline(text) == "asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients already"
    # the same error from another line number and request path has the same signature
    other = text.replace("line 77", "line 78").replace("/api/portfolio", "/api/portfolio/42")
    assert signature(other) == signature(text)
    assert headline("just one line\nmore") == "just one line"
    # a multi-line exception message: its first line
    assert headline(INCIDENT_ERRORS[0]) == "pydantic.ValidationError: 1 validation error for Quote"
    assert signature(INCIDENT_ERRORS[0]) == "pydantic.ValidationError: <n> validation error for Quote"


def entry(t, text, revision="rev-a"):
    return LogEntry(timestamp=t, severity="ERROR", log_name="projects/p/logs/run.googleapis.com%2Fstderr", text=text,
                    resource_labels={"revision_name": revision})


def test_group_errors_counts_first_last_revisions_and_keeps_a_whole_example():
    timeout = STABLE_ERRORS[0]
    key_error = "Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in f\n    d[k]\nKeyError: 'user_{}'"
    entries = [
        entry(100, timeout, "rev-old"),
        entry(160, key_error.format(1), "rev-new"),
        entry(170, key_error.format(2), "rev-new"),
        entry(180, timeout.replace("30s", "10s"), "rev-new"),
        entry(190, key_error.format(3), "rev-new"),
        entry(200, "HTTP 503 from 10.1.2.3:443"),
        entry(210, "HTTP 503 from 10.9.8.7:443"),
    ]
    groups = group_errors(entries)
    assert [(g.signature, g.count) for g in groups] == [
        ("KeyError: '<*>'", 3),
        ('HTTP <n> from <ip>', 2),
        ("httpx.ReadTimeout: timed out", 2),
    ]
    key_group = groups[0]
    assert (key_group.first_seen, key_group.last_seen) == (160, 190)
    assert key_group.revisions == {"rev-new": 3}
    assert key_group.example.text == key_error.format(3) and "Traceback" in key_group.example.text
    assert key_group.message == "KeyError: 'user_3'"
    assert groups[2].revisions == {"rev-old": 1, "rev-new": 1}
    assert group_errors([]) == []


def test_the_incident_messages_are_three_distinct_groups():
    entries = [entry(i, INCIDENT_ERRORS[i % 3]) for i in range(30)]
    groups = group_errors(entries)
    assert len(groups) == 3 and all(g.count == 10 for g in groups)


def _line(text: str, at: float, n: int, instance: str = "i-1", severity: str = "DEFAULT"):
    from console.gcp.logs import LogEntry

    return LogEntry(timestamp=at, severity=severity, log_name="projects/p/logs/run.googleapis.com%2Fstderr", text=text,
                    labels={"instanceId": instance}, resource_labels={"revision_name": "svc-00002-abc"},
                    insert_id=f"{n:04d}")


PLAIN_TRACE = [
    "Traceback (most recent call last):",
    '  File "/app/vinsight/api.py", line 142, in stock',
    "    return render_quote(quote)",
    '  File "/app/vinsight/render.py", line 37, in render_quote',
    '    "currency": quote["currency"],',
    "KeyError: 'currency'",
]


def _plain_stderr(base: float, instance: str = "i-1", start: int = 0):
    return [_line(text, base + 0.001 * k, start + k, instance) for k, text in enumerate(PLAIN_TRACE)]


def test_plain_stderr_traces_split_across_entries_group_as_one_error_each():
    from console.signatures import group_errors

    entries = (
        _plain_stderr(100.0) + _plain_stderr(100.0005, instance="i-2", start=100)  # interleaved, two instances
        + _plain_stderr(160.0, start=200)
        + [_line("INFO:     127.0.0.1:5000 - GET /health 200", 161.0, 300),  # an ordinary stderr line: not an error
           _line("ERROR: cache miss storm on quotes", 162.0, 301)]
    )
    groups = group_errors(reversed(entries))  # newest first, as the incident view reads them
    assert [(g.signature, g.count) for g in groups] == [("KeyError: '<*>'", 3), ("ERROR: cache miss storm on quotes", 1)]
    example = groups[0].example.text
    assert example.startswith("Traceback (most recent call last):") and example.endswith("KeyError: 'currency'")
    assert example.count("\n") == len(PLAIN_TRACE) - 1


def test_a_trace_whose_last_line_never_came_is_closed_by_the_gap():
    from console.signatures import group_errors

    cut = _plain_stderr(100.0)[:3] + [_line("ValueError: bad", 200.0, 50)]
    assert sorted(g.signature for g in group_errors(cut)) == ["Traceback (most recent call last):", "ValueError: bad"]


def test_the_live_tail_stitches_lines_as_they_come():
    from console.signatures import TracebackStitcher

    stitcher = TracebackStitcher()
    out = []
    for entry in _plain_stderr(100.0):
        out += stitcher.feed(entry)
    assert len(out) == 1 and out[0].text.endswith("KeyError: 'currency'") and out[0].text.count("\n") == 5
    assert stitcher.feed(_line("INFO: started", 101.0, 9)) == []
    structured = _line("boom", 102.0, 10, severity="ERROR")
    assert stitcher.feed(structured) == [structured]
    assert stitcher.feed(_plain_stderr(103.0)[0]) == [] and stitcher.flush(103.5) == []
    assert [e.text for e in stitcher.flush(110.0)] == ["Traceback (most recent call last):"]
