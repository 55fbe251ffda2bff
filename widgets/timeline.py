"""5xx % and p95 per revision over time on one shared time axis, with a marker for every traffic
change and rollout event — so that a release that lines up with the errors is plain to see.

    timeline 1 h · 60 s windows · bars scaled to the peak over all revisions
    00063-tzo  5xx ▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁┊      ┊
               p95 ▄▄▄▄▅▄▄▄▄▄▄▄▄▄▄▄▄▄▄┊      ┊
    00064-rzr  5xx                  ▂┊▇█▇▇█▇┊██████
               p95                  ▄┊▄▄▄▄▄▄┊▄▄▄▄▄▄
         markers  C      S         T ✖      P
                  ┬──────────┬──────────┬──────────┬
                  07:00      07:15      07:30      07:45 UTC
    P 07:40  promote  operator:alice@laptop  00063 90 %, 00064 10 % → 00064 100 %

`timeline_lines(view, width)` is pure (tested on its own); the widget only measures and paints.
Every column covers (end − start) / width seconds; a column's bar aggregates the windows that
overlap it (5xx: errors ÷ requests; p95: the highest window's p95). A blank cell has no requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widget import Widget

from console.units import utc_time
from widgets.format import ms, short_revision
from widgets.palette import ACTIVE_STRONG, ALARM, BAD, CHANGE, CHANGE_STRONG, INFO, OK, WARN

BLOCKS = "▁▂▃▄▅▆▇█"
LABEL = 17  # "00064-rzr    5xx " (name or role, metric): every row's chart starts in this column
SPANS_TEXT = {"1h": "1 h", "6h": "6 h", "24h": "24 h"}

#: marker kind → (glyph, style, word). The glyph is what the marker row shows.
MARKERS = {
    "rollback": ("R", ACTIVE_STRONG, "rollback"),
    "promote": ("P", CHANGE_STRONG, "promote"),
    "traffic": ("T", CHANGE, "traffic"),
    "start": ("S", INFO, "rollout start"),
    "hold": ("H", WARN, "hold"),
    "verdict": ("V", INFO, "verdict"),
    "deploy": ("D", INFO, "deploy"),
    "smoke": ("K", WARN, "smoke failed"),
    "created": ("C", "dim", "created"),
    "serving": ("+", "dim", "began serving"),
    "stopped": ("-", "dim", "stopped serving"),
    "oom": ("M", ALARM, "OOM kill"),  # Cloud Run's system log (console/saturation.py)
    "crash": ("X", ALARM, "crash"),
}
#: when two markers share a column, the one earlier in this order wins
PRIORITY = ("rollback", "promote", "traffic", "start", "hold", "deploy", "smoke", "verdict", "created", "serving", "stopped",
            "oom", "crash")
ERRORS_GLYPH = ("✖", ALARM)
IMPORTANT = frozenset({"rollback", "promote", "traffic", "start", "hold", "deploy", "smoke"})
TICK_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720)


@dataclass(frozen=True)
class TimelineView:
    span: str  # 1h | 6h | 24h
    start: float
    end: float
    period: int
    revisions: Mapping[str, Sequence[Any]]  # revision → RevisionPoint-like (start, end, requests, errors, p95_ms), oldest first
    markers: Sequence[Any] = ()  # Marker-like (at, kind, actor, message, traffic)
    service: str = ""
    since: float | None = None  # when the errors began (drawn as ✖ on the marker row)
    error_limit: float | None = None  # 5xx fraction above which a bar is red (the page burn rate × budget)
    latency_target_ms: float | None = None  # p95 above this is yellow
    roles: Mapping[str, str] = field(default_factory=dict)  # revision → "◀ serves 100%", "◀ last good" (≤ 11 chars)
    max_revisions: int = 4
    legend_lines: int = 6


def _clock(at: float) -> str:
    return utc_time(at)


def _column(at: float, start: float, end: float, width: int) -> int | None:
    if not start <= at <= end or end <= start:
        return None
    return min(width - 1, int((at - start) / (end - start) * width))


def _cells(points: Sequence[Any], start: float, end: float, width: int) -> list[tuple[int, int, float | None] | None]:
    """Per column: (requests, errors, worst p95) of the windows that overlap it; None without requests."""
    out: list[tuple[int, int, float | None] | None] = [None] * width
    step = (end - start) / width
    for p in points:
        if not p.requests:
            continue
        first = max(0, int(math.floor((p.start - start) / step)))
        last = min(width - 1, int(math.ceil((p.end - start) / step)) - 1)
        for c in range(first, last + 1):
            lo, hi = start + c * step, start + (c + 1) * step
            if p.start >= hi or p.end <= lo:
                continue
            cell = out[c]
            n, b, worst = cell if cell is not None else (0, 0, None)
            if p.p95_ms is not None:
                worst = p.p95_ms if worst is None else max(worst, p.p95_ms)
            out[c] = (n + p.requests, b + p.errors, worst)
    return out


def _over_limit(cell: tuple[int, int, float | None] | None, limit: float | None) -> bool:
    """Whether a column's 5xx rate is over the paging rate."""
    return limit is not None and cell is not None and cell[1] / cell[0] > limit


