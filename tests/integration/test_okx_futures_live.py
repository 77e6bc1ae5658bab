"""Live bots on OKX USDT swaps (BTC-USDT-SWAP, isolated margin, leverage 3, net mode) through
real ccxt against the sandbox (bots/runner.py with exchanges/okx_futures_trading.py): a LONG
bot opens, adds and closes at take profit in lots of 0.0001 BTC, its exits reduce-only and its
entries not; a SHORT bot sells to open and buys back reduce-only; an order accepted whose answer
never came is adopted without a second order; an empty state directory is rebuilt from OKX's
order and fill history with the same groups; a long liquidated by the exchange is closed in the
book outside the bot (bots/outside.py) and never traded again; a Spot-mode (acctLv 1) account
and a long/short position mode never get an order (each refusal says what to switch). Every
client id is OKX's clOrdId (letters and digits, at most 32); the sandbox's audit is the judge.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.intents import id_separator
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.okx_futures_trading import OkxFuturesTrading
from backfuture_daemon.exchanges.venue_ports import futures_port
from backfuture_daemon.logs import FIELDS_ATTR
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, RecoveryParams, Side
from tests.integration.connection_test_support import connection_for
from tests.integration.live_bot_support import (
    PAIR,
    LiveWorld,
    ledger_matches_exchange,
    until,
    until_true,
)
from tests.integration.okx_support import CANARY, PASS_CANARY, okx_key, swap_raw

pytestmark = pytest.mark.integration
LEVERAGE = 3
OKX_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
#: BTC-USDT-SWAP is 0.01 BTC a contract, traded in 0.01 of a contract (~6 USDT here).
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


class OkxSwapWorld(LiveWorld):
    """LiveWorld on an OKX key with the swap port at `leverage` and the contract's rules; the
    bots make OKX's client ids (no separator, at most 32)."""

    leverage = LEVERAGE
    params = PARAMS

    def key(
        self, exchange: str = "okx", *, hf: bool = False, balance: D = D(1000), acct_lv: int = 2
    ) -> None:
        key = okx_key(self.sandbox, balance=balance, acct_lv=acct_lv)
        self.api_key, self.exchange = key.api_key, "okx"
        self.connection = connection_for(self.sandbox, key)

    def port(self) -> OkxFuturesTrading:
        port = futures_port(self.connection, self.ctx, self.markets, leverage=self.leverage)
        assert isinstance(port, OkxFuturesTrading)
        self.ports.append(port)
        return port

    def spec(self, *, may_send: bool = True, block: str = "") -> RunnerSpec:
        return RunnerSpec("BTC Swap Live", self.connection.name, "live", self.params, "USDT",
                          id_limit=32, id_sep=id_separator("okx"), may_send=may_send,
                          send_block=block, market="futures", leverage=self.leverage)  # fmt: skip

    async def swap_runner(
        self, *, fresh_db: bool = False, balance: D = D(1000), acct_lv: int = 2
    ) -> BotRunner:
        if not fresh_db:
            self.key(balance=balance, acct_lv=acct_lv)
        sub = self.hub.subscribe("okx", Endpoints(**self.sandbox.endpoints("okx")), [PAIR])
        self.subs.append(sub)
        await until_true(lambda: sub.rules(PAIR) is not None and sub.quote(PAIR) is not None)
        db = Database.in_dir(self.tmp_path / ("fresh" if fresh_db else "state"))
        self.dbs.append(db)
        port = self.port()
        await port.balances()  # the swap markets are loaded: the contract's rules are known
        return BotRunner(self.spec(), db, port, sub,
                         lambda pair: port.rules(pair, sub.rules(pair)), time.time,
                         interval=0.05)  # fmt: skip


