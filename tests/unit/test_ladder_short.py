"""A short strategy's ladder as `validate` shows it (commands.ladder_view): the reference/bots.md
§2.4 example mirrored — adds above the entry at 100, take profit below the average."""

from __future__ import annotations

import itertools

from backfuture_daemon.commands import ladder_view
from backfuture_daemon.commands.ladder_view import strategy_ladder
from tests.unit.test_ladder_output import REFERENCE_ROWS, reference


def test_a_short_ladder_puts_its_adds_above_the_entry() -> None:
    s = reference(market="futures", side="short", leverage=2)
    doc = ladder_view.as_json(strategy_ladder(s))
    rows = doc["ladder"]
    assert [r["deviation_pct"] for r in rows] == [r["deviation_pct"] for r in REFERENCE_ROWS]
    assert [r["price"] for r in rows] == [100.0, 101.5, 103.3, 105.46, 108.05, 111.16]
    assert [r["size_quote"] for r in rows] == [r["size_quote"] for r in REFERENCE_ROWS]
    assert all(r["take_profit_price"] < r["average_price"] for r in rows)
    assert rows[0]["take_profit_price"] == 98.8
    assert all(a["average_price"] < b["average_price"] for a, b in itertools.pairwise(rows))
    assert doc["ladder_total"]["group_quote"] == 141.88
    assert doc["ladder_warnings"] == []
    lines = ladder_view.render(strategy_ladder(s), indent="")
    assert lines[0] == "ladder for an entry at 100 (short: adds above the entry) (sizes in USDT):"
    assert "111.16" in lines[7]


def test_a_short_ladder_warns_when_the_stop_fires_before_an_add_above_the_entry() -> None:
    s = reference(market="futures", side="short", leverage=2, stop_loss_pct=5)
    (warning,) = strategy_ladder(s).warnings
    assert "% above entry) can fill" in warning


def test_a_long_ladder_is_unchanged() -> None:
    assert ladder_view.as_json(strategy_ladder(reference()))["ladder"] == REFERENCE_ROWS
