"""A live futures bot on the sandbox (real ccxt, KuCoin XBTUSDTM, isolated margin) whose order
meaning does not hang on the strategy's current side, and whose book follows positions closed
outside it:

- an old LONG group's take profit goes reduce-only even after the strategy turned short (the
  order's purpose decides, exchanges/port.OrderRequest.reduce_only);
- a long at leverage 5 liquidated by the sandbox (the price falls past its liquidation price)
  is closed in the book with a loss (bots/outside.py), its resting orders cancelled, a WARNING
  logged, /status's last_error says so; nothing is ever placed for that group again; the bot's
  snapshot, /status and the metric count it (closed_outside == 1), and a runner restarted on the
  same SQLite still does;
- the same for a position a human closed by hand on the exchange (a reduce-only market sell
  with a foreign client id): the bot's resting take profit is cancelled, the group closed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.runner import BotRunner
from backfuture_daemon.bots.spec import BotSnapshot
from backfuture_daemon.exchanges.kucoin_futures_trading import KucoinFuturesTrading
from backfuture_daemon.exchanges.market_data import MarketSubscription
from backfuture_daemon.exchanges.port import OrderRejected, OrderRequest, OrderType, Side
from backfuture_daemon.strategy.params import Side as StrategySide
from backfuture_daemon.telemetry.families import Families
from tests.integration.futures_live_support import PARAMS, FuturesWorld, one_order_per_id
from tests.integration.live_bot_support import PAIR, ledger_matches_exchange, until

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(sandbox: Any, tmp_path: Any) -> Any:
    w = FuturesWorld(sandbox, tmp_path)
    try:
        yield w
    finally:
        await w.close()


async def reduce_only(port: object, order_id: str) -> bool:
    assert isinstance(port, KucoinFuturesTrading)
    raw = await port._client.futuresPrivateGetOrdersOrderId({"orderId": order_id})
    return bool(raw["data"]["reduceOnly"])


def group_orders(world: FuturesWorld, group_id: int) -> list[dict[str, Any]]:
    tag = f"-g{group_id}"
    return [o for o in world.audit() if tag + "b" in o["client_order_id"]
            or tag + "a" in o["client_order_id"] or tag + "t" in o["client_order_id"]
            or tag + "s" in o["client_order_id"]]  # fmt: skip


async def test_a_long_groups_take_profit_is_reduce_only_after_the_strategy_turned_short(
    world: FuturesWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    (long_group,) = r.book.groups
    assert long_group.side is StrategySide.LONG
    # git now says side: short; the open long group keeps its side (and its exits their meaning)
    r.spec = replace(r.spec, params=replace(PARAMS, side=StrategySide.SHORT))
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 61200]])  # through its take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0
    tps = [o for o in group_orders(world, long_group.id) if o["side"] == "sell"]
    assert tps
    assert any(o["status"] == "filled" for o in tps)
    for o in tps:
        assert await reduce_only(r.port, o["order_id"])
    for o in group_orders(world, long_group.id):
        if o["side"] == "buy":  # its base and adds opened: never reduce-only
            assert not await reduce_only(r.port, o["order_id"])
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())


async def closed_outside(r: BotRunner, group_id: int) -> None:
    await until(lambda: all(g.id != group_id for g in r.book.groups), r, seconds=30)


async def test_a_liquidated_long_is_closed_in_the_book_and_never_added_to(
    world: FuturesWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="backfuture.bots")
    world.leverage = 5
    world.params = replace(PARAMS, max_active_groups=1)
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    r.visibility_window = 0.5
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    group = r.book.groups[0]
    # through add 1 (59,100) to ~58,600, then far below the liquidation price (~47,000)
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.4, 58600]])
    await until(lambda: adds(r) == (1,), r)
    await until(lambda: len(r.book.groups[0].open_orders()) >= 2, r)
    liquidating_at = time.time()
    world.sandbox.set_market(PAIR, price=44000.0)
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]  # the audit looks: liquidated
    assert pos["contracts"] == "0"
    assert pos["liquidated_at_ms"]
    liquidated_ms = pos["liquidated_at_ms"][0]
    held_before = r.book.groups[0].amount
    assert held_before > 0
    await closed_outside(r, group.id)

    assert r.book.closed_groups == 1
    assert r.book.realized_pnl < 0
    assert r.outside.closed == 1
    assert r.snapshot().last_error.startswith("position_closed_outside")
    assert any("closed outside the bot" in m.getMessage() for m in caplog.records)
    mine = group_orders(world, group.id)
    assert all(o["status"] != "open" for o in mine)  # its adds cancelled, its TP gone
    for _ in range(20):
        await world.tick(r)
    late = [o for o in group_orders(world, group.id) if o["created_ms"] > liquidated_ms]
    assert late == []  # never an order for the liquidated group again
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())
    snap = r.snapshot()
    assert (snap.closed_outside, snap.as_status()["closed_outside"]) == (1, 1)
    assert snap.closed_outside_at is not None
    assert liquidating_at <= snap.closed_outside_at <= time.time()
    assert closed_outside_metric(snap) == 1.0

    again = await restarted(world, r)  # a new process on the same state directory
    assert (again.outside.closed, again.outside.last_at) == (1, snap.closed_outside_at)
    for _ in range(10):
        await world.tick(again)
    snap = again.snapshot()
    assert (snap.closed_outside, snap.as_status()["closed_outside"]) == (1, 1)
    assert snap.closed_outside_at == r.outside.last_at
    assert closed_outside_metric(snap) == 1.0
    assert snap.closed_groups == 1
    late = [o for o in group_orders(world, group.id) if o["created_ms"] > liquidated_ms]
    assert late == []


async def restarted(world: FuturesWorld, r: BotRunner) -> BotRunner:
    """A runner of the same bot on a new connection to the same SQLite (the old one stops)."""
    db = Database.in_dir(world.tmp_path / "state")
    world.dbs.append(db)
    port = world.port()
    await port.balances()
    sub = r.market_data
    assert isinstance(sub, MarketSubscription)
    return BotRunner(world.spec(), db, port, sub,
                     lambda pair: port.rules(pair, sub.rules(pair)), time.time,
                     interval=0.05)  # fmt: skip


def closed_outside_metric(snap: BotSnapshot) -> float:
    """The bot's backfuture_bot_positions_closed_outside_total as a scrape would export it."""
    families = Families(())
    families.add_book(snap)
    (sample,) = families.bot_closed_outside.samples
    assert sample.labels == {"strategy": snap.strategy, "connection": snap.connection}
    return float(sample.value)