@pytest.fixture
async def world(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[OkxSwapWorld]:
    w = OkxSwapWorld(sandbox, tmp_path)
    try:
        yield w
    finally:
        await w.close()


def one_order_per_id(world: LiveWorld) -> Counter[str]:
    ids = Counter(str(o["client_order_id"]) for o in world.audit())
    assert ids
    assert all(n == 1 for n in ids.values()), ids
    assert all(OKX_ID.match(cid) for cid in ids), ids  # OKX's clOrdId rule
    return ids


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


def resting(r: BotRunner, n: int) -> bool:
    return bool(r.book.groups) and len(r.book.groups[0].open_orders()) == n


def position(world: OkxSwapWorld) -> dict[str, Any]:
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert pos["instrument_id"] == "BTC-USDT-SWAP"
    return dict(pos)


def group_orders(world: OkxSwapWorld, group_id: int) -> list[dict[str, Any]]:
    """The group's orders: its tag `g<id>` follows the bot's hex prefix (no 'g' in hex)."""
    tag = re.compile(rf"g{group_id}[a-z]")
    return [o for o in world.audit() if tag.search(str(o["client_order_id"]))]


async def reduce_only_flags(world: OkxSwapWorld, r: BotRunner, side: str) -> set[str]:
    """OKX's `reduceOnly` of every audited order on `side`, read back through the port."""
    port = r.port
    assert isinstance(port, OkxFuturesTrading)
    rows = [await swap_raw(port._client, o["client_order_id"])
            for o in world.audit() if o["side"] == side]  # fmt: skip
    assert all((row["tdMode"], row["lever"]) == ("isolated", str(LEVERAGE)) for row in rows)
    return {str(row["reduceOnly"]) for row in rows}


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


async def test_a_live_swap_long_opens_adds_and_closes_at_take_profit(
    world: OkxSwapWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.swap_runner()
    await until(lambda: resting(r, 3), r)
    group = r.book.groups[0]
    assert group.amount == D("0.0024")  # 150 USDT at ~60,300 -> 0.24 contract (lots of 0.01)
    pos = position(world)
    assert (pos["contracts"], pos["leverage"]) == ("0.24", "3")
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 57600]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    pos = position(world)
    assert D(pos["contracts"]) * D("0.01") == r.book.groups[0].amount
    # margin used: the position's notional / leverage
    assert D(pos["margin"]) <= r.snapshot().committed_quote / LEVERAGE + D("0.01")
    world.sandbox.set_market(PAIR, path=[[0, 57600], [0.5, 60500]])  # through the take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    one_order_per_id(world)
    ledger_matches_exchange(world, r, audit)
    assert {o["market"] for o in audit} == {"futures"}
    assert any(o["side"] == "sell" and o["status"] == "filled" for o in audit)
    assert await reduce_only_flags(world, r, "sell") == {"true"}  # every exit reduce-only
    assert await reduce_only_flags(world, r, "buy") == {"false"}  # entries never
    assert position(world)["contracts"] == "0"  # flat after the take profit
    status = repr(r.snapshot().as_status())
    assert CANARY not in status
    assert PASS_CANARY not in status


async def test_a_live_swap_short_sells_to_open_and_buys_back_reduce_only(
    world: OkxSwapWorld,
) -> None:
    world.params = replace(PARAMS, side=Side.SHORT)
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.swap_runner()
    await until(lambda: resting(r, 3), r)
    assert (position(world)["contracts"], position(world)["leverage"]) == ("-0.25", "3")
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.5, 62400]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    assert -D(position(world)["contracts"]) * D("0.01") == r.book.groups[0].amount
    world.sandbox.set_market(PAIR, path=[[0, 62400], [0.5, 60000]])  # through the buy-back
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    one_order_per_id(world)
    ledger_matches_exchange(world, r, audit)
    assert any(o["side"] == "buy" and o["status"] == "filled" for o in audit)
    assert await reduce_only_flags(world, r, "buy") == {"true"}
    assert await reduce_only_flags(world, r, "sell") == {"false"}
    assert position(world)["contracts"] == "0"


async def test_an_accepted_order_whose_answer_never_came_is_adopted(
    world: OkxSwapWorld,
) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.swap_runner()
    faults = world.sandbox.faults("okx")
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
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())


