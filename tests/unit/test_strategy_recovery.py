"""Recovery Mode: each trigger, the improve-only adds, the recovery take profit, the pair block
and the overdue flag (reference/bots.md §2.3 item 4)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from backfuture_daemon.strategy.engine import decide
from backfuture_daemon.strategy.groups import GroupBook, RecoveryReason
from backfuture_daemon.strategy.orders import Cancel, Place, Purpose, SkipReason
from backfuture_daemon.strategy.params import AddsAllowed, Gate, RecoveryParams
from backfuture_daemon.strategy.recovery import (
    average_after,
    break_even_price,
    enters_recovery,
    improving_add,
)
from tests.unit.test_strategy_sim import params, quotes, rules, step

D = Decimal
OFF = {"drawdown_pct": D(90), "adds_used_ratio": D(1), "margin_used_ratio": D(1)}


def _recovery(**over: object) -> RecoveryParams:
    fields: dict[str, object] = {"enabled": True, **OFF}
    fields.update(over)
    return RecoveryParams(**fields)  # type: ignore[arg-type]


def _opened(p_recovery: RecoveryParams, **sizing: Any) -> GroupBook:
    p = params(recovery=p_recovery, **sizing)
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")  # base filled at 100; adds 1, 2 and the TP rest
    return book


def test_drawdown_from_the_average_enters_recovery() -> None:
    rec = _recovery(drawdown_pct=D(3))
    book = _opened(rec)
    g = book.groups[0]
    p = params(recovery=rec)
    assert enters_recovery(g, p, D("97.01")) is None
    assert enters_recovery(g, p, D(97)) is RecoveryReason.DRAWDOWN
    d = decide(p, book, quotes("97"), Gate.RUN, 50.0)
    (s,) = d.groups
    assert (s.mode, s.recovery_reason, s.recovery_since) == ("recovery", "drawdown", 50.0)


def test_adds_used_enters_recovery() -> None:
    rec = _recovery(adds_used_ratio=D("0.4"))
    p = params(recovery=rec)
    book = _opened(rec)
    d, book = step(p, book, "98.5")
    assert d.book.groups[0].recovery_reason is None
    d, book = step(p, book, "96.7")  # 2 of 5 adds used
    assert book.groups[0].recovery_reason is RecoveryReason.ADDS_USED


def test_margin_used_enters_recovery_and_counts_resting_buys() -> None:
    rec = _recovery(margin_used_ratio=D("0.12"))  # 0.12 × 250 = 30 quote
    p = params(recovery=rec)
    _, book = step(p, GroupBook(), "100")
    d, book = step(p, book, "100")  # base 9.95 filled; adds 10 + 15 would make 34.95 ≥ 30
    g = book.groups[0]
    assert g.recovery_reason is RecoveryReason.MARGIN_USED
    # planned again in recovery: half-size adds that improve the average, no normal adds
    adds = [c for c in d.commands if isinstance(c, Place) and c.key.purpose is Purpose.ADD]
    assert [a.amount for a in adds] == [D("0.05076"), D("0.07755")]  # 5/98.5, 7.5/96.7
    assert not any(isinstance(c, Cancel) for c in d.commands)


def test_recovery_is_off_unless_enabled() -> None:
    book = _opened(RecoveryParams(enabled=False, drawdown_pct=D(1)))
    p = params(recovery=RecoveryParams(enabled=False, drawdown_pct=D(1)))
    assert enters_recovery(book.groups[0], p, D(50)) is None


def test_in_recovery_adds_are_resized_improve_the_average_and_the_take_profit_moves() -> None:
    rec = _recovery(drawdown_pct=D(1), add_size_multiplier=D("0.5"), take_profit_pct=D("0.4"))
    p = params(recovery=rec)
    book = _opened(rec)
    d, book = step(p, book, "98.9")  # drawdown 1.1 %: recovery
    g = book.groups[0]
    assert g.in_recovery
    cancels = [c for c in d.commands if isinstance(c, Cancel)]
    assert {c.key.purpose for c in cancels} == {Purpose.ADD, Purpose.TAKE_PROFIT}
    # the normal adds are cancelled and half-size adds placed in their stead, at once
    adds = [c for c in d.commands if isinstance(c, Place) and c.key.purpose is Purpose.ADD]
    assert [(a.key.step, a.amount) for a in adds] == [(1, D("0.05076")), (2, D("0.07755"))]
    for a in adds:
        assert "lowers the average" in a.note
    tps = [o for o in book.groups[0].open_orders(Purpose.TAKE_PROFIT)]
    assert [o.price for o in tps] == [D("100.40")]  # 0.4 % above 100 (break-even 100.21)


def test_recovery_adds_that_do_not_improve_enough_are_skipped() -> None:
    rec = _recovery(drawdown_pct=D(1))
    p = params(recovery=rec, min_avg_improvement_pct=D(5))
    book = _opened(rec, min_avg_improvement_pct=D(5))
    d, book = step(p, book, "98.9")
    d, book = step(p, book, "98.9")
    assert not [c for c in d.commands if isinstance(c, Place) and c.key.purpose is Purpose.ADD]
    (skip,) = [s for s in d.skipped if s.purpose is Purpose.ADD]
    assert skip.reason is SkipReason.NO_IMPROVEMENT
    assert skip.step == 1


def test_adds_allowed_none_cancels_resting_adds() -> None:
    rec = _recovery(drawdown_pct=D(1), adds_allowed=AddsAllowed.NONE)
    p = params(recovery=rec)
    book = _opened(rec)
    d, book = step(p, book, "98.9")
    assert {c.key.purpose for c in d.commands if isinstance(c, Cancel)} >= {Purpose.ADD}
    assert any(s.reason is SkipReason.RECOVERY_NO_ADDS for s in d.skipped)
    d, book = step(p, book, "98.9")
    assert book.groups[0].open_orders(Purpose.ADD) == ()


def test_no_new_group_on_a_pair_in_recovery_and_overdue_is_flagged() -> None:
    rec = _recovery(drawdown_pct=D(1), max_duration_h=D(2))
    p = params(recovery=rec)
    book = _opened(rec)
    _, book = step(p, book, "98.9", now=1000.0)
    d = decide(p, book, quotes("98.9"), Gate.RUN, 1000.0 + 2 * 3600)
    assert any(s.reason is SkipReason.PAIR_IN_RECOVERY for s in d.skipped)
    assert not d.groups[0].recovery_overdue
    d = decide(p, book, quotes("98.9"), Gate.RUN, 1000.0 + 2 * 3600 + 1)
    assert d.groups[0].recovery_overdue
    assert d.commands == ()


def test_recovery_is_sticky_until_the_group_closes() -> None:
    rec = _recovery(drawdown_pct=D(1))
    p = params(recovery=rec)
    book = _opened(rec)
    _, book = step(p, book, "98.9")
    _, book = step(p, book, "100")  # the price came back, the group stays in recovery
    assert book.groups[0].in_recovery
    (tp,) = book.groups[0].open_orders(Purpose.TAKE_PROFIT)
    assert tp.price is not None
    _, book = step(p, book, str(tp.price))
    _, book = step(p, book, str(tp.price))
    assert book.closed_groups == 1
    assert book.realized_pnl > 0
    assert all(not g.in_recovery for g in book.groups)


def test_improving_add_and_break_even_maths() -> None:
    assert average_after(D(1), D(100), D(90), D(1)) == D(95)
    assert improving_add(D(1), D(100), D(90), D(1), D(5)) == D(5)
    assert improving_add(D(1), D(100), D(90), D(1), D("5.01")) is None
    assert improving_add(D(1), D(100), D(110), D(1), D(0)) is None
    book = _opened(RecoveryParams())
    g = replace(book.groups[0], entry_fees=D(0))
    be = break_even_price(g, rules(fee="0.001"))
    assert be == D(100) * D("1.001") / D("0.999")


def test_the_demo_path_adds_enters_recovery_and_closes_at_the_recovery_take_profit() -> None:
    rec = RecoveryParams(enabled=True)  # the config defaults: 8 %, 0.8, 0.8, improve_only, 0.5
    p = params(recovery=rec)
    book = GroupBook()
    modes = []
    for price in ("100", "100", "98.5", "96.7", "94.54", "91.9", "92", "94"):
        d, book = step(p, book, price)
        modes.append(d.groups[0].mode if d.groups else "-")
    assert modes == ["normal"] * 5 + ["recovery"] * 3
    g = book.groups[0]
    assert g.recovery_reason is RecoveryReason.ADDS_USED  # 4 of 5 adds used
    assert g.adds_used == 4
    (add5,) = g.open_orders(Purpose.ADD)  # re-placed at half size (50.63 -> 25.31)
    assert add5.price is not None
    assert abs(add5.amount * add5.price - D("25.31")) < D("0.01")
    (tp,) = g.open_orders(Purpose.TAKE_PROFIT)
    avg = g.average_price
    assert avg is not None
    assert tp.price is not None
    assert tp.price < avg * D("1.012")  # the recovery take profit (0.4 %), not the normal 1.2 %
    d, book = step(p, book, str(tp.price))
    d, book = step(p, book, str(tp.price))
    assert book.closed_groups == 1
    assert book.realized_pnl > 0
