"""Live bots on Bybit USDT linear perpetuals (BTCUSDT, unified account in isolated margin,
one-way mode, leverage 3) through real ccxt against the sandbox's Bybit venue, deciding on the
perpetual's own market data: a long opens, adds and closes at take profit; a short opens with a
sell, adds above and buys back; an accepted order whose answer never came is adopted without a
duplicate; a lost state directory is rebuilt from Bybit's orders and executions; a long
liquidated by the sandbox is closed in the book as closed outside the bot, never added to. The
sandbox's audit is the judge: one order per orderLinkId, every fill in the ledger once, the
positions at the bot's leverage, exits reduce-only.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.bybit_futures_trading import BybitFuturesTrading
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.strategy.params import Side
from tests.integration.bybit_support import isolate
from tests.integration.connection_test_support import connection_for
from tests.integration.live_bot_support import PAIR, ledger_matches_exchange, until, until_true
from tests.integration.test_kucoin_futures_live import PARAMS, FuturesWorld, adds, shape

pytestmark = pytest.mark.integration
CANARY = "CANARY-bybit-futures-live-secret"
_keys = itertools.count()


class BybitFuturesWorld(FuturesWorld):
    """FuturesWorld on a Bybit key (spot + contract trade, IP-bound), its unified account set to
    isolated margin, the bot reading the perpetual's market data (market futures)."""

    def key(self, exchange: str, *, hf: bool = False, balance: D = D(1000)) -> None:
        assert exchange == "bybit"
        n = next(_keys)
        perms = {"Spot.SpotTrade", "ContractTrade.Order", "ContractTrade.Position"}
        key = SandboxKey(exchange="bybit", api_key=f"BYBITfut{n:06d}key",
                         api_secret=f"{CANARY}-{n:06d}", permissions=frozenset(perms),
                         ip_whitelist=("127.0.0.1",), balances={"USDT": balance})  # fmt: skip
        self.sandbox.add_key(key)
        self.api_key, self.exchange = key.api_key, "bybit"
        self.connection = connection_for(self.sandbox, key)

    def spec(self, *, may_send: bool = True, block: str = "") -> RunnerSpec:
        return RunnerSpec("BTC Bybit Futures", self.connection.name, "live", self.params, "USDT",
                          id_limit=36, may_send=may_send, send_block=block, market="futures",
                          leverage=self.leverage)  # fmt: skip

    async def futures_runner(
        self, *, balance: D = D(1000), fresh_db: bool = False, state: str = "state"
    ) -> BotRunner:
        if not fresh_db:
            self.key("bybit", balance=balance)
        endpoints = Endpoints(**self.sandbox.endpoints("bybit"))
        sub = self.hub.subscribe("bybit", endpoints, [PAIR], market="futures")
        self.subs.append(sub)
        await until_true(lambda: sub.rules(PAIR) is not None and sub.quote(PAIR) is not None)
        db = Database.in_dir(self.tmp_path / ("fresh" if fresh_db else state))
        self.dbs.append(db)
        port = self.port()
        assert isinstance(port, BybitFuturesTrading)
        if not fresh_db:
            await isolate(port._client)  # the owner's one-time setting on Bybit
        await port.balances()  # the linear markets are loaded: rules are known
        return BotRunner(self.spec(), db, port, sub,
                         lambda pair: port.rules(pair, sub.rules(pair)), time.time,
                         interval=0.05)  # fmt: skip


@pytest.fixture
async def world(sandbox: Any, tmp_path: Any) -> Any:
    w = BybitFuturesWorld(sandbox, tmp_path)
    try:
        yield w
    finally:
        await w.close()


def one_order_per_id(world: FuturesWorld) -> None:
    ids = [str(o["client_order_id"]) for o in world.audit()]
    assert ids
    assert len(ids) == len(set(ids)), ids


async def row(port: object, order_id: str) -> dict[str, Any]:
    """The order as Bybit lists it (real-time by orderId: open or recently closed)."""
    assert isinstance(port, BybitFuturesTrading)
    answer = await port._client.privateGetV5OrderRealtime(
        {"category": "linear", "symbol": "BTCUSDT", "orderId": order_id}
    )
    (found,) = answer["result"]["list"]
    return dict(found)


