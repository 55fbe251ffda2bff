"""The judge's current verdict: decision, reasons with their numbers, evidence against its boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from console.units import ratio
from widgets.format import pct
from widgets.palette import ACTIVE_STRONG, ALARM, BAD, OK, OK_STRONG, WARN, WARN_STRONG

DECISION = {
    "pass": ("✔ PASS", OK_STRONG),
    "fail": ("✖ FAIL", ALARM),
    "inconclusive": ("? INCONCLUSIVE", WARN_STRONG),
    "continue": ("◆ JUDGING", ACTIVE_STRONG),
    None: ("· no verdict", "dim"),
}


@dataclass(frozen=True)
class MetricEvidenceView:
    label: str  # "5xx" | "slow"
    likelihood_ratio: float | None
    boundary: float | None  # roll back at or above this
    candidate_rate: float | None = None
    stable_rate: float | None = None
    psi_95: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class VerdictView:
    decision: str | None = None
    headline: str = ""
    reasons: tuple[str, ...] = ()
    evidence: tuple[MetricEvidenceView, ...] = ()
    source: str = ""  # "this console" or "CI: holder" — who is judging
    extra: tuple[str, ...] = field(default_factory=tuple)


def evidence_bar(lr: float | None, boundary: float | None, width: int = 24) -> Text:
    """The likelihood ratio on a log scale from 1 to the rollback boundary (│ marks the boundary)."""
    if lr is None or boundary is None or boundary <= 1:
        return Text("·" * width, style="dim")
    fill = 0.0 if lr <= 1 else min(1.0, math.log(lr) / math.log(boundary))
    cells = round(fill * width)
    style = BAD if fill >= 1 else WARN if fill >= 0.5 else OK
    return Text("█" * cells, style=style) + Text("░" * (width - cells), style="dim") + Text("│", style="bold")


def evidence_words(lr: float | None, boundary: float | None) -> str:
    """The evidence in plain words first, its notation after: "no regression: evidence LR 0.03 of
    the 20 needed"."""
    if lr is None or boundary is None:
        return "no evidence yet: nothing to compare"
    if lr >= boundary:
        verdict = "regression"
    elif boundary > 1 and lr > 1 and math.log(lr) >= 0.5 * math.log(boundary):
        verdict = "leaning towards a regression"
    else:
        verdict = "no regression so far"
    return f"{verdict}: evidence LR {ratio(lr)} of the {ratio(boundary)} needed to roll back"


class VerdictPanel(Static):
    DEFAULT_CSS = """
    VerdictPanel { height: auto; padding: 0 1; border: round $primary; }
    VerdictPanel.fail { border: round $error; }
    VerdictPanel.pass { border: round $success; }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self.border_title = "judge"
        self.view = VerdictView()

    def show(self, view: VerdictView) -> None:
        self.view = view
        self.set_class(view.decision == "fail", "fail")
        self.set_class(view.decision == "pass", "pass")
        label, style = DECISION.get(view.decision, DECISION[None])
        head = Text(label, style=style)
        if view.headline:
            head.append("  " + view.headline)
        if view.source:
            head.append(f"  — {view.source}", style="dim")
        parts: list = [head]
        for reason in view.reasons:
            parts.append(Text("• " + reason))
        for e in view.evidence:
            line = Text(f"{e.label:>4}: {evidence_words(e.likelihood_ratio, e.boundary)} ")
            line.append_text(evidence_bar(e.likelihood_ratio, e.boundary))
            if e.candidate_rate is not None or e.stable_rate is not None:
                line.append(f" · candidate {pct(e.candidate_rate)} vs stable {pct(e.stable_rate)}", style="dim")
            lo, hi = e.psi_95
            if lo is not None or hi is not None:
                line.append(f" · ψ 95 % {ratio(lo)}–{ratio(hi)}", style="dim")
            parts.append(line)
        for text in view.extra:
            parts.append(Text(text, style="dim"))
        self.update(Group(*parts))
