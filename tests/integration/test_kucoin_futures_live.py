"""A live LONG bot on KuCoin futures (XBTUSDTM, isolated margin, leverage 3) through real ccxt
against the sandbox: it opens, adds and closes at take profit in whole contracts; the sandbox's
audit shows one exchange order per intent, every fill in the bot's ledger, the position at the
bot's leverage and its take profits reduce-only. An accepted order whose answer never came is
adopted without a duplicate; a lost state directory is rebuilt from the exchange with the same
groups and committed quote; the funds check asks for margin (notional / leverage) only.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.kucoin_futures_trading import KucoinFuturesTrading
from backfuture_daemon.exchanges.venue_ports import futures_port
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, RecoveryParams, Side
from tests.integration.live_bot_support import (
    PAIR,
    LiveWorld,
    ledger_matches_exchange,
    until,
    until_true,
)

pytestmark = pytest.mark.integration
LEVERAGE = 3
#: XBTUSDTM is 0.001 BTC a contract (~60 USDT here): orders of 150-340 USDT, 2 to 5 contracts.
PARAMS = DcaParams(
    pairs=(PAIR,),
    margin_limit=D(1000),
    max_active_groups=1,
    sizing=GroupSizing(
        base_order_quote=D(150),
        add_order_quote=D(150),
        max_adds=3,
        max_active_adds=2,
        step_pct=D("1.5"),
        step_scale=D("1.2"),
        volume_scale=D("1.5"),
        take_profit_pct=D("1.2"),
        min_avg_improvement_pct=D("0.3"),
    ),
    recovery=RecoveryParams(enabled=True, adds_used_ratio=D("0.6"), take_profit_pct=D("0.4")),
)


class FuturesWorld(LiveWorld):
    """LiveWorld with the futures port at LEVERAGE and the contract's rules (whole lots); the
    runner marks its exits reduce-only, whatever the side."""

    leverage = LEVERAGE
    params = PARAMS

    def port(self) -> KucoinFuturesTrading:
        port = futures_port(self.connection, self.ctx, self.markets, leverage=self.leverage)
        self.ports.append(port)
        return port

    def spec(self, *, may_send: bool = True, block: str = "") -> RunnerSpec:
        return RunnerSpec("BTC Futures Live", self.connection.name, "live", self.params, "USDT",
                          id_limit=40, may_send=may_send, send_block=block, market="futures",
                          leverage=self.leverage)  # fmt: skip

    async def futures_runner(
        self, *, balance: D = D(1000), fresh_db: bool = False, state: str = "state"
    ) -> BotRunner:
        if not fresh_db:
            self.key("kucoin", balance=balance)
            self.sandbox.update_key(self.api_key, permissions=["General", "Spot", "Futures"])
        sub = self.hub.subscribe("kucoin", Endpoints(**self.sandbox.endpoints("kucoin")), [PAIR])
        self.subs.append(sub)
        await until_true(lambda: sub.rules(PAIR) is not None and sub.quote(PAIR) is not None)
        db = Database.in_dir(self.tmp_path / ("fresh" if fresh_db else state))
        self.dbs.append(db)
        port = self.port()
        await port.balances()  # the contract markets are loaded: rules are known
        return BotRunner(self.spec(), db, port, sub,
                         lambda pair: port.rules(pair, sub.rules(pair)), time.time,
                         interval=0.05)  # fmt: skip


@pytest.fixture
async def world(sandbox: Any, tmp_path: Any) -> Any:
    w = FuturesWorld(sandbox, tmp_path)
    try:
        yield w
    finally:
        await w.close()


def one_order_per_id(world: LiveWorld) -> Counter[str]:
    ids = Counter(str(o["client_order_id"]) for o in world.audit())
    assert ids
    assert all(n == 1 for n in ids.values()), ids
    return ids


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


def shape(book: GroupBook) -> dict[str, Any]:
    return {
        "committed_quote": book.committed_quote,
        "realized_pnl": book.realized_pnl,
        "closed_groups": book.closed_groups,
        "groups": [
            (g.id, g.pair, g.base_price, g.amount, g.cost, g.filled_adds,
             sorted((o.key.tag(), o.side.value, o.price, o.amount) for o in g.open_orders()))
            for g in book.groups
        ],
    }  # fmt: skip


async def test_a_live_futures_long_opens_adds_and_closes_at_take_profit(
    world: FuturesWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    group = r.book.groups[0]
    assert group.amount == D("0.002")  # 150 USDT at ~60,300 -> 2 whole contracts
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert (pos["instrument_id"], pos["contracts"], pos["leverage"]) == ("XBTUSDTM", "2", "3")
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 57600]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    contracts = D(pos["contracts"])
    assert contracts * D("0.001") == r.book.groups[0].amount
    # margin used: the position's notional / leverage, below the notional cap
    assert D(pos["margin"]) <= r.snapshot().committed_quote / LEVERAGE + D("0.01")
    world.sandbox.set_market(PAIR, path=[[0, 57600], [0.5, 60500]])  # through the take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    one_order_per_id(world)
    ledger_matches_exchange(world, r, audit)
    assert all(o["market"] == "futures" for o in audit)
    closing = [o for o in audit if o["side"] == "sell"]
    assert any(o["status"] == "filled" for o in closing)
    port = r.port
    assert isinstance(port, KucoinFuturesTrading)
    for o in closing:  # every sell of a long bot went reduce-only, isolated, at its leverage
        raw = await port._client.futuresPrivateGetOrdersOrderId({"orderId": o["order_id"]})
        assert (raw["data"]["reduceOnly"], raw["data"]["marginMode"]) == (True, "ISOLATED")
        assert raw["data"]["leverage"] == "3"
    positions = world.sandbox.orders_of(world.api_key)["positions"]
    assert [p["contracts"] for p in positions] == ["0"]  # flat after the take profit


async def test_an_accepted_order_whose_answer_never_came_is_adopted(world: FuturesWorld) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    world.sandbox.faults("kucoinfutures").update({"accept_then_timeout": True})
    try:
        await r.tick()  # the base order is accepted; its answer hangs past the client timeout
    finally:
        world.sandbox.faults("kucoinfutures").update({"accept_then_timeout": False})
    assert "exchange_unavailable" in r.last_error or "timeout" in r.last_error.lower()
    (unknown,) = r.intents.unsettled()
    assert [o["client_order_id"] for o in world.audit()] == [unknown.client_order_id]
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    intent = r.intents.intent(unknown.client_order_id)
    assert intent is not None
    assert intent.state in ("open", "filled")
    assert r.book.groups[0].base_price is not None
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())


async def test_a_lost_state_directory_is_rebuilt_from_the_exchange(world: FuturesWorld) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    first = await world.futures_runner()
    await until(lambda: bool(first.book.groups) and len(first.book.groups[0].open_orders()) == 3,
                first)  # fmt: skip
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.3, 59000]])  # add 1 fills
    await until(lambda: adds(first) == (1,), first)
    await until(lambda: len(first.book.groups[0].open_orders()) == 3, first)
    world.sandbox.set_market(PAIR, price=59000.0)
    for _ in range(3):
        await world.tick(first)
    before = shape(first.book)
    assert before["groups"]
    assert before["committed_quote"] > 0

    rebuilt = await world.futures_runner(fresh_db=True)  # the state directory is gone
    assert rebuilt.needs_rebuild
    await world.tick(rebuilt)
    assert not rebuilt.needs_rebuild
    assert shape(rebuilt.book) == before
    assert rebuilt.book.committed_quote == first.book.committed_quote
    ledger_matches_exchange(world, rebuilt, world.audit())
    sent = len(world.audit())
    for _ in range(3):
        await world.tick(rebuilt)
    assert len(world.audit()) == sent  # it found its orders: nothing re-sent
    one_order_per_id(world)


async def test_the_funds_check_asks_for_margin_not_notional(world: FuturesWorld) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    world.leverage = 1
    held = await world.futures_runner(balance=D(100))  # 1x: 150 USDT notional > 100 free
    for _ in range(3):
        await world.tick(held)
    assert world.audit() == []
    assert held.snapshot().hold_reason.startswith("insufficient_funds")

    world.leverage = LEVERAGE
    r = await world.futures_runner(balance=D(100), state="second")  # 3x: ~40 USDT margin fits
    await until(lambda: bool(r.book.groups) and r.book.groups[0].base_price is not None, r)
    assert r.snapshot().hold_reason == ""
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert pos["leverage"] == "3"


async def test_a_live_futures_short_opens_with_a_sell_adds_above_and_buys_back(
    world: FuturesWorld,
) -> None:
    world.params = replace(PARAMS, side=Side.SHORT)
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert (pos["contracts"], pos["leverage"]) == ("-2", "3")  # a short of 2 contracts
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 62400]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert -D(pos["contracts"]) * D("0.001") == r.book.groups[0].amount
    world.sandbox.set_market(PAIR, path=[[0, 62400], [0.5, 60000]])  # through the buy-back
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    one_order_per_id(world)
    ledger_matches_exchange(world, r, audit)
    port = r.port
    assert isinstance(port, KucoinFuturesTrading)
    buys = [o for o in audit if o["side"] == "buy"]
    assert any(o["status"] == "filled" for o in buys)
    for o in buys:  # every buy of a short bot went reduce-only
        raw = await port._client.futuresPrivateGetOrdersOrderId({"orderId": o["order_id"]})
        assert raw["data"]["reduceOnly"] is True
    sells = [o for o in audit if o["side"] == "sell"]
    for o in sells:  # its sells open and add: never reduce-only
        raw = await port._client.futuresPrivateGetOrdersOrderId({"orderId": o["order_id"]})
        assert raw["data"]["reduceOnly"] is False


async def test_a_lost_state_directory_of_a_short_is_rebuilt_as_a_short(
    world: FuturesWorld,
) -> None:
    world.params = replace(PARAMS, side=Side.SHORT)
    world.sandbox.set_market(PAIR, price=60000.0)
    first = await world.futures_runner()
    await until(lambda: bool(first.book.groups) and len(first.book.groups[0].open_orders()) == 3,
                first)  # fmt: skip
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.3, 61000]])  # add 1 fills
    await until(lambda: adds(first) == (1,), first)
    await until(lambda: len(first.book.groups[0].open_orders()) == 3, first)
    world.sandbox.set_market(PAIR, price=61000.0)
    for _ in range(3):
        await world.tick(first)
    before = shape(first.book)

    rebuilt = await world.futures_runner(fresh_db=True)
    await world.tick(rebuilt)
    assert shape(rebuilt.book) == before
    assert [g.side for g in rebuilt.book.groups] == [Side.SHORT]
    sent = len(world.audit())
    for _ in range(3):
        await world.tick(rebuilt)
    assert len(world.audit()) == sent
    ledger_matches_exchange(world, rebuilt, world.audit())
