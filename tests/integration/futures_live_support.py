"""Live futures bots through real ccxt against the sandbox, the same on every venue: a table of
the four futures venues (KuCoin, Binance USDⓈ-M, OKX swap, Bybit linear) with what differs
between them, one `FuturesWorld` that builds a venue's key, port and runner, and the scenarios
(long, short, an accepted order adopted, a lost state directory rebuilt, a liquidated long closed
outside) that test_futures_live_venues.py runs on each venue and the per-venue files reuse.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from typing import Any

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.intents import id_separator
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.binance_futures_trading import BinanceFuturesTrading
from backfuture_daemon.exchanges.bybit_futures_trading import BybitFuturesTrading
from backfuture_daemon.exchanges.futures_trading import CcxtFuturesTrading
from backfuture_daemon.exchanges.kucoin_futures_trading import KucoinFuturesTrading
from backfuture_daemon.exchanges.okx_futures_trading import OkxFuturesTrading
from backfuture_daemon.exchanges.venue_ports import futures_port
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, RecoveryParams, Side
from tests.integration.bybit_support import isolate
from tests.integration.connection_test_support import add_key, connection_for
from tests.integration.live_bot_support import (
    PAIR,
    LiveWorld,
    ledger_matches_exchange,
    until,
    until_true,
)
from tests.integration.okx_support import CANARY as OKX_CANARY
from tests.integration.okx_support import PASS_CANARY as OKX_PASS_CANARY
from tests.integration.okx_support import okx_key, swap_raw

LEVERAGE = 3
#: Orders of 150-340 USDT: 2 to 5 steps of 0.001 BTC, or 0.24+ of an OKX contract (0.01 BTC).
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
Row = dict[str, Any]
Ledger = Callable[[LiveWorld, BotRunner, list[dict[str, Any]]], None]


@dataclass(frozen=True)
class FuturesVenue:
    """What a live futures bot sees differently on one venue (the rest is the same)."""

    name: str
    exchange: str  # the sandbox's endpoints
    faults: str  # the sandbox's fault switches
    instrument_id: str
    contract: D  # BTC a contract, as the sandbox's positions count
    long_contracts: str  # the position after the long's base order (150 USDT at ~60,000)
    short_contracts: str
    bot_name: str
    id_limit: int
    make_key: Callable[..., SandboxKey]  # (sandbox, balance, **options)
    order_row: Callable[[CcxtFuturesTrading, dict[str, Any]], Awaitable[Row]]
    reduce_only: Callable[[Row], bool]  # the row's flag, a bool or an error
    row_check: Callable[[Row, int], None]  # what else every order row must show (leverage)
    market_data: str = "futures"
    prepare: Callable[[CcxtFuturesTrading], Awaitable[None]] | None = None  # owner's settings
    ledger: Ledger = ledger_matches_exchange
    client_id: re.Pattern[str] | None = None  # the venue's rule for client ids
    group_tag: Callable[[int], re.Pattern[str]] = lambda g: re.compile(re.escape(f"-g{g}"))
    opened: Callable[[CcxtFuturesTrading], Awaitable[None]] | None = None  # a long's extra look
    canaries: tuple[str, ...] = field(default=())  # never in a bot's status
    liquidates: bool = True  # the sandbox liquidates this venue's positions

    def __str__(self) -> str:
        return self.name


def _kucoin_key(sandbox: Sandbox, balance: D) -> SandboxKey:
    key = add_key(sandbox, "kucoin")
    if balance != D(1000):
        sandbox.update_key(key.api_key, balances={"USDT": balance})
    sandbox.update_key(key.api_key, permissions=["General", "Spot", "Futures"])
    return key


async def _kucoin_row(port: CcxtFuturesTrading, order: dict[str, Any]) -> Row:
    assert isinstance(port, KucoinFuturesTrading)
    raw = await port._client.futuresPrivateGetOrdersOrderId({"orderId": order["order_id"]})
    return dict(raw["data"])


def _kucoin_row_check(row: Row, leverage: int) -> None:  # isolated, at the bot's leverage
    assert (row["marginMode"], row["leverage"]) == ("ISOLATED", str(leverage))


def _binance_key(sandbox: Sandbox, balance: D) -> SandboxKey:
    perms = ("enableReading", "enableSpotAndMarginTrading", "enableFutures")
    key = add_key(sandbox, "binance", permissions=perms)
    if balance != D(1000):
        sandbox.update_key(key.api_key, balances={"USDT": balance})
    return key


async def _binance_row(port: CcxtFuturesTrading, order: dict[str, Any]) -> Row:
    assert isinstance(port, BinanceFuturesTrading)
    raw = await port._client.fapiPrivateGetOrder(
        {"symbol": "BTCUSDT", "orderId": order["order_id"]}
    )
    return dict(raw)


async def _binance_opened(port: CcxtFuturesTrading) -> None:
    assert isinstance(port, BinanceFuturesTrading)
    (risk,) = await port._client.fapiPrivateV2GetPositionRisk({"symbol": "BTCUSDT"})
    assert (risk["marginType"], risk["leverage"], risk["positionAmt"]) == (
        "isolated", "3", "0.002"
    )  # fmt: skip


def binance_ledger(world: LiveWorld, runner: BotRunner, audit: list[dict[str, Any]]) -> None:
    """live_bot_support's check with the audit's fills under Binance's trade ids (the engine's
    hex id as sandbox/binance/trading.trade_number shows it)."""
    binance = [
        {**o, "fills": [{**f, "trade_id": str(int(f["trade_id"], 16) % 10**12)}
                        for f in o["fills"]]}
        for o in audit
    ]  # fmt: skip
    ledger_matches_exchange(world, runner, binance)


def _okx_key(sandbox: Sandbox, balance: D, *, acct_lv: int = 2) -> SandboxKey:
    return okx_key(sandbox, balance=balance, acct_lv=acct_lv)


async def _okx_row(port: CcxtFuturesTrading, order: dict[str, Any]) -> Row:
    assert isinstance(port, OkxFuturesTrading)
    return dict(await swap_raw(port._client, order["client_order_id"]))


def _okx_row_check(row: Row, leverage: int) -> None:
    assert (row["tdMode"], row["lever"]) == ("isolated", str(leverage))


BYBIT_CANARY = "CANARY-bybit-futures-live-secret"
_bybit_keys = itertools.count()


def _bybit_key(sandbox: Sandbox, balance: D) -> SandboxKey:
    """A Bybit key for spot and contract trade, IP-bound."""
    n = next(_bybit_keys)
    perms = {"Spot.SpotTrade", "ContractTrade.Order", "ContractTrade.Position"}
    key = SandboxKey(exchange="bybit", api_key=f"BYBITfut{n:06d}key",
                     api_secret=f"{BYBIT_CANARY}-{n:06d}", permissions=frozenset(perms),
                     ip_whitelist=("127.0.0.1",), balances={"USDT": balance})  # fmt: skip
    sandbox.add_key(key)
    return key


async def _bybit_row(port: CcxtFuturesTrading, order: dict[str, Any]) -> Row:
    """The order as Bybit lists it (real-time by orderId: open or recently closed)."""
    assert isinstance(port, BybitFuturesTrading)
    answer = await port._client.privateGetV5OrderRealtime(
        {"category": "linear", "symbol": "BTCUSDT", "orderId": order["order_id"]}
    )
    (found,) = answer["result"]["list"]
    return dict(found)


async def _bybit_isolate(port: CcxtFuturesTrading) -> None:
    assert isinstance(port, BybitFuturesTrading)
    await isolate(port._client)  # the owner's one-time setting on Bybit


def _is_bool(row: Row) -> bool:
    flag = row["reduceOnly"]
    assert isinstance(flag, bool), row
    return flag


def _no_check(row: Row, leverage: int) -> None:
    pass


def _one_way(row: Row, leverage: int) -> None:
    assert row["positionIdx"] == 0


KUCOIN = FuturesVenue(
    name="kucoin", exchange="kucoin", faults="kucoinfutures", instrument_id="XBTUSDTM",
    contract=D("0.001"), long_contracts="2", short_contracts="-2", bot_name="BTC Futures Live",
    id_limit=40, make_key=_kucoin_key, order_row=_kucoin_row, reduce_only=_is_bool,
    row_check=_kucoin_row_check, market_data="spot", liquidates=False,
)  # fmt: skip
BINANCE = FuturesVenue(
    name="binance", exchange="binance", faults="binance", instrument_id="BTCUSDT",
    contract=D(1), long_contracts="0.002", short_contracts="-0.002",
    bot_name="BTC Binance Futures", id_limit=36, make_key=_binance_key, order_row=_binance_row,
    reduce_only=_is_bool, row_check=_no_check, ledger=binance_ledger, opened=_binance_opened,
)  # fmt: skip
OKX = FuturesVenue(
    name="okx", exchange="okx", faults="okx", instrument_id="BTC-USDT-SWAP", contract=D("0.01"),
    long_contracts="0.24", short_contracts="-0.25", bot_name="BTC Swap Live", id_limit=32,
    make_key=_okx_key, order_row=_okx_row,
    reduce_only=lambda row: {"true": True, "false": False}[row["reduceOnly"]],
    row_check=_okx_row_check, market_data="spot",
    client_id=re.compile(r"^[A-Za-z0-9]{1,32}$"),  # OKX's clOrdId rule
    group_tag=lambda g: re.compile(rf"g{g}[a-z]"),  # after the bot's hex prefix (no 'g' in hex)
    canaries=(OKX_CANARY, OKX_PASS_CANARY),
)  # fmt: skip
BYBIT = FuturesVenue(
    name="bybit", exchange="bybit", faults="bybit", instrument_id="BTCUSDT", contract=D(1),
    long_contracts="0.002", short_contracts="-0.002", bot_name="BTC Bybit Futures", id_limit=36,
    make_key=_bybit_key, order_row=_bybit_row, reduce_only=_is_bool, row_check=_one_way,
    prepare=_bybit_isolate, canaries=(BYBIT_CANARY,),
)  # fmt: skip
VENUES = (KUCOIN, BINANCE, OKX, BYBIT)


class FuturesWorld(LiveWorld):
    """LiveWorld on one futures venue: a key there, the futures port at `leverage` with the
    contract's rules, and the runner (its exits reduce-only, whatever the side)."""

    venue: FuturesVenue = KUCOIN
    leverage = LEVERAGE
    params = PARAMS

    def __init__(self, sandbox: Sandbox, tmp_path: Any, venue: FuturesVenue | None = None) -> None:
        super().__init__(sandbox, tmp_path)
        if venue is not None:
            self.venue = venue
        self.key_options: dict[str, Any] = {}

    def port(self) -> CcxtFuturesTrading:
        port = futures_port(self.connection, self.ctx, self.markets, leverage=self.leverage)
        assert isinstance(port, CcxtFuturesTrading)
        self.ports.append(port)
        return port

    def spec(self, *, may_send: bool = True, block: str = "") -> RunnerSpec:
        v = self.venue
        return RunnerSpec(v.bot_name, self.connection.name, "live", self.params, "USDT",
                          id_limit=v.id_limit, id_sep=id_separator(v.exchange),
                          may_send=may_send, send_block=block, market="futures",
                          leverage=self.leverage)  # fmt: skip

    async def futures_runner(
        self, *, balance: D = D(1000), fresh_db: bool = False, state: str = "state"
    ) -> BotRunner:
        """A runner on a new key (else, with `fresh_db`, the last key and an empty state)."""
        v = self.venue
        if not fresh_db:
            key = v.make_key(self.sandbox, balance, **self.key_options)
            self.api_key, self.exchange = key.api_key, v.exchange
            self.connection = connection_for(self.sandbox, key)
        endpoints = Endpoints(**self.sandbox.endpoints(v.exchange))
        sub = self.hub.subscribe(v.exchange, endpoints, [PAIR], market=v.market_data)
        self.subs.append(sub)
        await until_true(lambda: sub.rules(PAIR) is not None and sub.quote(PAIR) is not None)
        db = Database.in_dir(self.tmp_path / ("fresh" if fresh_db else state))
        self.dbs.append(db)
        port = self.port()
        if v.prepare is not None and not fresh_db:
            await v.prepare(port)
        await port.balances()  # the contract markets are loaded: rules are known
        return BotRunner(self.spec(), db, port, sub,
                         lambda pair: port.rules(pair, sub.rules(pair)), time.time,
                         interval=0.05)  # fmt: skip

    def position(self) -> dict[str, Any]:
        (pos,) = self.sandbox.orders_of(self.api_key)["positions"]
        assert pos["instrument_id"] == self.venue.instrument_id
        return dict(pos)

    def one_order_per_id(self) -> Counter[str]:
        ids = Counter(str(o["client_order_id"]) for o in self.audit())
        assert ids
        assert all(n == 1 for n in ids.values()), ids
        rule = self.venue.client_id
        assert rule is None or all(rule.match(cid) for cid in ids), ids
        return ids

    def ledger(self, r: BotRunner) -> None:
        self.venue.ledger(self, r, self.audit())

    def group_orders(self, group_id: int) -> list[dict[str, Any]]:
        tag = self.venue.group_tag(group_id)
        return [o for o in self.audit() if tag.search(str(o["client_order_id"]))]

    async def reduce_only(self, r: BotRunner, side: str) -> set[bool]:
        """The venue's reduce-only flag of every audited order on `side`, read back through
        the port; every row also passes the venue's own check (margin mode, leverage)."""
        port = r.port
        assert isinstance(port, CcxtFuturesTrading)
        flags = set()
        for o in self.audit():
            if o["side"] == side:
                row = await self.venue.order_row(port, o)
                self.venue.row_check(row, self.leverage)
                flags.add(self.venue.reduce_only(row))
        return flags


