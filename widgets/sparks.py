"""Stable vs candidate side by side: current figures and sparklines of 5xx % and p95, and a row of
small ones for CPU, memory and cold starts (the plan watches saturation beside RED)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from widgets.format import ms, pct, rate, short_image, short_revision, window_age
from widgets.palette import ALARM

SATURATION = ("cpu", "mem", "cold")  # the small sparklines' row, in order
MIN_WINDOWS_TO_DRAW = 2  # one window is a single value: a sparkline would draw it as a solid block


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
    cpu: Sequence[float] = ()  # CPU p95 per window, fraction of the limit
    memory: Sequence[float] = ()  # memory p95 per window, fraction of the limit
    cold: Sequence[float] = ()  # container starts ÷ requests per window
    saturation_missing: str | None = None  # why there are no saturation figures (a failed read)
    fault: bool = False  # the border turns red (k9s pulses)
    window_end: float | None = None  # the figures are over complete windows ending here (Monitoring lags)
    now: float | None = None
    per: str = "minute"  # what one point of the 5xx and p95 lines covers
    source: str = ""  # "request log" when the RED figures and lines come from it (seconds behind)


class RevisionSparks(Vertical):
    DEFAULT_CSS = """
    RevisionSparks { height: 9; width: 1fr; border: round $primary-darken-2; padding: 0 1; }
    RevisionSparks.fault { border: round $error; }
    RevisionSparks > Static { height: 1; }
    RevisionSparks > Sparkline { height: 2; margin-bottom: 0; }
    RevisionSparks > Sparkline.p95 { height: 1; }
    RevisionSparks > .saturation { height: 1; }
    RevisionSparks > .saturation > Static { width: auto; height: 1; margin-right: 1; }
    RevisionSparks > .saturation > Sparkline { width: 1fr; height: 1; margin-right: 2; }
    """

    def __init__(self, role: str, service: str = "", **kwargs):
        super().__init__(**kwargs)
        self.role = role
        self.service = service
        self.border_title = role

    def compose(self) -> ComposeResult:
        yield Static("", classes="figures")
        yield Static("5xx %", classes="label")
        yield Sparkline([], classes="errors")
        yield Static("p95", classes="label")
        yield Sparkline([], classes="p95")
        with Horizontal(classes="saturation"):
            for name in SATURATION:
                yield Static(name, classes=f"{name}-label")
                yield Sparkline([], classes=name)

    def show(self, view: SeriesView) -> None:
        self.set_class(view.fault, "fault")
        name = short_revision(view.revision, self.service) if view.revision else "—"
        self.border_title = f"{view.role} {name}" + (f" · {short_image(view.image)}" if view.image else "")
        figures = Text(f"{view.traffic_percent} % · {rate(view.request_rate)} · 5xx {pct(view.error_rate)} · p95 {ms(view.p95_ms)}")
        if view.fault:
            figures = Text("✖ ", style=ALARM) + figures
        self.query_one(".figures", Static).update(figures)
        self.border_subtitle = window_age(view.window_end, view.now, view.source)
        labels = list(self.query(".label").results(Static))
        for spark, label, values, name, unit in (
            (self.query_one(".errors", Sparkline), labels[0], list(view.errors), f"5xx % per {view.per}", lambda v: f"{v:.2f} %"),
            (self.query_one(".p95", Sparkline), labels[1], list(view.p95), f"p95 per {view.per}", ms),
        ):
            spark.data = values if len(values) >= MIN_WINDOWS_TO_DRAW else []
            if not values:
                text = f"{name}: no data"
            elif len(values) < MIN_WINDOWS_TO_DRAW:
                text = f"{name}: first window {unit(values[0])}, the line starts at the second"
            else:
                text = f"{name} (peak {unit(max(values))})"
            label.update(Text(text, style="dim"))
        saturation: tuple[tuple[str, Sequence[float], int], ...] = (
            ("cpu", view.cpu, 0), ("mem", view.memory, 0), ("cold", view.cold, 1))
        for name, per_window, decimals in saturation:
            self.query_one(f".{name}", Sparkline).data = list(per_window) if len(per_window) >= MIN_WINDOWS_TO_DRAW else []
            latest = pct(per_window[-1], decimals) if per_window else ("?" if view.saturation_missing else "—")
            self.query_one(f".{name}-label", Static).update(Text(f"{name} {latest}", style="dim"))
        self.query_one(".saturation").tooltip = (
            f"no CPU, memory or container-start figures: {view.saturation_missing}" if view.saturation_missing else
            "per minute: CPU and memory p95 (of the limits), cold starts (container starts ÷ requests)"
        )


class CompareSparks(Horizontal):
    DEFAULT_CSS = """
    CompareSparks { height: 9; }
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