def _bar(value: float, peak: float) -> str:
    if peak <= 0 or value <= 0:
        return BLOCKS[0]
    return BLOCKS[max(0, min(len(BLOCKS) - 1, math.ceil(value / peak * len(BLOCKS)) - 1))]


def _ticks(start: float, end: float, width: int) -> list[tuple[int, float]]:
    """Round clock times at least ~11 columns apart."""
    seconds = end - start
    for minutes in TICK_MINUTES:
        if seconds / (minutes * 60) * 11 <= width:
            break
    step = minutes * 60
    first = math.ceil(start / step) * step
    out: list[tuple[int, float]] = []
    t = first
    while t <= end:
        col = _column(t, start, end, width)
        if col is not None:
            out.append((col, t))
        t += step
    return out


def timeline_lines(view: TimelineView, width: int) -> list[Text]:
    chart = max(10, width - LABEL)
    lines: list[Text] = []
    names = list(view.revisions)
    # the newest revisions (by their first window) when there are more than fit
    names.sort(key=lambda r: view.revisions[r][0].start if view.revisions[r] else 0)
    hidden = names[: max(0, len(names) - view.max_revisions)]
    names = names[len(hidden):]
    cells = {r: _cells(view.revisions[r], view.start, view.end, chart) for r in names}
    rates = [b / n for r in names for cell in cells[r] if cell for n, b, _ in [cell] if n]
    p95s = [cell[2] for r in names for cell in cells[r] if cell and cell[2] is not None]
    peak_e = max(rates, default=0.0)
    peak_p = max(p95s, default=0.0)
    head = Text(f"timeline {SPANS_TEXT.get(view.span, view.span)} · {view.period // 60} min windows", style="bold")
    head.append(f" · bars scaled to the peak: 5xx {100 * peak_e:.2f} %, p95 {ms(peak_p if p95s else None)}", style="dim")
    if view.error_limit is not None:
        head.append(f" · 5xx over {100 * view.error_limit:.2f} % (paging rate): red bars, ! after the row's 5xx",
                    style="dim")
    lines.append(head)
    marks: dict[int, Any] = {}
    for m in view.markers:
        col = _column(m.at, view.start, view.end, chart)
        if col is None or m.kind not in MARKERS:
            continue
        held = marks.get(col)
        if held is None or PRIORITY.index(m.kind) < PRIORITY.index(held.kind):
            marks[col] = m
    since_col = _column(view.since, view.start, view.end, chart) if view.since is not None else None
    if not names:
        lines.append(Text(" " * LABEL + "no requests in this span", style="dim"))
    for rev in names:
        role = view.roles.get(rev, "")
        label = short_revision(rev, view.service)[: LABEL - 5]
        for row, metric in enumerate(("5xx", "p95")):
            if row == 0:
                text = Text(label.ljust(LABEL - 4), style="bold" if role.startswith("◀ serving") else "")
            else:
                text = Text(role[: LABEL - 5].ljust(LABEL - 4), style="bold" if role.startswith("◀ serving") else "dim")
            over = metric == "5xx" and any(_over_limit(cell, view.error_limit) for cell in cells[rev])
            text.append(metric, style="dim")
            text.append("!" if over else " ", style=BAD)  # not by colour alone
            for c, cell in enumerate(cells[rev]):
                if cell is None:
                    if c in marks or c == since_col:
                        text.append("┊", style="dim")
                    else:
                        text.append(" ")
                    continue
                n, b, worst = cell
                if metric == "5xx":
                    text.append(_bar(b / n, peak_e), style=BAD if _over_limit(cell, view.error_limit) else OK)
                else:
                    if worst is None:
                        text.append("·", style="dim")
                        continue
                    slow = view.latency_target_ms is not None and worst > view.latency_target_ms
                    text.append(_bar(worst, peak_p), style=WARN if slow else INFO)
            lines.append(text)
    if hidden:
        lines.append(Text(" " * LABEL + f"+ {len(hidden)} older revision(s) not drawn", style="dim"))
    # marker row: one glyph per column, ✖ where the errors began
    marker_row = Text("markers".rjust(LABEL - 1) + " ", style="dim")
    for c in range(chart):
        if c in marks:
            glyph, style, _ = MARKERS[marks[c].kind]
            if c == since_col and marks[c].kind not in ("promote", "traffic", "rollback"):
                glyph, style = ERRORS_GLYPH
            marker_row.append(glyph, style=style)
        elif c == since_col:
            marker_row.append(*ERRORS_GLYPH)
        else:
            marker_row.append(" ")
    lines.append(marker_row)
    # time axis
    ticks = _ticks(view.start, view.end, chart)
    axis = Text(" " * LABEL, style="dim")
    labels = Text(" " * LABEL, style="dim")
    tick_cols = {c for c, _ in ticks}
    axis.append("".join("┬" if c in tick_cols else "─" for c in range(chart)), style="dim")
    free = 0
    for col, t in ticks:
        if col < free or col + 5 > chart:  # overlapping or cut off at the right edge: the tick mark stays
            continue
        labels.append(" " * (col - free))
        stamp = _clock(t)
        labels.append(stamp)
        free = col + len(stamp)
    tail = " UTC"
    if free + len(tail) <= chart:
        labels.append(tail)
    lines += [axis, labels]
    # legend: the newest markers that change traffic or report on the rollout, and when the errors began
    legend = [m for m in view.markers if m.kind in MARKERS and view.start <= m.at <= view.end]
    entries: list[tuple[float, Text, bool]] = []  # (at, line, important)
    for m in legend:
        glyph, style, word = MARKERS[m.kind]
        line = Text(f"{glyph} ", style=style)
        line.append(f"{_clock(m.at)}  {word:<13} ", style=style)
        line.append(f"{m.actor or '—'}", style="bold" if m.kind in ("promote", "rollback", "traffic") else "")
        detail = getattr(m, "traffic", "") or m.message
        line.append(f"  {_shorten(detail, view.service)}", style="dim")
        entries.append((m.at, line, m.kind in IMPORTANT))
    if view.since is not None and view.start <= view.since <= view.end:
        line = Text(f"{ERRORS_GLYPH[0]} ", style=ERRORS_GLYPH[1])
        line.append(f"{_clock(view.since)}  errors began  (the first window over the alerting burn rate)", style=ERRORS_GLYPH[1])
        entries.append((view.since + 0.001, line, True))
    if len(entries) > view.legend_lines:
        # keep the newest traffic changes (and when the errors began) first, then the newest of the rest
        keep = max(1, view.legend_lines - 1)
        ranked = sorted(entries, key=lambda e: (e[2], e[0]), reverse=True)[:keep]
        lines.append(Text(f"… {len(entries) - keep} more marker(s) in this span not listed", style="dim"))
        entries = ranked
    entries.sort(key=lambda e: e[0])
    lines += [t for _, t, _ in entries]
    for line in lines:  # one terminal row each: a wrapped line would push the legend out of the widget
        line.no_wrap = True
        line.truncate(width, overflow="ellipsis")
    return lines


def _shorten(text: str, service: str) -> str:
    return text.replace(service + "-", "") if service else text


class TimelineChart(Widget):
    """`show(view)`; the widget's height follows what it draws."""

    DEFAULT_CSS = """
    TimelineChart { height: auto; min-height: 4; padding: 0 1; border: round $primary-darken-2; }
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.view: TimelineView | None = None
        self.message = "reading the timeline…"
        self.border_title = "timeline"

    def show(self, view: TimelineView | None, message: str = "") -> None:
        self.view = view
        self.message = message
        if view is not None:
            self.border_title = f"timeline {SPANS_TEXT.get(view.span, view.span)} — 1 / 6 / 2 switch span"
        self.refresh(layout=True)

    def _lines(self, width: int) -> list[Text]:
        if self.view is None:
            return [Text(self.message or "no service selected", style="dim")]
        lines = timeline_lines(self.view, max(30, width))
        if self.message:
            lines.insert(0, Text(self.message, style=WARN))
        return lines

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> Text:
        return Text("\n", no_wrap=True).join(self._lines(self.content_region.width or self.size.width or 120))
