"""Cost: per revision per hour and per 1,000 requests, month to date and forecast against the budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from widgets.format import usd
from widgets.palette import ALARM, BAD, OK, WARN, WARN_STRONG


@dataclass(frozen=True)
class CostRow:
    label: str
    cost_per_hour: float | None
    cost_per_1k: float | None


@dataclass(frozen=True)
class CostView:
    rows: Sequence[CostRow] = ()
    candidate_per_1k: float | None = None
    stable_per_1k: float | None = None
    margin: float = 0.10  # candidate flagged when costlier per request by more than this
    service_month_to_date: float | None = None
    month_to_date: float | None = None  # the fleet
    forecast: float | None = None
    forecast_basis: str = ""  # what the forecast extrapolates (console.cost.Forecast.basis)
    budget: float | None = None
    marks: Sequence[int] = (50, 75, 90)
    budget_badge: str = ""  # console.cost.BudgetStatus.badge(): which alert the spend or forecast passed
    budget_level: str = "ok"  # ok | alert | over
    # (revision label, min instances, USD per hour they cost idle at instance-based prices)
    min_instances: Sequence[tuple[str, int, float]] = ()


def budget_bar(spent: float | None, forecast: float | None, budget: float | None, marks: Sequence[int], width: int = 40) -> Text:
    """█ spent, ▒ forecast, │ at each alert mark (50/75/90 %), against 100 % of the budget."""
    if budget is None or budget <= 0 or spent is None:
        return Text("·" * width, style="dim")
    cells_spent = min(width, round(width * spent / budget))
    cells_forecast = min(width, round(width * (forecast or spent) / budget))
    mark_cells = {min(width - 1, round(width * m / 100)) for m in marks}
    worst = (forecast or spent) / budget * 100
    style = BAD if worst >= max(marks, default=90) else WARN if worst >= min(marks, default=50) else OK
    out = Text()
    for i in range(width):
        if i in mark_cells:
            out.append("│", style="bold")
        elif i < cells_spent:
            out.append("█", style=style)
        elif i < cells_forecast:
            out.append("▒", style=style)
        else:
            out.append("░", style="dim")
    return out


class CostPanel(Static):
    DEFAULT_CSS = """
    CostPanel { height: auto; padding: 0 1; border: round $primary-darken-2; }
    CostPanel.costlier { border: round $warning; }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self.border_title = "cost"

    def show(self, view: CostView) -> None:
        table = Table.grid(padding=(0, 2))
        table.add_column()
        table.add_column(justify="right")
        table.add_column(justify="right")
        table.add_row(Text("revision", style="dim"), Text("per hour", style="dim"), Text("per 1k req", style="dim"))
        for row in view.rows:
            table.add_row(row.label, usd(row.cost_per_hour), usd(row.cost_per_1k))
        parts: list = [table]
        costlier = False
        if view.candidate_per_1k is not None and view.stable_per_1k:
            ratio = view.candidate_per_1k / view.stable_per_1k - 1
            costlier = ratio > view.margin
            if costlier:
                parts.append(Text(f"▲ candidate costs {ratio * 100:+.0f} % per request vs stable (margin {view.margin * 100:.0f} %)", style=WARN_STRONG))
            else:
                parts.append(Text(f"● candidate {ratio * 100:+.0f} % per request vs stable (within {view.margin * 100:.0f} %)", style=OK))
        self.set_class(costlier, "costlier")
        for label, count, per_hour in view.min_instances:
            parts.append(Text(f"min instances: {label} keeps {count} warm — {usd(per_hour)}/h idle "
                              f"({usd(per_hour * 730, 2)} a month) at instance-based prices", style="dim"))
        if view.service_month_to_date is not None:
            parts.append(Text(f"this service, month to date: {usd(view.service_month_to_date, 2)}"))
        if view.budget is not None:
            basis = f" ({view.forecast_basis})" if view.forecast_basis else ""
            line = Text(f"fleet month to date {usd(view.month_to_date, 2)} · forecast {usd(view.forecast, 2)}{basis} of {usd(view.budget, 2)} ")
            parts.append(line)
            bar = budget_bar(view.month_to_date, view.forecast, view.budget, view.marks)
            if view.forecast is not None and view.budget:
                bar.append(f" {view.forecast / view.budget * 100:.0f} %")
            parts.append(bar)
            marks = Text("marks at " + " / ".join(f"{m} %" for m in view.marks), style="dim")
            if view.budget_badge:
                marks.append(" · ")
                marks.append(view.budget_badge, style={"over": ALARM, "alert": WARN}.get(view.budget_level, OK))
            parts.append(marks)
        self.update(Group(*parts))
