"""Shared by the live-bot integration tests: a sandbox key with its real ccxt trading port, the
MarketDataHub on the same venue, live `BotRunner`s on a real SQLite file, and the checks that
compare the bot's intent log and fill ledger with the sandbox's order audit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.exchanges.market_data import MarketDataHub, MarketSubscription
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.exchanges.venue_ports import trading_port
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, RecoveryParams
from tests.integration.connection_test_support import add_key, connection_for

PAIR = "BTC/USDT"
PARAMS = DcaParams(
    pairs=(PAIR,),
    margin_limit=D(100),
    max_active_groups=1,
    sizing=GroupSizing(
        base_order_quote=D(10),
        add_order_quote=D(10),
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


class LiveWorld:
    """One sandbox key, its trading ports (timeout 1.5 s) and the hub polling every 50 ms."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path) -> None:
        self.sandbox, self.tmp_path = sandbox, tmp_path
        self.factory = ClientFactory(timeout=1.5)
        self.markets = MarketCache(self.factory)
        self.ctx = AdapterContext(make_client=self.factory, clock=time.time)
        self.hub = MarketDataHub(timeout=2.0)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.hub.run(0.05, self.stop), name="hub")
        self.ports: list[CcxtTrading] = []
        self.subs: list[MarketSubscription] = []
        self.dbs: list[Database] = []
        self.api_key = ""
        self.exchange = "mexc"
        self.connection: Any = None

    def key(self, exchange: str, *, hf: bool = False, balance: D = D(1000)) -> None:
        extra: dict[str, Any] = {"hf": True} if hf else {}
        key = add_key(self.sandbox, exchange, **extra)
        if balance != D(1000):
            self.sandbox.update_key(key.api_key, balances={"USDT": balance})
        self.api_key, self.exchange = key.api_key, exchange
        self.connection = connection_for(self.sandbox, key)

    def port(self) -> CcxtTrading:
        port = trading_port(self.connection, self.ctx, self.markets)
        self.ports.append(port)
        return port

    def spec(self, *, may_send: bool = True, block: str = "") -> RunnerSpec:
        return RunnerSpec("BTC Live", self.connection.name, "live", PARAMS, "USDT",
                          id_limit=32, may_send=may_send, send_block=block)  # fmt: skip

    async def runner(
        self,
        exchange: str | None = None,
        *,
        hf: bool = False,
        balance: D = D(1000),
        may_send: bool = True,
        block: str = "",
        fresh_db: bool = False,
    ) -> BotRunner:
        """A live runner (new key when `exchange` is given; else the last key, same SQLite)."""
        if exchange is not None:
            self.key(exchange, hf=hf, balance=balance)
        sub = self.hub.subscribe(
            self.exchange, Endpoints(**self.sandbox.endpoints(self.exchange)), [PAIR]
        )
        self.subs.append(sub)
        await until_true(lambda: sub.rules(PAIR) is not None and sub.quote(PAIR) is not None)
        db = Database.in_dir(self.tmp_path / ("fresh" if fresh_db else "state"))
        self.dbs.append(db)
        return BotRunner(self.spec(may_send=may_send, block=block), db, self.port(), sub,
                         sub.rules, time.time, interval=0.05)  # fmt: skip

    async def tick(self, runner: BotRunner) -> None:
        await runner.tick()
        await asyncio.sleep(0.06)

    def audit(self) -> list[dict[str, Any]]:
        return list(self.sandbox.orders_of(self.api_key)["orders"])

    async def close(self) -> None:
        self.stop.set()
        await self.task
        for sub in self.subs:
            sub.close()
        await self.hub.close()
        for port in self.ports:
            await port.close()
        await self.markets.close()
        await self.factory.close()
        for db in self.dbs:
            db.close()


@pytest.fixture
async def live(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[LiveWorld]:
    world = LiveWorld(sandbox, tmp_path)
    try:
        yield world
    finally:
        await world.close()


async def until_true(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {seconds} s")
        await asyncio.sleep(0.02)


async def until(check: Callable[[], bool], runner: BotRunner, seconds: float = 15.0) -> None:
    """Tick `runner` until `check()` holds."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {seconds} s: {runner.last_error}")
        await runner.tick()
        await asyncio.sleep(0.05)


def ledger_matches_exchange(
    world: LiveWorld, runner: BotRunner, audit: list[dict[str, Any]]
) -> None:
    """Every exchange order has exactly one intent (and every intent the exchange answered has
    its order); every exchange fill is in the bot's fill ledger once."""
    rows = runner.intents.db.conn.execute(
        "SELECT client_order_id, state FROM orders WHERE strategy=? AND mode='live'",
        (runner.spec.strategy,),
    ).fetchall()
    intents = {str(cid): str(state) for cid, state in rows}
    on_exchange = {o["client_order_id"] for o in audit}
    assert on_exchange <= set(intents), on_exchange - set(intents)
    sent = {cid for cid, state in intents.items() if state not in ("lost", "rejected")}
    assert sent == on_exchange
    fills = {
        str(r[0])
        for r in runner.intents.db.conn.execute(
            "SELECT trade_id FROM fills WHERE strategy=? AND mode='live'",
            (runner.spec.strategy,),
        ).fetchall()
    }
    assert {f["trade_id"] for o in audit for f in o["fills"]} == fills
