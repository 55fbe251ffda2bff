"""What a rollout leaves behind for CI: the JSON report and the GitHub step summary."""

from __future__ import annotations

from typing import Any

from console.engine import Outcome
from console.status import iso


def report_json(outcome: Outcome, env: str, service: str, driver: str) -> dict[str, Any]:
    return {
        "service": service,
        "env": env,
        "candidate": outcome.candidate,
        "stable": outcome.stable,
        "outcome": outcome.outcome,
        "exit_code": outcome.exit_code,
        "message": outcome.message,
        "driver": driver,
        "traffic": outcome.traffic,
        "smoke": [
            {"name": r.name, "ok": r.ok, "status": r.status, "latency_ms": r.latency_ms, "error": r.error}
            for r in outcome.smoke
        ],
        "steps": [
            {
                "percent": step.percent,
                "started": iso(step.started),
                "ended": iso(step.ended) if step.ended else None,
                "verdict": step.verdict,
                "metrics": step.metrics,
                "reasons": step.reasons,
                "source": step.source,
            }
            for step in outcome.steps
        ],
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f} %"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _side(step_metrics: dict, side: str, key: str) -> float | None:
    value = step_metrics.get(side, {}).get(key) if step_metrics else None
    return value if isinstance(value, (int, float)) else None


def markdown_summary(outcome: Outcome, env: str, service: str) -> str:
    icon = {"promoted": "✅", "rolled_back": "↩️", "noop": "➖"}.get(outcome.outcome, "⚠️")
    lines = [
        f"### {icon} vinconsole: {env}/{service} — {outcome.outcome.replace('_', ' ')}",
        "",
        outcome.message,
        "",
    ]
    if outcome.smoke:
        lines += ["| smoke check | result | status | latency |", "|---|---|---|---|"]
        for r in outcome.smoke:
            lines.append(
                f"| {r.name} | {'✓ ok' if r.ok else '✗ ' + (r.error or 'failed')} | {r.status or '—'} | {_ms(r.latency_ms)} |"
            )
        lines.append("")
    if outcome.steps:
        lines += [
            "| step | verdict | requests (cand.) | 5xx cand. | 5xx stable | p95 cand. | p95 stable | reasons |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for step in outcome.steps:
            m = step.metrics or {}
            requests = _side(m, "candidate", "requests")
            lines.append(
                f"| {step.percent} % | {step.verdict or '—'} | {'—' if requests is None else f'{requests:,.0f}'} "
                f"| {_pct(_side(m, 'candidate', 'error_rate'))} | {_pct(_side(m, 'stable', 'error_rate'))} "
                f"| {_ms(_side(m, 'candidate', 'p95_ms'))} | {_ms(_side(m, 'stable', 'p95_ms'))} "
                f"| {'<br>'.join(r.replace('|', '/') for r in step.reasons[:4])} |"
            )
        lines.append("")
        lines += _mermaid(outcome)
    return "\n".join(lines) + "\n"


def chart_number(value: float) -> str:
    """3 significant digits as a plain decimal: Mermaid's xychart grammar reads `1440` and `0.52`,
    and fails the whole chart on `1.44e+03`."""
    return f"{float(f'{value:.3g}'):.6f}".rstrip("0").rstrip(".") or "0"


def _mermaid(outcome: Outcome) -> list[str]:
    """Two xy-charts (5xx % and p95 per step, stable vs candidate) that GitHub renders."""
    steps = [s for s in outcome.steps if s.metrics.get("candidate")]
    if not steps:
        return []
    labels = ", ".join(f'"{s.percent} %"' for s in steps)
    out: list[str] = []
    for title, key, scale, unit in (("5xx rate", "error_rate", 100, "%"), ("p95 latency", "p95_ms", 1, "ms")):
        cand = [(_side(s.metrics, "candidate", key) or 0) * scale for s in steps]
        stab = [(_side(s.metrics, "stable", key) or 0) * scale for s in steps]
        top = max(cand + stab + [0.001]) * 1.2
        out += [
            "```mermaid",
            "xychart-beta",
            f'    title "{title} per step — bars: stable, line: candidate"',
            f"    x-axis [{labels}]",
            f'    y-axis "{unit}" 0 --> {chart_number(top)}',
            f"    bar [{', '.join(chart_number(v) for v in stab)}]",
            f"    line [{', '.join(chart_number(v) for v in cand)}]",
            "```",
            "",
        ]
    return out
