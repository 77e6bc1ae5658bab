"""Scenarios for the DCA engine: a group's whole life, gates, the margin cap, precision, stop loss.

Every `step` also checks idempotency (deciding again on the returned book issues nothing).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from backfuture_daemon.strategy.engine import decide
from backfuture_daemon.strategy.groups import GroupBook, OrderState
from backfuture_daemon.strategy.orders import (
    Cancel,
    OrderSide,
    OrderType,
    Place,
    Purpose,
    SkipReason,
)
from backfuture_daemon.strategy.params import Gate, OnStop
from tests.unit.test_strategy_sim import PAIR, params, quotes, rules, settle, step

D = Decimal


def _places(commands: tuple[object, ...], purpose: Purpose) -> list[Place]:
    return [c for c in commands if isinstance(c, Place) and c.key.purpose is purpose]


def _cancels(commands: tuple[object, ...]) -> list[Cancel]:
    return [c for c in commands if isinstance(c, Cancel)]


def test_a_group_opens_adds_as_price_falls_and_closes_at_take_profit_with_profit() -> None:
    p = params()
    d, book = step(p, GroupBook(), "100")
    (base,) = d.commands
    assert isinstance(base, Place)
    assert (base.key.purpose, base.side, base.type) == (
        Purpose.BASE,
        OrderSide.BUY,
        OrderType.LIMIT,
    )
    assert base.price == D("100.50")  # marketable: 0.5 % above the ask, reserves ≤ 10 quote
    assert base.reserved_quote <= D(10)

    d, book = step(p, book, "100")  # base filled at 100: adds 1 and 2 rest, TP above the average
    adds = _places(d.commands, Purpose.ADD)
    assert [(a.key.step, a.price) for a in adds] == [(1, D("98.50")), (2, D("96.70"))]
    assert [a.amount for a in adds] == [D("0.10152"), D("0.15511")]  # 10/98.5, 15/96.7 floored
    (tp,) = _places(d.commands, Purpose.TAKE_PROFIT)
    assert (tp.price, tp.amount) == (D("101.20"), D("0.09950"))

    d, book = step(p, book, "98.5")  # add 1 fills: TP cancelled and re-placed, add 3 rests
    assert [c.key.purpose for c in _cancels(d.commands)] == [Purpose.TAKE_PROFIT]
    assert [a.key.step for a in _places(d.commands, Purpose.ADD)] == [3]
    g = d.book.groups[0]
    (tp,) = _places(d.commands, Purpose.TAKE_PROFIT)
    assert g.average_price is not None
    assert tp.price == rules().price_up(g.average_price * D("1.012"))
    assert tp.amount == g.amount
    assert tp.key.step == 1
    assert tp.key.serial > base.key.serial

    d, book = step(p, book, "96.7")  # add 2 fills
    g = d.book.groups[0]
    assert g.adds_used == 2
    assert g.average_price is not None
    assert abs(g.average_price - D("98.14")) < D("0.02")
    (tp,) = _places(d.commands, Purpose.TAKE_PROFIT)
    assert tp.price is not None

    d, book = step(p, book, str(tp.price))  # the TP fills: resting adds 3 and 4 cancelled
    assert book.groups[0].amount == 0
    assert {c.key.purpose for c in _cancels(d.commands)} == {Purpose.ADD}
    assert _places(d.commands, Purpose.BASE) == []  # the pair is busy until the group closes
    d, book = step(p, book, str(tp.price))  # cancels confirmed: closed; a new group opens
    assert book.closed_groups == 1
    assert book.realized_pnl > 0  # after 0.1 % fees both ways
    assert [g.id for g in book.groups] == [2]
    assert book.committed_quote <= D(10)


def test_a_new_group_opens_once_the_previous_one_closed() -> None:
    p = params(max_adds=0)
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")
    d, book = step(p, book, "101.2")
    assert book.closed_groups == 1
    (base,) = d.commands
    assert isinstance(base, Place)
    assert base.key.group_id == 2


def test_max_active_groups_bounds_new_groups_and_says_so() -> None:
    p = params(groups=1, pairs=("BTC/USDT", "ETH/USDT"))
    q = quotes("100") | quotes("50", pair="ETH/USDT")
    d = decide(p, GroupBook(), q, Gate.RUN, 0.0)
    assert [c.pair for c in d.commands] == ["BTC/USDT"]
    (skip,) = d.skipped
    assert (skip.pair, skip.reason) == ("ETH/USDT", SkipReason.MAX_ACTIVE_GROUPS)


def test_at_most_max_active_adds_rest_at_once() -> None:
    p = params(max_active_adds=3)
    _, book = step(p, GroupBook(), "100")
    d, book = step(p, book, "100")
    assert len(_places(d.commands, Purpose.ADD)) == 3
    d, book = step(p, book, "99")
    assert d.commands == ()


def test_orders_under_the_exchange_minimum_are_skipped_with_a_reason() -> None:
    p = params()
    d = decide(p, GroupBook(), quotes("100", rules(min_notional="12")), Gate.RUN, 0.0)
    assert d.commands == ()
    (skip,) = d.skipped
    assert skip.reason is SkipReason.BELOW_MINIMUM
    assert "notional" in skip.detail


def test_prices_and_amounts_follow_the_market_precision() -> None:
    r = replace(rules(), price_tick=D("0.5"), amount_step=D("0.01"))
    p = params()
    d = decide(p, GroupBook(), quotes("100", r), Gate.RUN, 0.0)
    (base,) = d.commands
    assert isinstance(base, Place)
    assert base.price == D("100.5")
    assert base.amount == D("0.09")
    book = settle(d.book, {PAIR: D(100)})
    d = decide(p, book, quotes("100", r), Gate.RUN, 0.0)
    for c in d.commands:
        assert isinstance(c, Place)
        assert c.price is not None
        assert c.price % D("0.5") == 0
        assert c.amount % D("0.01") == 0
    adds = _places(d.commands, Purpose.ADD)
    assert [a.price for a in adds] == [D("98.5"), D("96.5")]  # buys round down
    (tp,) = _places(d.commands, Purpose.TAKE_PROFIT)
    assert tp.price == D("101.5")  # sells round up (101.2 -> 101.5)


def test_margin_cap_blocks_the_adds_that_do_not_fit() -> None:
    p = params(margin_limit="30", groups=1, max_active_adds=3)
    _, book = step(p, GroupBook(), "100")
    d, book = step(p, book, "100")
    assert [a.key.step for a in _places(d.commands, Purpose.ADD)] == [1]
    (skip,) = [s for s in d.skipped if s.purpose is Purpose.ADD]
    assert skip.reason is SkipReason.MARGIN_CAP
    assert skip.step == 2
    assert d.book.committed_quote <= D(30)


def test_margin_lowered_mid_group_cancels_far_adds_and_never_sells() -> None:
    p = params(max_active_adds=3)
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")
    _, book = step(p, book, "98.5")  # base + add 1 filled; adds 2, 3, 4 resting
    lowered = replace(p, margin_limit=D(40))
    d, book2 = step(lowered, book, "98.5")
    assert all(isinstance(c, Cancel) and c.key.purpose is Purpose.ADD for c in d.commands)
    assert [c.key.step for c in d.commands] == [4, 3]  # farthest first, until the book fits
    assert not any(isinstance(c, Place) and c.side is OrderSide.SELL for c in d.commands)
    assert book2.committed_quote > D(40)  # pending cancels still count until confirmed
    d, book2 = step(lowered, book2, "98.5")
    assert d.commands == ()
    assert book2.committed_quote <= D(40)
    assert any(s.reason is SkipReason.MARGIN_CAP for s in d.skipped)


def test_sizing_changes_apply_to_new_groups_only() -> None:
    p = params()
    _, book = step(p, GroupBook(), "100")
    d, book = step(p, book, "100")
    bigger = replace(p, sizing=replace(p.sizing, add_order_quote=D(20), take_profit_pct=D(3)))
    d = decide(bigger, book, quotes("100"), Gate.RUN, 0.0)
    assert d.commands == ()
    assert d.book.groups[0].sizing == p.sizing


def test_pause_issues_nothing_and_keeps_the_book() -> None:
    p = params()
    _, book = step(p, GroupBook(), "100")
    d = decide(p, book, quotes("90"), Gate.PAUSE, 0.0)
    assert d.commands == ()
    assert d.book == book


def test_close_only_opens_nothing_and_adds_nothing_but_moves_the_take_profit() -> None:
    p = params()
    assert decide(p, GroupBook(), quotes("100"), Gate.CLOSE_ONLY, 0.0).commands == ()
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")
    d, book = step(p, book, "98.5", Gate.CLOSE_ONLY)  # add 1 fills, no add 3 placed
    assert _places(d.commands, Purpose.ADD) == []
    assert len(_places(d.commands, Purpose.TAKE_PROFIT)) == 1
    assert len(book.groups[0].open_orders(Purpose.ADD)) == 1  # add 2 keeps resting


def test_stop_cancels_entries_and_adds_and_keeps_the_take_profit() -> None:
    p = params()
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")
    d, book = step(p, book, "100", Gate.STOP)
    assert {c.key.purpose for c in _cancels(d.commands)} == {Purpose.ADD}
    assert not _places(d.commands, Purpose.ADD)
    assert [o.key.purpose for o in book.groups[0].open_orders()] == [Purpose.TAKE_PROFIT]
    _, book = step(p, book, "100", Gate.STOP)
    assert [o.key.purpose for o in book.groups[0].orders] == [Purpose.TAKE_PROFIT]


def test_stop_with_cancel_all_cancels_the_take_profit_too() -> None:
    p = replace(params(), on_stop=OnStop.CANCEL_ALL)
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")
    d, book = step(p, book, "100", Gate.STOP)
    assert {c.key.purpose for c in d.commands} == {Purpose.ADD, Purpose.TAKE_PROFIT}
    assert all(isinstance(c, Cancel) for c in d.commands)
    d, book = step(p, book, "100", Gate.STOP)
    assert d.commands == ()
    assert book.groups[0].orders == ()
    assert book.groups[0].amount > 0  # never a forced sell


def test_stop_cancels_an_unfilled_base_and_the_group_goes() -> None:
    p = params()
    d = decide(p, GroupBook(), quotes("100"), Gate.RUN, 0.0)
    d = decide(p, d.book, quotes("101"), Gate.STOP, 0.0)
    (c,) = d.commands
    assert isinstance(c, Cancel)
    assert c.key.purpose is Purpose.BASE
    assert d.book.groups[0].orders[0].state is OrderState.CANCELLING
    assert d.book.cancelled(c.key).groups == ()


def test_stop_loss_from_the_average_sells_at_market() -> None:
    p = params(max_adds=0, stop_loss_pct=D(5))
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")
    d, book = step(p, book, "94.9")
    (cancel, sell) = d.commands
    assert isinstance(cancel, Cancel)
    assert cancel.key.purpose is Purpose.TAKE_PROFIT
    assert isinstance(sell, Place)
    assert sell.key.purpose is Purpose.STOP
    assert (sell.side, sell.type, sell.price) == (OrderSide.SELL, OrderType.MARKET, None)
    d, book = step(p, book, "94.9", Gate.CLOSE_ONLY)
    assert book.groups == ()
    assert book.realized_pnl < 0
    assert book.closed_groups == 1


def test_a_take_profit_never_sells_below_break_even_after_fees() -> None:
    p = params(take_profit_pct=D("0.01"))
    _, book = step(p, GroupBook(), "100")
    d, _ = step(p, book, "100")
    (tp,) = _places(d.commands, Purpose.TAKE_PROFIT)
    assert tp.price is not None
    assert tp.price > D(100) * D("1.001") / D("0.999")


def test_dust_left_by_a_partial_take_profit_closes_the_group() -> None:
    p = params(max_adds=0)
    _, book = step(p, GroupBook(), "100")
    d, book = step(p, book, "100")
    (tp,) = _places(d.commands, Purpose.TAKE_PROFIT)
    book = book.fill(tp.key, tp.amount - D("0.00100"), D("101.2"), D(0))
    d = decide(p, book, quotes("101"), Gate.RUN, 0.0)
    assert d.commands == ()  # the exchange holds the remainder of the take profit
    book = d.book.cancelled(tp.key)  # ... until it expires it: 0.001 × 101 < min notional 1
    d = decide(p, book, quotes("101"), Gate.RUN, 0.0)
    assert d.book.dust == ((PAIR, D("0.00100")),)
    assert d.book.closed_groups == 1


def test_decide_reports_group_status() -> None:
    p = params()
    _, book = step(p, GroupBook(), "100", now=10.0)
    d, _ = step(p, book, "100")
    (s,) = d.groups
    assert (s.pair, s.opened_at, s.base_price, s.filled_adds, s.mode) == (
        PAIR, 10.0, D(100), 0, "normal"
    )  # fmt: skip
    assert s.take_profit_price == D("101.20")
    assert d.committed_quote == s.committed_quote
    assert s.committed_quote == D("9.95") + D("0.10152") * D("98.5") + D("0.15511") * D("96.7")


def test_a_base_order_the_price_ran_away_from_is_dropped_and_reopened_at_the_new_ask() -> None:
    p = params()
    d, book = step(p, GroupBook(), "100")  # base limit 100.50
    d, book = step(p, book, "101")  # ask 101 > 100.50: not filled, cancelled
    (c,) = d.commands
    assert isinstance(c, Cancel)
    assert c.key.purpose is Purpose.BASE
    d, book = step(p, book, "101")  # confirmed: group 1 gone, group 2 opens at the new ask
    (base,) = d.commands
    assert isinstance(base, Place)
    assert (base.key.group_id, base.price) == (2, D("101.50"))


def test_confirming_a_cancel_of_a_closed_group_changes_nothing() -> None:
    p = params()
    d, _ = step(p, GroupBook(), "100")
    key = d.commands[0].key
    empty = d.book.cancelled(key)
    assert empty.groups == ()
    assert empty.cancelled(key) == empty


def test_a_partly_filled_add_keeps_resting_and_the_take_profit_follows_the_position() -> None:
    p = params()
    _, book = step(p, GroupBook(), "100")
    d, book = step(p, book, "100")
    (add1, _) = _places(d.commands, Purpose.ADD)
    book = book.fill(add1.key, D("0.05"), D("98.5"), D(0))
    d = decide(p, book, quotes("98.6"), Gate.RUN, 0.0)
    assert not [c for c in _cancels(d.commands) if c.key.purpose is Purpose.ADD]
    assert _places(d.commands, Purpose.ADD) == []  # add 1 (partly filled) and add 2 fill 2 slots
    (tp,) = _places(d.commands, Purpose.TAKE_PROFIT)
    assert tp.amount == D("0.09950") + D("0.05")
    assert d.book.groups[0].adds_used == 1
    assert d.book.group(1).order(add1.key) is not None
    assert decide(p, d.book, quotes("98.6"), Gate.RUN, 0.0).commands == ()


def test_a_coarse_tick_never_makes_the_base_order_unmarketable() -> None:
    r = replace(rules(), price_tick=D(1))
    p = replace(params(), entry_slippage_pct=D("0.1"))
    q = {PAIR: replace(quotes("100.2", r)[PAIR], ask=D("100.2"))}
    d = decide(p, GroupBook(), q, Gate.RUN, 0.0)
    (base,) = d.commands
    assert isinstance(base, Place)
    assert base.price == D(101)  # 100.2 × 1.001 floors to 100 < ask: the ask rounded up
    assert base.reserved_quote <= D(10)
    assert decide(p, d.book, q, Gate.RUN, 0.0).commands == ()
