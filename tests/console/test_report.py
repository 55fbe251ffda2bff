"""The GitHub step summary's charts parse: Mermaid's xychart takes plain decimals only."""

from __future__ import annotations

import re

from console.report import chart_number

#: NUMBER_WITH_DECIMAL in mermaid's xychart.jison
MERMAID_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)")


def test_chart_numbers_are_plain_decimals_mermaid_accepts():
    for value, text in ((1443.2, "1440"), (0.5263, "0.526"), (1731.6, "1730"), (0.0, "0"), (12.0, "12"),
                        (0.000123456, "0.000123"), (250_000.0, "250000")):
        assert chart_number(value) == text
        assert MERMAID_NUMBER.fullmatch(chart_number(value))
