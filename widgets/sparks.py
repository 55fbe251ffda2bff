"""Stable vs candidate side by side: current figures and sparklines of 5xx % and p95."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from widgets.format import ms, pct, rate, short_image, short_revision


@dataclass(frozen=True)
class SeriesView:
    role: str  # stable | candidate
    revision: str | None
    image: str | None = None  # in the title: the table drops its image column on small terminals
    traffic_percent: int = 0
    request_rate: float | None = None
    error_rate: float | None = None
    p95_ms: float | None = None
    errors: Sequence[float] = ()  # 5xx % per window, oldest first
    p95: Sequence[float] = ()  # ms per window
    fault: bool = False  # the border turns red (k9s pulses)


class RevisionSparks(Vertical):
    DEFAULT_CSS = """
    RevisionSparks { height: 8; width: 1fr; border: round $primary-darken-2; padding: 0 1; }
    RevisionSparks.fault { border: round $error; }
    RevisionSparks > Static { height: 1; }
    RevisionSparks > Sparkline { height: 2; margin-bottom: 0; }
    """

    def __init__(self, role: str, service: str = "", **kwargs):
        super().__init__(**kwargs)
        self.role = role
        self.service = service
        self.border_title = role

    def compose(self) -> ComposeResult:
        yield Static("", classes="figures")
        yield Static("5xx % per minute", classes="label")
        yield Sparkline([], classes="errors")
        yield Static("p95 per minute", classes="label")
        yield Sparkline([], classes="p95")

    def show(self, view: SeriesView) -> None:
        self.set_class(view.fault, "fault")
        name = short_revision(view.revision, self.service) if view.revision else "—"
        self.border_title = f"{view.role} {name}" + (f" · {short_image(view.image)}" if view.image else "")
        figures = Text(f"{view.traffic_percent} % · {rate(view.request_rate)} · 5xx {pct(view.error_rate)} · p95 {ms(view.p95_ms)}")
        if view.fault:
            figures = Text("✖ ", style="bold red") + figures
        self.query_one(".figures", Static).update(figures)
        errors = self.query_one(".errors", Sparkline)
        errors.data = list(view.errors)
        p95 = self.query_one(".p95", Sparkline)
        p95.data = list(view.p95)
        labels = list(self.query(".label").results(Static))
        peak_e = max(view.errors) if view.errors else None
        peak_p = max(view.p95) if view.p95 else None
        labels[0].update(Text(f"5xx % per minute (peak {peak_e:.2f} %)" if peak_e is not None else "5xx % per minute: no data", style="dim"))
        labels[1].update(Text(f"p95 per minute (peak {ms(peak_p)})" if peak_p is not None else "p95 per minute: no data", style="dim"))


class CompareSparks(Horizontal):
    DEFAULT_CSS = """
    CompareSparks { height: 8; }
    """

    def __init__(self, service: str = "", **kwargs):
        super().__init__(**kwargs)
        self.service = service

    def compose(self) -> ComposeResult:
        yield RevisionSparks("stable", self.service, id="spark-stable")
        yield RevisionSparks("candidate", self.service, id="spark-candidate")

    def show(self, stable: SeriesView, candidate: SeriesView) -> None:
        self.query_one("#spark-stable", RevisionSparks).show(stable)
        self.query_one("#spark-candidate", RevisionSparks).show(candidate)
