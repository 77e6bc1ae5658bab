"""Live bots on Binance USDⓈ-M (BTCUSDT, isolated margin, leverage 3, one-way mode) through real
ccxt against the sandbox, deciding on the perpetual's own market data: a LONG opens, adds and
closes at take profit; a SHORT opens with a sell and buys back; every exit went reduce-only and
the opening orders did not; the audit shows one exchange order per client id and every fill in
the bot's ledger. An accepted order whose answer never came is adopted without a duplicate; a
lost state directory is rebuilt from the exchange (allOrders + userTrades); a long liquidated by
the sandbox is closed in the book as closed outside the bot and never traded again.
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
from backfuture_daemon.exchanges.binance_futures_trading import BinanceFuturesTrading
from backfuture_daemon.exchanges.venue_ports import futures_port
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, RecoveryParams, Side
from tests.integration.connection_test_support import add_key, connection_for
from tests.integration.live_bot_support import PAIR, LiveWorld, until, until_true
from tests.integration.live_bot_support import ledger_matches_exchange as ledger_matches

pytestmark = pytest.mark.integration
LEVERAGE = 3
PERMS = ("enableReading", "enableSpotAndMarginTrading", "enableFutures")
#: BTCUSDT trades in steps of 0.001 BTC (~60 USDT here): orders of 150-340 USDT.
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


class BinanceWorld(LiveWorld):
    """LiveWorld on a Binance key with futures enabled, the USDⓈ-M port at `leverage` and the
    perpetual's market data (fapi ticker + depth)."""

    leverage = LEVERAGE
    params = PARAMS

    def binance_key(self, balance: D) -> None:
        key = add_key(self.sandbox, "binance", permissions=PERMS)
        if balance != D(1000):
            self.sandbox.update_key(key.api_key, balances={"USDT": balance})
        self.api_key, self.exchange = key.api_key, "binance"
        self.connection = connection_for(self.sandbox, key)

    def port(self) -> BinanceFuturesTrading:
        port = futures_port(self.connection, self.ctx, self.markets, leverage=self.leverage)
        assert isinstance(port, BinanceFuturesTrading)
        self.ports.append(port)
        return port

    def spec(self, *, may_send: bool = True, block: str = "") -> RunnerSpec:
        return RunnerSpec("BTC Binance Futures", self.connection.name, "live", self.params,
                          "USDT", id_limit=36, may_send=may_send, send_block=block,
                          market="futures", leverage=self.leverage)  # fmt: skip

    async def futures_runner(
        self, *, balance: D = D(1000), fresh_db: bool = False, state: str = "state"
    ) -> BotRunner:
        if not fresh_db:
            self.binance_key(balance)
        endpoints = Endpoints(**self.sandbox.endpoints("binance"))
        sub = self.hub.subscribe("binance", endpoints, [PAIR], market="futures")
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
    w = BinanceWorld(sandbox, tmp_path)
    try:
        yield w
    finally:
        await w.close()


def one_order_per_id(world: LiveWorld) -> Counter[str]:
    ids = Counter(str(o["client_order_id"]) for o in world.audit())
    assert ids
    assert all(n == 1 for n in ids.values()), ids
    return ids


def ledger_matches_exchange(
    world: LiveWorld, runner: BotRunner, audit: list[dict[str, Any]]
) -> None:
    """live_bot_support's check with the audit's fills under Binance's trade ids (the engine's
    hex id as sandbox/binance/trading.trade_number shows it)."""
    binance = [
        {**o, "fills": [{**f, "trade_id": str(int(f["trade_id"], 16) % 10**12)}
                        for f in o["fills"]]}
        for o in audit
    ]  # fmt: skip
    ledger_matches(world, runner, binance)


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


async def raw_order(port: object, order_id: str) -> dict[str, Any]:
    assert isinstance(port, BinanceFuturesTrading)
    raw: dict[str, Any] = await port._client.fapiPrivateGetOrder(
        {"symbol": "BTCUSDT", "orderId": order_id}
    )
    return raw