async def test_an_empty_state_directory_is_rebuilt_from_okx(world: OkxSwapWorld) -> None:
    # a budget the group stays clear of Recovery Mode in (a rebuild reads the orders and fills
    # OKX keeps, not whether the lost book had entered recovery)
    world.params = replace(PARAMS, margin_limit=D(3000))
    world.sandbox.set_market(PAIR, price=60000.0)
    first = await world.swap_runner()
    await until(lambda: resting(first, 3), first)
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.3, 59000]])  # add 1 fills
    await until(lambda: adds(first) == (1,), first)
    await until(lambda: resting(first, 3), first)
    world.sandbox.set_market(PAIR, price=59000.0)
    for _ in range(3):
        await world.tick(first)
    before = shape(first.book)
    assert before["groups"]
    assert before["committed_quote"] > 0

    rebuilt = await world.swap_runner(fresh_db=True)  # the state directory is gone
    assert rebuilt.needs_rebuild
    await world.tick(rebuilt)
    assert not rebuilt.needs_rebuild
    assert shape(rebuilt.book) == before
    ledger_matches_exchange(world, rebuilt, world.audit())
    sent = len(world.audit())
    for _ in range(3):
        await world.tick(rebuilt)
    assert len(world.audit()) == sent  # it found its orders: nothing sent twice

    # it trades on: the take profit closes the group, the next one takes the next id
    world.sandbox.set_market(PAIR, path=[[0, 59000], [0.5, 61000]])
    await until(lambda: rebuilt.book.closed_groups == 1, rebuilt)
    await until(lambda: bool(rebuilt.book.groups), rebuilt)
    assert rebuilt.book.groups[0].id == before["groups"][0][0] + 1
    one_order_per_id(world)
    ledger_matches_exchange(world, rebuilt, world.audit())


async def test_a_liquidated_long_is_closed_outside_the_bot_and_never_traded_again(
    world: OkxSwapWorld,
) -> None:
    world.leverage = 5
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.swap_runner()
    r.visibility_window = 0.5
    await until(lambda: resting(r, 3), r)
    group = r.book.groups[0]
    world.sandbox.set_market(PAIR, path=[[0, 60000], [0.4, 58600]])  # through add 1
    await until(lambda: adds(r) == (1,), r)
    await until(lambda: len(r.book.groups[0].open_orders()) >= 2, r)
    world.sandbox.set_market(PAIR, price=44000.0)  # far below the liquidation price
    pos = position(world)
    assert pos["contracts"] == "0"
    assert pos["liquidated_at_ms"]
    liquidated_ms = pos["liquidated_at_ms"][0]
    port = r.port
    assert isinstance(port, OkxFuturesTrading)
    assert await port.position(PAIR) == D(0)  # what the bot reads: nothing held
    await until(lambda: all(g.id != group.id for g in r.book.groups), r, seconds=30)

    assert r.book.closed_groups == 1
    assert r.book.realized_pnl < 0
    assert r.outside.closed == 1
    assert r.snapshot().closed_outside == 1
    assert r.snapshot().last_error.startswith("position_closed_outside")
    assert all(o["status"] != "open" for o in group_orders(world, group.id))
    for _ in range(20):
        await world.tick(r)
    late = [o for o in group_orders(world, group.id) if o["created_ms"] > liquidated_ms]
    assert late == []  # never an order for the liquidated group again
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())


def rejections(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The errors of the bots' "order rejected" warnings."""
    return [
        str(getattr(m, FIELDS_ATTR, {}).get("error", ""))
        for m in caplog.records
        if m.getMessage() == "order rejected"
    ]


async def test_a_spot_mode_account_never_trades_and_the_bot_says_why(
    world: OkxSwapWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="backfuture.bots")
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.swap_runner(acct_lv=1)
    for _ in range(10):
        await world.tick(r)
    assert world.audit() == []
    errors = rejections(caplog)
    assert errors
    assert all("Spot mode (acctLv 1)" in e for e in errors), errors
    assert not r.book.groups or r.book.groups[0].base_price is None


async def test_long_short_position_mode_never_trades_until_switched_to_net(
    world: OkxSwapWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="backfuture.bots")
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.swap_runner()
    r.reject_backoff = 0.2  # a refused pair is tried again soon (30 s in the daemon)
    port = r.port
    assert isinstance(port, OkxFuturesTrading)
    await port._client.privatePostAccountSetPositionMode({"posMode": "long_short_mode"})
    for _ in range(10):
        await world.tick(r)
    assert world.audit() == []
    errors = rejections(caplog)
    assert len(errors) >= 2  # tried again after the backoff, refused again before sending
    assert all("long_short_mode" in e and "net_mode" in e for e in errors), errors
    await port._client.privatePostAccountSetPositionMode({"posMode": "net_mode"})
    await until(lambda: resting(r, 3), r)
    one_order_per_id(world)
    ledger_matches_exchange(world, r, world.audit())
