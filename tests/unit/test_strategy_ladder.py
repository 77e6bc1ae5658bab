"""The ladder and sizing maths with exact numbers: reference/bots.md §2.4 (P0=100, base 10,
add 10, step 1.5 %, step scale 1.2, volume scale 1.5, 5 adds, take profit 1.2 %)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from backfuture_daemon.strategy.ladder import (
    build_ladder,
    ladder_for,
    ladder_from_sizing,
    ladder_warnings,
)
from backfuture_daemon.strategy.params import DcaParams, OnStop, RecoveryParams, Side
from backfuture_daemon.strategy.sizing import SizingInput, resolve_sizing
from tests.unit.test_strategy_sim import params, reference_sizing

D = Decimal


def _reference_sizing_from_config() -> DcaParams:
    s = resolve_sizing(
        SizingInput(
            "balanced",
            500,
            max_active_groups=2,
            base_order_quote=10,
            add_order_quote=10,
            max_adds=5,
            step_pct=1.5,
            step_scale=1.2,
            volume_scale=1.5,
            take_profit_pct=1.2,
        )
    )
    return DcaParams.from_sizing(s, pairs=("BTC/USDT",), margin_limit=500)


def test_add_distances_and_sizes_match_the_reference() -> None:
    s = reference_sizing()
    assert [s.add_deviation_pct(i) for i in range(1, 6)] == [
        D("1.5"), D("3.3"), D("5.46"), D("8.052"), D("11.1624")
    ]  # fmt: skip
    # Explicit rounding: ccxt sets the thread's decimal context to ROUND_HALF_UP when it runs.
    cents = [s.add_size(i).quantize(D("0.01"), rounding=ROUND_HALF_EVEN) for i in range(1, 6)]
    assert cents == [
        D("10"), D("15"), D("22.5"), D("33.75"), D("50.62")  # exact 50.625, shown 50.63 below
    ]  # fmt: skip
    assert s.max_funds == D("141.875")


def test_the_ladder_table_for_a_reference_price_of_100() -> None:
    ladder = ladder_for(params())
    assert ladder.as_dict() == [
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
    last = ladder.rows[-1]
    assert abs(last.average_price - D("92.64")) <= D("0.01")
    assert abs(last.take_profit_price - D("93.75")) <= D("0.01")
    assert ladder.group_quote == D("141.875")
    assert ladder.total_quote == D("283.75")
    assert ladder.fits


def test_the_ladder_from_a_config_sizing_is_the_same() -> None:
    p = _reference_sizing_from_config()
    assert p.sizing == reference_sizing(max_active_adds=2)
    s = resolve_sizing(SizingInput("balanced", 500, base_order_quote=10, add_order_quote=10))
    assert ladder_from_sizing(s, 500).as_dict() == ladder_for(params()).as_dict()


def test_render_prints_every_step_and_the_total_against_the_margin_limit() -> None:
    text = ladder_for(params()).render()
    lines = text.splitlines()
    assert len(lines) == 1 + 6 + 1
    assert lines[-1] == "2 group(s) × 141.88 = 283.75 within the margin limit 500.00"
    assert lines[6].split() == ["5", "11.16", "88.84", "50.63", "141.88", "92.63", "93.75"]


def test_a_ladder_above_the_margin_limit_says_so() -> None:
    ladder = build_ladder(reference_sizing(), max_active_groups=4, margin_limit=D(500))
    assert not ladder.fits
    assert "567.50 ABOVE the margin limit 500.00" in ladder.render()


def test_no_adds_is_a_one_row_ladder() -> None:
    ladder = build_ladder(reference_sizing(max_adds=0), max_active_groups=1, margin_limit=D(10))
    assert [r["step"] for r in ladder.as_dict()] == [0]
    assert ladder.fits


def test_from_sizing_converts_floats_exactly_and_honours_adding_disabled() -> None:
    s = resolve_sizing(SizingInput("balanced", 500, adding_enabled=False, base_order_quote=10))
    p = DcaParams.from_sizing(
        s,
        pairs=("ETH/USDT",),
        margin_limit=500,
        stop_loss_pct=12.5,
        recovery=RecoveryParams.build(enabled=True, take_profit_pct=0.4, adds_allowed="none"),
        on_stop=OnStop.CANCEL_ALL,
    )
    assert p.sizing.max_adds == 0
    assert p.sizing.stop_loss_pct == D("12.5")
    assert p.recovery.take_profit_pct == D("0.4")
    assert p.group_budget == D(250)


def test_short_params_are_accepted_and_lay_their_ladder_out_mirrored() -> None:
    # (replaces test_short_is_not_implemented_yet: issue 10 implements short)
    p = DcaParams(
        pairs=(), margin_limit=D(500), max_active_groups=2, sizing=reference_sizing(),
        side=Side.SHORT,
    )  # fmt: skip
    long_rows, short_rows = ladder_for(params()).rows, ladder_for(p).rows
    for lo, sh in zip(long_rows, short_rows, strict=True):
        assert sh.deviation_pct == lo.deviation_pct
        assert sh.price == 2 * D(100) - lo.price  # adds above the entry, mirrored
        assert sh.take_profit_price < sh.average_price
    assert [r.price for r in short_rows] == sorted(r.price for r in short_rows)
    assert ladder_warnings(ladder_for(p)) == ()
    (stop,) = ladder_warnings(ladder_for(p), stop_loss_pct=D(5))
    assert "% above entry) can fill" in stop


def test_ladder_warnings_flag_what_validate_must_show() -> None:
    ladder = ladder_for(params())
    assert ladder_warnings(ladder) == ()
    assert ladder_warnings(ladder, taker_fee=D("0.001"), min_notional=D(5)) == ()
    (fee,) = ladder_warnings(ladder, taker_fee=D("0.006"))
    assert "does not clear 2 × the taker fee" in fee
    (small,) = ladder_warnings(ladder, min_notional=D(10))
    assert small.startswith("step(s) 0, 1 under")
    (stop,) = ladder_warnings(ladder, stop_loss_pct=D(5))
    assert "before add 5 (11.16 % below entry)" in stop  # avg 94.88 × 0.95 > 88.84
    assert ladder_warnings(ladder, stop_loss_pct=D(12)) == ()
    over = build_ladder(reference_sizing(), max_active_groups=4, margin_limit=D(500))
    assert ladder_warnings(over)[0].endswith("exceeds the margin limit 500.00")
    deep = build_ladder(
        reference_sizing(step_pct=D(20), step_scale=D(2)), max_active_groups=1, margin_limit=D(1e4)
    )
    assert any("at or below 0" in w for w in ladder_warnings(deep))