def one_order_per_id(world: LiveWorld) -> Counter[str]:
    ids = Counter(str(o["client_order_id"]) for o in world.audit())
    assert ids
    assert all(n == 1 for n in ids.values()), ids
    return ids


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


def resting(r: BotRunner, n: int) -> bool:
    return bool(r.book.groups) and len(r.book.groups[0].open_orders()) == n


def shape(book: GroupBook) -> dict[str, Any]:
    return {
        "committed_quote": book.committed_quote,
        "realized_pnl": book.realized_pnl,
        "closed_groups": book.closed_groups,
        "groups": [
            (g.id, g.pair, g.side, g.base_price, g.amount, g.cost, g.filled_adds,
             sorted((o.key.tag(), o.side.value, o.price, o.amount) for o in g.open_orders()))
            for g in book.groups
        ],
    }  # fmt: skip


async def long_opens_adds_and_closes_at_take_profit(world: FuturesWorld) -> BotRunner:
    """A LONG opens (the position at the bot's leverage), adds twice within its margin and
    closes at take profit; exits reduce-only, entries not; flat after."""
    v = world.venue
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    await until(lambda: resting(r, 3), r)
    pos = world.position()
    assert (pos["contracts"], pos["leverage"]) == (v.long_contracts, "3")
    assert r.book.groups[0].amount == D(v.long_contracts) * v.contract
    port = r.port
    assert isinstance(port, CcxtFuturesTrading)
    if v.opened is not None:
        await v.opened(port)
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 57600]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    pos = world.position()
    assert D(pos["contracts"]) * v.contract == r.book.groups[0].amount
    # margin used: the position's notional / leverage, below the notional cap
    assert D(pos["margin"]) <= r.snapshot().committed_quote / LEVERAGE + D("0.01")
    world.sandbox.set_market(PAIR, path=[[0, 57600], [0.5, 60500]])  # through the take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    world.one_order_per_id()
    world.ledger(r)
    assert all(o["market"] == "futures" and o["instrument_id"] == v.instrument_id for o in audit)
    assert any(o["side"] == "sell" and o["status"] == "filled" for o in audit)
    assert await world.reduce_only(r, "sell") == {True}  # every exit of a long reduce-only
    assert await world.reduce_only(r, "buy") == {False}  # its base and adds never
    assert world.position()["contracts"] == "0"  # flat after the take profit
    assert await port.position(PAIR) == 0  # what the bot reads: nothing held
    status = repr(r.snapshot().as_status())
    assert all(canary not in status for canary in v.canaries)
    return r


