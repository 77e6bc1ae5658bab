"""Reduce-only is a property of the ORDER (its purpose), not of the bot's current side: a group
keeps its side for life (strategy/direction.py), so after the strategy turned short an old long
group's take profit is still an exit (reduce-only at the exchange, needing no margin) and its
adds still open (needing margin). Spot only buys spend quote."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from backfuture_daemon.bots.live_guard import funds_needed, is_exit, opens
from backfuture_daemon.bots.spec import RunnerSpec
from backfuture_daemon.exchanges.port import OrderRequest, OrderType, Quote, Side
from backfuture_daemon.strategy.orders import OrderKey, OrderSide, Place, Purpose
from backfuture_daemon.strategy.orders import OrderType as EngineType
from backfuture_daemon.strategy.params import Side as StrategySide
from tests.unit.test_live_guard_futures import PARAMS

QUOTE = Quote("BTC/USDT", D(59990), D(60010), D(60000), 0.0)


def spec(side: StrategySide, market: str = "futures") -> RunnerSpec:
    return RunnerSpec("S", "C", "live", replace(PARAMS, side=side), "USDT", market=market,
                      leverage=4)  # fmt: skip


def place(purpose: Purpose, side: OrderSide) -> Place:
    return Place(OrderKey(7, purpose, 0, 1), "BTC/USDT", side, EngineType.LIMIT, D("0.002"),
                 D(60000))  # fmt: skip


def test_exits_are_take_profits_and_stops_only() -> None:
    assert is_exit(OrderKey(1, Purpose.TAKE_PROFIT, 2, 3))
    assert is_exit(OrderKey(1, Purpose.STOP, 0, 3))
    assert not is_exit(OrderKey(1, Purpose.BASE, 0, 1))
    assert not is_exit(OrderKey(1, Purpose.ADD, 1, 2))


def test_an_old_long_groups_orders_keep_their_meaning_after_the_strategy_turned_short() -> None:
    now_short = spec(StrategySide.SHORT)
    tp = place(Purpose.TAKE_PROFIT, OrderSide.SELL)  # the long group's take profit
    add = place(Purpose.ADD, OrderSide.BUY)  # the long group's add
    assert not opens(now_short, tp)
    assert funds_needed(now_short, tp, QUOTE) == 0
    assert opens(now_short, add)
    assert funds_needed(now_short, add, QUOTE) == D(30)  # 0.002 · 60,000 / 4
    # and the other way round: a short group's buy-back under a strategy now long
    now_long = spec(StrategySide.LONG)
    buy_back = place(Purpose.TAKE_PROFIT, OrderSide.BUY)
    assert not opens(now_long, buy_back)
    assert funds_needed(now_long, buy_back, QUOTE) == 0
    assert opens(now_long, place(Purpose.ADD, OrderSide.SELL))


def test_spot_buys_spend_quote_and_sells_nothing() -> None:
    spot = spec(StrategySide.LONG, market="spot")
    assert opens(spot, place(Purpose.BASE, OrderSide.BUY))
    assert not opens(spot, place(Purpose.TAKE_PROFIT, OrderSide.SELL))


def test_an_order_request_is_not_reduce_only_unless_it_says_so() -> None:
    request = OrderRequest("BTC/USDT", Side.SELL, OrderType.LIMIT, D(1), "cid", D(1))
    assert request.reduce_only is False
    assert replace(request, reduce_only=True).reduce_only is True
