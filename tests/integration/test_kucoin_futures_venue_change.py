"""A leverage change in git for a live futures bot on KuCoin (sandbox, real ccxt, through
bots/supervisor.py): while its long group is open the change is held (the runner keeps the
leverage-3 port, CLOSE_ONLY, /status's hold_reason says why); after the take profit the runner
on a leverage-5 port takes over the same book and its next position is at leverage 5. Every
order went out once, at the leverage of the group it belongs to.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.runner import RunnerSpec
from backfuture_daemon.bots.supervisor import BotSupervisor
from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.kucoin_futures_trading import KucoinFuturesTrading
from backfuture_daemon.exchanges.port import TradingPort
from backfuture_daemon.exchanges.venue_ports import futures_port
from backfuture_daemon.strategy.params import Gate, MarketRules
from tests.integration.futures_live_support import FuturesWorld, one_order_per_id
from tests.integration.live_bot_support import PAIR, until_true

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(sandbox: Any, tmp_path: Any) -> Any:
    w = FuturesWorld(sandbox, tmp_path)
    try:
        yield w
    finally:
        await w.close()


async def test_a_leverage_change_waits_for_the_open_group_then_trades_at_the_new_leverage(
    world: FuturesWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    world.key("kucoin")
    world.sandbox.update_key(world.api_key, permissions=["General", "Futures"])
    sub = world.hub.subscribe("kucoin", Endpoints(**world.sandbox.endpoints("kucoin")), [PAIR])
    world.subs.append(sub)
    await until_true(lambda: sub.rules(PAIR) is not None and sub.quote(PAIR) is not None)
    ports: dict[int, KucoinFuturesTrading] = {}

    def live_port(spec: RunnerSpec) -> TradingPort:
        port = ports.get(spec.leverage)
        if port is None:
            port = futures_port(world.connection, world.ctx, world.markets,
                                leverage=spec.leverage)  # fmt: skip
            ports[spec.leverage] = port
            world.ports.append(port)
        return port

    def rules(spec: RunnerSpec, pair: str) -> MarketRules | None:
        port = ports.get(spec.leverage)
        return port.rules(pair, sub.rules(pair)) if port is not None else None

    db = Database.in_dir(world.tmp_path / "state")
    world.dbs.append(db)
    sup = BotSupervisor(db, market_data=lambda _: sub, rules=rules, clock=time.time,
                        interval=0.05, live_port=live_port, visibility_window=1.0)  # fmt: skip
    world.leverage = 3
    spec3 = world.spec()
    await live_port(spec3).balances()  # contract markets loaded: rules known
    try:
        sup.apply(spec3, Gate.RUN)
        first = sup.runners[spec3.strategy]
        await until_true(lambda: bool(first.book.groups) and len(first.book.groups[0].orders) == 3,
                         20)  # fmt: skip
        group = first.book.groups[0]
        spec5 = replace(spec3, leverage=5)
        sup.apply(spec5, Gate.RUN)  # git: leverage 5
        assert sup.runners[spec3.strategy] is first
        assert (first.spec.leverage, first.gate) == (3, Gate.CLOSE_ONLY)
        assert "futures:5 held" in first.snapshot().hold_reason
        assert "on futures:3" in first.snapshot().hold_reason
        tp = next(o.price for o in group.orders if o.key.purpose.value == "take_profit")
        assert tp is not None
        world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, float(tp) + 200]])
        await until_true(lambda: sup.runners[spec3.strategy] is not first, 20)
        second = sup.runners[spec3.strategy]
        assert (second.spec.leverage, second.gate, second.venue_hold) == (5, Gate.RUN, "")
        world.sandbox.set_market(PAIR, price=float(tp) + 200)
        await until_true(lambda: any(g.id > group.id and g.amount > 0
                                     for g in second.book.groups), 20)  # fmt: skip
        assert second.book.closed_groups == 1
        (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
        assert pos["leverage"] == "5"  # the new group's position, at the new leverage
        for o in world.audit():
            raw = await ports[3]._client.futuresPrivateGetOrdersOrderId({"orderId": o["order_id"]})
            mine = f"-g{group.id}" in o["client_order_id"]
            assert raw["data"]["leverage"] == ("3" if mine else "5")
        one_order_per_id(world)
    finally:
        await sup.shutdown()
        await asyncio.sleep(0)