async def test_a_live_bybit_long_opens_adds_and_closes_at_take_profit(
    world: BybitFuturesWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    assert isinstance(r.port, BybitFuturesTrading)
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    group = r.book.groups[0]
    assert group.amount == D("0.002")  # 150 USDT at ~60,000 -> down to the 0.001 qtyStep
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert (pos["instrument_id"], pos["contracts"], pos["leverage"]) == ("BTCUSDT", "0.002", "3")
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 57600]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert D(pos["contracts"]) == r.book.groups[0].amount
    assert D(pos["margin"]) <= r.snapshot().committed_quote / 3 + D("0.01")
    world.sandbox.set_market(PAIR, path=[[0, 57600], [0.5, 60500]])  # through the take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    one_order_per_id(world)
    ledger_matches_exchange(world, r, audit)
    assert all(o["market"] == "futures" and o["instrument_id"] == "BTCUSDT" for o in audit)
    sells = [o for o in audit if o["side"] == "sell"]
    assert any(o["status"] == "filled" for o in sells)
    for o in sells:  # every sell of a long bot went reduce-only, one-way
        raw = await row(r.port, o["order_id"])
        assert (raw["reduceOnly"], raw["positionIdx"]) == (True, 0)
    for o in (o for o in audit if o["side"] == "buy"):
        assert (await row(r.port, o["order_id"]))["reduceOnly"] is False
    positions = world.sandbox.orders_of(world.api_key)["positions"]
    assert [p["contracts"] for p in positions] == ["0"]
    assert await r.port.position(PAIR) == 0


async def test_a_live_bybit_short_sells_adds_above_and_buys_back(world: BybitFuturesWorld) -> None:
    world.params = replace(PARAMS, side=Side.SHORT)
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert (pos["contracts"], pos["leverage"]) == ("-0.002", "3")
    assert await r.port.position(PAIR) == D("-0.002")
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 62400]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert -D(pos["contracts"]) == r.book.groups[0].amount
    world.sandbox.set_market(PAIR, path=[[0, 62400], [0.5, 60000]])  # through the buy-back
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0
    audit = world.audit()
    one_order_per_id(world)
    ledger_matches_exchange(world, r, audit)
    buys = [o for o in audit if o["side"] == "buy"]
    assert any(o["status"] == "filled" for o in buys)
    for o in buys:
        assert (await row(r.port, o["order_id"]))["reduceOnly"] is True
    for o in (o for o in audit if o["side"] == "sell"):
        assert (await row(r.port, o["order_id"]))["reduceOnly"] is False


async def test_an_accepted_order_whose_answer_never_came_is_adopted(
    world: BybitFuturesWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    world.sandbox.faults("bybit").update({"accept_then_timeout": True})
    try:
        await r.tick()  # the base order is accepted; its answer hangs past the client timeout
    finally:
        world.sandbox.faults("bybit").update({"accept_then_timeout": False})
    assert "exchange_unavailable" in r.last_error or "timeout" in r.last_error.lower()
    (unknown,) = r.intents.unsettled()
    assert [o["client_order_id"] for o in world.audit()] == [unknown.client_order_id]
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    intent = r.intents.intent(unknown.client_order_id)
    assert intent is not None
    assert intent.state in ("open", "filled")
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())


async def test_an_empty_state_directory_is_rebuilt_from_bybit(world: BybitFuturesWorld) -> None:
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
    ledger_matches_exchange(world, rebuilt, world.audit())
    sent = len(world.audit())
    for _ in range(3):
        await world.tick(rebuilt)
    assert len(world.audit()) == sent  # it found its orders: nothing re-sent
    one_order_per_id(world)


async def test_a_liquidated_long_is_closed_outside_the_bot_and_never_added_to(
    world: BybitFuturesWorld,
) -> None:
    world.leverage = 5
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    r.visibility_window = 0.5
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    group = r.book.groups[0]
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.4, 58600]])  # through add 1
    await until(lambda: adds(r) == (1,), r)
    await until(lambda: len(r.book.groups[0].open_orders()) >= 2, r)
    world.sandbox.set_market(PAIR, price=44000.0)  # far below the liquidation price (~48,000)
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert (pos["contracts"], bool(pos["liquidated_at_ms"])) == ("0", True)
    liquidated_ms = pos["liquidated_at_ms"][0]
    await until(lambda: all(g.id != group.id for g in r.book.groups), r, seconds=30)
    assert r.book.closed_groups == 1
    assert r.book.realized_pnl < 0
    assert r.outside.closed == 1
    assert r.snapshot().last_error.startswith("position_closed_outside")
    for _ in range(20):
        await world.tick(r)
    tag = f"-g{group.id}"
    mine = [o for o in world.audit() if tag in str(o["client_order_id"])]
    assert mine
    assert all(o["status"] != "open" for o in mine)
    assert [o for o in mine if o["created_ms"] > liquidated_ms] == []
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())
    assert (r.snapshot().closed_outside, r.snapshot().as_status()["closed_outside"]) == (1, 1)
