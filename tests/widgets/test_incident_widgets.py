"""The incident and history widgets' pure drawing: timeline columns and markers, alert/burn/DORA cells."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.history import Dora, DoraTargets
from widgets.dora import dora_table, judged
from widgets.incident_table import burn_text, errors_text, latency_text, level_text, now_text, since_text
from widgets.palette import BAD, OK
from widgets.timeline import LABEL, TimelineView, timeline_lines


@dataclass(frozen=True)
class Point:
    start: float
    end: float
    requests: int
    errors: int
    p95_ms: float | None = 100.0


@dataclass(frozen=True)
class Mark:
    at: float
    kind: str
    actor: str = "operator:alice@x"
    message: str = ""
    traffic: str = ""
    before: dict = field(default_factory=dict)


T0 = 1_800_000_000.0  # 08:00 UTC


def view(**kw) -> TimelineView:
    old = [Point(T0 + 60 * i, T0 + 60 * (i + 1), 1000, 4) for i in range(30)]
    new = [Point(T0 + 60 * i, T0 + 60 * (i + 1), 1000, 60, 900.0) for i in range(30, 60)]
    args = dict(span="1h", start=T0, end=T0 + 3600, period=60, revisions={"svc-old": old, "svc-new": new},
                markers=[Mark(T0 + 1800, "promote", traffic="old 100 % → new 100 %")], service="svc", since=T0 + 1800,
                error_limit=0.0144, latency_target_ms=800.0, roles={"svc-new": "◀ serving"})
    args.update(kw)
    return TimelineView(**args)


def test_bars_sit_on_a_shared_axis_with_the_release_marker_where_the_errors_begin():
    width = LABEL + 60  # one column per minute
    lines = timeline_lines(view(), width)
    assert all(len(line.plain) <= width for line in lines)
    old5xx = next(line for line in lines if line.plain.startswith("old"))
    new5xx = next(line for line in lines if line.plain.startswith("new"))
    chart_old, chart_new = old5xx.plain[LABEL:], new5xx.plain[LABEL:]
    assert chart_old[:30].strip() and not chart_old[31:].strip()  # old served the first half only
    assert set(chart_new[30:]) == {"█"} and set(chart_old[:30]) == {"▁"}  # scaled to the shared peak
    marker_row = next(line.plain for line in lines if line.plain.strip().startswith("markers"))
    assert marker_row[LABEL + 30] == "P"  # the promote, at 08:30, in the column where the errors start
    # the error tone above the paging rate
    styles = {str(span.style) for span in new5xx.spans}
    assert BAD in styles and OK not in styles
    # ... and not by colour alone: the row's "5xx" label says it
    assert new5xx.plain[LABEL - 4:LABEL] == "5xx!" and old5xx.plain[LABEL - 4:LABEL] == "5xx "
    assert "red bars, ! after the row's 5xx" in timeline_lines(view(), 160)[0].plain  # a wide terminal's header
    axis = next(line.plain for line in lines if "08:15" in line.plain)
    assert axis.index("08:30") == LABEL + 30 and axis.rstrip().endswith("UTC")
    legend = "\n".join(line.plain for line in lines)
    assert "P 08:30  promote" in legend and "operator:alice@x" in legend and "errors began" in legend
    # every chart row starts in the same column as the marker row and the axis
    p95_new = lines[lines.index(new5xx) + 1].plain
    assert p95_new[LABEL - 4:LABEL] == "p95 " and p95_new[LABEL:LABEL + 30].strip() == ""


def test_a_narrow_chart_aggregates_windows_and_lists_only_the_newest_markers():
    marks = [Mark(T0 + 60 * i, "verdict") for i in range(10)] + [Mark(T0 + 1800, "promote")]
    lines = timeline_lines(view(markers=marks, legend_lines=3), LABEL + 20)  # 3 minutes per column
    text = "\n".join(line.plain for line in lines)
    assert "… 10 more marker(s)" in text
    assert "promote" in text and "errors began" in text  # the traffic change and the errors outrank the verdicts
    assert all(len(line.plain) <= LABEL + 20 for line in lines)


def test_no_requests_says_so():
    text = "\n".join(line.plain for line in timeline_lines(view(revisions={}), 80))
    assert "no requests in this span" in text


def test_incident_cells_carry_a_symbol_not_only_a_colour():
    assert level_text("page").plain == "✖ page" and level_text("ticket").plain == "▲ ticket" and level_text("ok").plain == "● ok"
    assert burn_text(58.8).plain == "✖ 58.8×" and burn_text(7.0).plain == "▲ 7.0×" and burn_text(0.6).plain == "0.6×"
    assert burn_text(None).plain == "—"
    assert errors_text(0.0588, 0.004).plain.startswith("5.88 % ↑") and "(0.40 %)" in errors_text(0.0588, 0.004).plain
    assert "↑" not in errors_text(0.0045, 0.004).plain
    assert latency_text(1200.0, 1000.0).plain == "✖ 1200 ms / 1000 ms"
    assert since_text(T0, T0 + 1200).plain == "08:00 (20m ago)" and since_text(None, T0).plain == "—"


def test_5xx_now_says_its_source_and_age_and_trends_only_against_the_same_source():
    @dataclass
    class Row:
        error_rate: float = 0.06  # Monitoring's 5 minutes
        baseline_error_rate: float = 0.004

    assert now_text(Row(), None, None).plain == "6.00 % ↑ (0.40 %) 5 min"
    stream = now_text(Row(), (0.014, 12.0), 0.06)  # the request log's last minute, 12 s old; the rollback took
    assert stream.plain.startswith("1.40 %") and stream.plain.endswith("log 12s") and "↓" in stream.plain
    assert "↓" not in now_text(Row(), (0.014, 12.0), None).plain  # no earlier figure from the log: no trend


def test_dora_cells_are_met_or_not_met_beside_the_target():
    targets = DoraTargets()
    figures = Dora(10, 20, 3, 2, 2.5, 12.0, 0.15, 4.0)
    assert judged(12.0, False, "12.0 min").plain == "✖ 12.0 min"
    assert judged(None, None, "").plain == "? no data"
    import io

    from rich.console import Console

    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(dora_table(figures, {"production/svc": figures}, targets, "30d"))
    out = console.file.getvalue()
    assert "✖ 12.0 min" in out and "✖ 15.0% (3/20)" in out and "✔ 4.0 min (n=2)" in out and "2.5" in out
    assert "target < 10 min" in out and "target < 5%" in out and "target < 15 min" in out