async def short_sells_adds_above_and_buys_back(world: FuturesWorld) -> BotRunner:
    """A SHORT opens with a sell, adds above and buys back; its buys reduce-only, sells not."""
    v = world.venue
    world.params = replace(world.params, side=Side.SHORT)
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    await until(lambda: resting(r, 3), r)
    pos = world.position()
    assert (pos["contracts"], pos["leverage"]) == (v.short_contracts, "3")
    port = r.port
    assert isinstance(port, CcxtFuturesTrading)
    assert await port.position(PAIR) == -r.book.groups[0].amount  # the bot reads a short
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 62400]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    assert -D(world.position()["contracts"]) * v.contract == r.book.groups[0].amount
    world.sandbox.set_market(PAIR, path=[[0, 62400], [0.5, 60000]])  # through the buy-back
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    world.one_order_per_id()
    world.ledger(r)
    assert any(o["side"] == "buy" and o["status"] == "filled" for o in audit)
    assert await world.reduce_only(r, "buy") == {True}  # every buy of a short reduce-only
    assert await world.reduce_only(r, "sell") == {False}  # its sells open and add
    assert world.position()["contracts"] == "0"  # flat after the buy-back
    return r


async def accepted_order_whose_answer_never_came_is_adopted(world: FuturesWorld) -> BotRunner:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    faults = world.sandbox.faults(world.venue.faults)
    faults.update({"accept_then_timeout": True})
    try:
        await r.tick()  # the base order is accepted; its answer hangs past the client timeout
    finally:
        faults.update({"accept_then_timeout": False})
    assert "exchange_unavailable" in r.last_error or "timeout" in r.last_error.lower()
    (unknown,) = r.intents.unsettled()
    assert [o["client_order_id"] for o in world.audit()] == [unknown.client_order_id]
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    intent = r.intents.intent(unknown.client_order_id)
    assert intent is not None
    assert intent.state in ("open", "filled")
    assert r.book.groups[0].base_price is not None
    world.one_order_per_id()
    world.ledger(r)
    return r