async def test_a_position_closed_by_hand_closes_the_group_and_cancels_its_take_profit(
    world: FuturesWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    r.visibility_window = 0.5
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    group = r.book.groups[0]
    hand = OrderRequest(PAIR, Side.SELL, OrderType.MARKET, group.amount, "byhand0000001",
                        reduce_only=True)  # fmt: skip
    await r.port.place(hand)  # a human closes the position on the exchange
    positions = world.sandbox.orders_of(world.api_key)["positions"]
    assert [p["contracts"] for p in positions] == ["0"]
    await closed_outside(r, group.id)

    assert r.outside.closed == 1
    assert r.snapshot().closed_outside == 1
    assert "closed outside the bot" in r.snapshot().last_error
    mine = group_orders(world, group.id)
    assert {o["status"] for o in mine if o["side"] == "sell"} == {"canceled"}  # its TP
    assert all(o["status"] != "open" for o in mine)
    sent = len(group_orders(world, group.id))
    for _ in range(10):
        await world.tick(r)
    assert len(group_orders(world, group.id)) == sent
    bot_orders = [o for o in world.audit() if o["client_order_id"] != "byhand0000001"]
    assert len({o["client_order_id"] for o in bot_orders}) == len(bot_orders)


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


async def test_the_port_reads_the_signed_position_in_base(world: FuturesWorld) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    world.key("kucoin")
    world.sandbox.update_key(world.api_key, permissions=["General", "Futures"])
    port = world.port()
    assert await port.position(PAIR) == 0  # none yet
    await port.place(OrderRequest(PAIR, Side.BUY, OrderType.MARKET, D("0.003"), "pos0000001"))
    assert await port.position(PAIR) == D("0.003")
    await port.place(OrderRequest(PAIR, Side.SELL, OrderType.MARKET, D("0.005"), "pos0000002"))
    assert await port.position(PAIR) == D("-0.002")  # flipped: a short of 2 contracts
    await port.place(OrderRequest(PAIR, Side.BUY, OrderType.MARKET, D("0.002"), "pos0000003",
                                  reduce_only=True))  # fmt: skip
    assert await port.position(PAIR) == 0


async def test_a_position_partly_closed_by_hand_closes_the_group_and_names_the_rest(
    world: FuturesWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    r.visibility_window = 0.5
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    group = r.book.groups[0]
    assert group.amount == D("0.002")
    hand = OrderRequest(PAIR, Side.SELL, OrderType.MARKET, D("0.001"), "byhand0000002",
                        reduce_only=True)  # fmt: skip
    await r.port.place(hand)  # one of the two contracts closed by hand
    await closed_outside(r, group.id)
    assert "the exchange still holds 0.001" in r.snapshot().last_error
    assert all(o["status"] != "open" for o in group_orders(world, group.id))


async def test_the_port_sends_reduce_only_as_the_order_says_whatever_its_side(
    world: FuturesWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    world.key("kucoin")
    world.sandbox.update_key(world.api_key, permissions=["General", "Futures"])
    port = world.port()
    await port.place(OrderRequest(PAIR, Side.BUY, OrderType.MARKET, D("0.002"), "ro00000001"))
    plain = await port.place(
        OrderRequest(PAIR, Side.SELL, OrderType.LIMIT, D("0.001"), "ro00000002", D(70000))
    )
    exit_ = await port.place(
        OrderRequest(PAIR, Side.SELL, OrderType.LIMIT, D("0.001"), "ro00000003", D(70000),
                     reduce_only=True)
    )  # fmt: skip
    assert not await reduce_only(port, plain.order_id)  # a sell is not an exit by its side
    assert await reduce_only(port, exit_.order_id)
    with pytest.raises(OrderRejected) as err:  # a reduce-only buy cannot reduce a long
        await port.place(OrderRequest(PAIR, Side.BUY, OrderType.LIMIT, D("0.001"), "ro00000004",
                                      D(50000), reduce_only=True))  # fmt: skip
    assert "300009" in err.value.detail
