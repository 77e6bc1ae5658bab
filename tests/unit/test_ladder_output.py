"""The ladder as `validate` and `plan` show it (commands.ladder_view), with exact numbers for the
reference/bots.md §2.4 example: P0 = 100, base 10, add 10, step 1.5 %, step scale 1.2, volume
scale 1.5, 5 adds, take profit 1.2 %, 2 groups, margin limit 500."""

from __future__ import annotations

from typing import Any

from backfuture_daemon.commands import ladder_view
from backfuture_daemon.commands.ladder_view import StrategyLadder, strategy_ladder
from backfuture_daemon.commands.plan import compare
from backfuture_daemon.commands.validate import _strategy_dict
from backfuture_daemon.configuration.models import Strategy
from tests.helpers.desired import conn, desired_state, strat


def reference(name: str = "Reference", **over: Any) -> Strategy:
    fields: dict[str, Any] = {
        "margin_limit": 500,
        "max_active_groups": 2,
        "base_order_quote": 10,
        "take_profit_pct": 1.2,
        "adding": {
            "max_adds": 5,
            "add_order_quote": 10,
            "step_pct": 1.5,
            "step_scale": 1.2,
            "volume_scale": 1.5,
        },
    }
    fields.update(over)
    return strat(name, **fields)


REFERENCE_ROWS = [
    {"step": 0, "deviation_pct": 0.0, "price": 100.0, "size_quote": 10.0,
     "cumulative_quote": 10.0, "average_price": 100.0, "take_profit_price": 101.2},
    {"step": 1, "deviation_pct": 1.5, "price": 98.5, "size_quote": 10.0,
     "cumulative_quote": 20.0, "average_price": 99.24, "take_profit_price": 100.44},
    {"step": 2, "deviation_pct": 3.3, "price": 96.7, "size_quote": 15.0,
     "cumulative_quote": 35.0, "average_price": 98.14, "take_profit_price": 99.32},
    {"step": 3, "deviation_pct": 5.46, "price": 94.54, "size_quote": 22.5,
     "cumulative_quote": 57.5, "average_price": 96.7, "take_profit_price": 97.86},
    {"step": 4, "deviation_pct": 8.05, "price": 91.95, "size_quote": 33.75,
     "cumulative_quote": 91.25, "average_price": 94.88, "take_profit_price": 96.02},
    {"step": 5, "deviation_pct": 11.16, "price": 88.84, "size_quote": 50.63,
     "cumulative_quote": 141.88, "average_price": 92.63, "take_profit_price": 93.75},
]  # fmt: skip

REFERENCE_TABLE = [
    "step  dev %   price   size  cumulative  average  take profit",
    "   0   0.00  100.00  10.00       10.00   100.00       101.20",
    "   1   1.50   98.50  10.00       20.00    99.24       100.44",
    "   2   3.30   96.70  15.00       35.00    98.14        99.32",
    "   3   5.46   94.54  22.50       57.50    96.70        97.86",
    "   4   8.05   91.95  33.75       91.25    94.88        96.02",
    "   5  11.16   88.84  50.63      141.88    92.63        93.75",
]


def test_the_reference_strategy_json_rows_are_exact() -> None:
    doc = ladder_view.as_json(strategy_ladder(reference()))
    assert doc["ladder"] == REFERENCE_ROWS
    assert [r["deviation_pct"] for r in doc["ladder"][1:]] == [1.5, 3.3, 5.46, 8.05, 11.16]
    assert doc["ladder_total"] == {
        "reference_price": 100,
        "max_active_groups": 2,
        "group_quote": 141.88,
        "total_quote": 283.75,
        "margin_limit": 500.0,
        "fits": True,
    }
    assert doc["ladder_warnings"] == []


def test_the_reference_strategy_text_is_the_table_and_the_total() -> None:
    lines = ladder_view.render(strategy_ladder(reference()), indent="")
    assert lines[0] == "ladder for an entry at 100 (sizes in USDT):"
    assert [line.removeprefix("  ") for line in lines[1:8]] == REFERENCE_TABLE
    assert lines[8] == "  2 group(s) × 141.88 = 283.75 USDT, within margin_limit 500.00 USDT"
    assert len(lines) == 9


def test_the_total_rounds_half_up_like_the_rows() -> None:
    # Decimal's own format rounds half-even (10.125 -> 10.12); the rows round half-up (10.13).
    one = strategy_ladder(
        reference(max_active_groups=1, base_order_quote=10.125, adding={"enabled": False})
    )
    assert "1 group(s) × 10.13 = 10.13 USDT, within margin_limit 500.00" in (
        ladder_view.total_line(one)
    )
    assert ladder_view.as_json(one)["ladder"][0]["size_quote"] == 10.13


def test_a_strategy_without_adds_is_one_row_and_names_its_quote() -> None:
    s = reference(
        pairs=("ETH/BTC",), margin_limit=1, base_order_quote=0.5, adding={"enabled": False}
    )
    sl = strategy_ladder(s)
    doc = ladder_view.as_json(sl)
    assert [r["step"] for r in doc["ladder"]] == [0]
    assert "sizes in BTC" in ladder_view.render(sl)[0]
    assert ladder_view.total_line(sl).endswith("within margin_limit 1.00 BTC")


def test_a_ladder_that_cannot_be_laid_out_says_so_instead_of_crashing() -> None:
    sl = StrategyLadder("Broken", "USDT", None, problem="DivisionByZero")
    assert ladder_view.render(sl, indent="  ", named=True) == [
        '  "Broken": no ladder: the sizing cannot be laid out (DivisionByZero)'
    ]
    assert ladder_view.as_json(sl) == {
        "ladder": [],
        "ladder_total": None,
        "ladder_warnings": ["DivisionByZero"],
    }


def test_many_strategies_stay_compact() -> None:
    """Every strategy adds a title, max_adds + 2 table rows and a total, within 80 columns."""
    strategies = [reference(f"Bot {i}", adding={"max_adds": i % 7}) for i in range(40)]
    for s in strategies:
        lines = ladder_view.render(strategy_ladder(s))
        assert len(lines) == 1 + (s.sizing().max_adds + 2) + 1
        assert max(len(line) for line in lines) <= 80  # an 80-column terminal


def test_validate_json_carries_the_ladder_per_strategy() -> None:
    doc = _strategy_dict(reference(), "strategies.yaml")
    assert doc["ladder"] == REFERENCE_ROWS
    assert doc["ladder_total"]["fits"] is True
    assert doc["name"] == "Reference"


def test_plan_shows_each_strategys_ladder() -> None:
    state = desired_state([conn()], [reference(), strat("Small", margin_limit=100)])
    result = compare(state, None)
    text = result.render()
    assert '  "Reference": ladder for an entry at 100 (sizes in USDT):' in text
    assert '  "Small": ladder for an entry at 100 (sizes in USDT):' in text
    for row in REFERENCE_TABLE:
        assert f"    {row}" in text.splitlines()
    assert "2 group(s) × 141.88 = 283.75 USDT, within margin_limit 500.00 USDT" in text
    assert text.splitlines()[-1] == "plan: 2 bot(s) added, 1 connection test(s)"  # still last
    doc = result.to_json()
    assert [s["name"] for s in doc["strategies"]] == ["Reference", "Small"]
    assert doc["strategies"][0]["ladder"] == REFERENCE_ROWS
    small = doc["strategies"][1]
    assert small["ladder_total"]["total_quote"] <= 100
    assert small["ladder"][0]["step"] == 0
    assert doc["changes"] == len(result.actions)  # the ladders are not changes