async def lost_state_directory_is_rebuilt(
    world: FuturesWorld, *, add_price: float = 59000.0
) -> tuple[BotRunner, dict[str, Any]]:
    """A bot with an add filled loses its state directory: a runner on an empty one rebuilds
    the same book (side, groups, committed quote) from the exchange and re-sends nothing.
    `add_price` is where add 1 fills (above 60,000 for a short)."""
    world.sandbox.set_market(PAIR, price=60000.0)
    first = await world.futures_runner()
    await until(lambda: resting(first, 3), first)
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.3, add_price]])  # add 1 fills
    await until(lambda: adds(first) == (1,), first)
    await until(lambda: resting(first, 3), first)
    world.sandbox.set_market(PAIR, price=add_price)
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
    world.ledger(rebuilt)
    sent = len(world.audit())
    for _ in range(3):
        await world.tick(rebuilt)
    assert len(world.audit()) == sent  # it found its orders: nothing re-sent
    world.one_order_per_id()
    world.ledger(rebuilt)
    return rebuilt, before


async def liquidated_long_is_closed_outside_and_never_traded_again(
    world: FuturesWorld,
) -> BotRunner:
    """A long at 5x liquidated by the sandbox is closed in the book outside the bot; its orders
    are gone and the group never gets another order."""
    world.leverage = 5
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    r.visibility_window = 0.5
    await until(lambda: resting(r, 3), r)
    group = r.book.groups[0]
    # through add 1 (59,100) to ~58,600, then far below the liquidation price (~47,000)
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.4, 58600]])
    await until(lambda: adds(r) == (1,), r)
    await until(lambda: len(r.book.groups[0].open_orders()) >= 2, r)
    world.sandbox.set_market(PAIR, price=44000.0)
    pos = world.position()
    assert pos["contracts"] == "0"
    assert pos["liquidated_at_ms"]
    liquidated_ms = pos["liquidated_at_ms"][0]
    port = r.port
    assert isinstance(port, CcxtFuturesTrading)
    assert await port.position(PAIR) == D(0)  # what the bot reads: nothing held
    await until(lambda: all(g.id != group.id for g in r.book.groups), r, seconds=30)

    assert r.book.closed_groups == 1
    assert r.book.realized_pnl < 0
    assert r.outside.closed == 1
    assert (r.snapshot().closed_outside, r.snapshot().as_status()["closed_outside"]) == (1, 1)
    assert r.snapshot().last_error.startswith("position_closed_outside")
    mine = world.group_orders(group.id)
    assert mine
    assert all(o["status"] != "open" for o in mine)  # its adds cancelled, its TP gone
    for _ in range(20):
        await world.tick(r)
    late = [o for o in world.group_orders(group.id) if o["created_ms"] > liquidated_ms]
    assert late == []  # never an order for the liquidated group again
    world.one_order_per_id()
    world.ledger(r)
    return r