async def test_a_live_long_opens_adds_and_closes_at_take_profit(world: BinanceWorld) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    group = r.book.groups[0]
    assert group.amount == D("0.002")  # 150 USDT at ~60,000 -> two steps of 0.001
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert (pos["instrument_id"], pos["contracts"], pos["leverage"]) == ("BTCUSDT", "0.002", "3")
    port = r.port
    assert isinstance(port, BinanceFuturesTrading)
    (risk,) = await port._client.fapiPrivateV2GetPositionRisk({"symbol": "BTCUSDT"})
    assert (risk["marginType"], risk["leverage"], risk["positionAmt"]) == (
        "isolated", "3", "0.002"
    )  # fmt: skip
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 57600]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert D(pos["contracts"]) == r.book.groups[0].amount
    assert D(pos["margin"]) <= r.snapshot().committed_quote / LEVERAGE + D("0.01")
    world.sandbox.set_market(PAIR, path=[[0, 57600], [0.5, 60500]])  # through the take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    one_order_per_id(world)
    ledger_matches_exchange(world, r, audit)
    assert all(o["market"] == "futures" and o["instrument_id"] == "BTCUSDT" for o in audit)
    closing = [o for o in audit if o["side"] == "sell"]
    assert any(o["status"] == "filled" for o in closing)
    for o in closing:  # every sell of a long bot went reduce-only
        assert (await raw_order(port, o["order_id"]))["reduceOnly"] is True
    for o in audit:
        if o["side"] == "buy":  # its base and adds opened: never reduce-only
            assert (await raw_order(port, o["order_id"]))["reduceOnly"] is False
    positions = world.sandbox.orders_of(world.api_key)["positions"]
    assert [p["contracts"] for p in positions] == ["0"]  # flat after the take profit


async def test_a_live_short_opens_with_a_sell_adds_above_and_buys_back(
    world: BinanceWorld,
) -> None:
    world.params = replace(PARAMS, side=Side.SHORT)
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert (pos["contracts"], pos["leverage"]) == ("-0.002", "3")
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
    for o in buys:  # every buy of a short bot went reduce-only
        assert (await raw_order(r.port, o["order_id"]))["reduceOnly"] is True
    for o in (o for o in audit if o["side"] == "sell"):  # its sells open and add
        assert (await raw_order(r.port, o["order_id"]))["reduceOnly"] is False


async def test_an_accepted_order_whose_answer_never_came_is_adopted(world: BinanceWorld) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    world.sandbox.faults("binance").update({"accept_then_timeout": True})
    try:
        await r.tick()  # the base order is accepted; its answer hangs past the client timeout
    finally:
        world.sandbox.faults("binance").update({"accept_then_timeout": False})
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


async def test_a_lost_state_directory_is_rebuilt_from_the_exchange(world: BinanceWorld) -> None:
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
    world: BinanceWorld,
) -> None:
    world.leverage = 5
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    r.visibility_window = 0.5
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    group = r.book.groups[0]
    # through add 1 (59,100) to ~58,600, then far below the liquidation price (~47,000)
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.4, 58600]])
    await until(lambda: adds(r) == (1,), r)
    await until(lambda: len(r.book.groups[0].open_orders()) >= 2, r)
    world.sandbox.set_market(PAIR, price=44000.0)
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert pos["contracts"] == "0"
    assert pos["liquidated_at_ms"]
    liquidated_ms = pos["liquidated_at_ms"][0]
    await until(lambda: all(g.id != group.id for g in r.book.groups), r, seconds=30)

    assert r.book.closed_groups == 1
    assert r.book.realized_pnl < 0
    assert r.outside.closed == 1
    assert r.snapshot().closed_outside == 1
    assert r.snapshot().last_error.startswith("position_closed_outside")
    tag = f"-g{group.id}"
    mine = [o for o in world.audit() if tag in o["client_order_id"]]
    assert mine
    assert all(o["status"] != "open" for o in mine)  # its adds cancelled, its TP gone
    for _ in range(20):
        await world.tick(r)
    late = [o for o in world.audit() if tag in o["client_order_id"]
            and o["created_ms"] > liquidated_ms]  # fmt: skip
    assert late == []  # never an order for the liquidated group again
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())
