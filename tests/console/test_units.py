"""One formatter per quantity: the CLI tables and the screens write each number the same way."""

from __future__ import annotations

from console import units


def test_each_quantity_has_one_spelling():
    assert units.pct(0.0042) == "0.42 %" and units.pct(None) == "—"
    assert units.ms(471.2) == "471 ms" and units.ms(12_345) == "12.3 s"
    assert units.rate(38.24) == "38.2/s" and units.rate(412.0) == "412/s"
    assert units.usd(3.7) == "$3.70" and units.usd(0.09531) == "$0.0953" and units.usd(0.000821) == "$0.000821"
    assert units.age(42) == "42s" and units.age(7 * 60 + 59) == "7m" and units.age(3 * 86400 + 5) == "3d"
    assert units.mmss(245.9) == "4:05" and units.minutes(9.54) == "9.5 min"
    assert units.ratio(0.031) == "0.03" and units.ratio(1250.0) == "1,250" and units.ratio(2.1e7) == "2.1e+07"
    assert units.iso(1_796_117_880) == "2026-12-01T09:38:00Z" and units.iso(None) is None
    assert units.utc_time(1_796_117_885) == "09:38" and units.utc_time(1_796_117_885, seconds=True) == "09:38:05"


def test_the_cli_and_the_screens_share_them():
    import console.history
    import console.status
    import console.tables
    import widgets.format

    assert widgets.format.pct is units.pct and widgets.format.ms is units.ms and widgets.format.age is units.age
    assert console.tables.ms is units.ms and console.tables.rate is units.rate
    assert console.status.iso is units.iso and console.history.iso is units.iso
