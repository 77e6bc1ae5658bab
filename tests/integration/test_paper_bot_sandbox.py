"""A paper bot on real public market data: the sandbox's MEXC venue over real HTTP, polled by the
shared MarketDataHub through ccxt, the price driven by `POST /__sandbox/market`. The bot opens a
group, adds as the price falls, enters Recovery Mode and closes at take profit as the price
returns; the second test restarts the daemon's bots (new supervisor on the same SQLite) in the
middle, while the take profit is crossed; the third pauses the bot (connection failed) while the
price crosses an add and resumes it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.bots.supervisor import BotSupervisor
from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub, MarketSubscription
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, MarketRules, RecoveryParams

pytestmark = pytest.mark.integration
PAIR = "BTC/USDT"
RULES = MarketRules(
    price_tick=D("0.01"),
    amount_step=D("0.000001"),
    min_notional=D(1),
    maker_fee=D("0.001"),
    taker_fee=D("0.001"),
)
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
SPEC = RunnerSpec("BTC Paper", "MEXC Sandbox", "paper", PARAMS, "USDT")


class Market:
    """The hub polling the sandbox every 50 ms, and the admin route that moves the price."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.hub = MarketDataHub(timeout=2.0)
        self.sub: MarketSubscription = self.hub.subscribe(
            "mexc", Endpoints(**sandbox.endpoints("mexc")), [PAIR]
        )
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.hub.run(0.05, self.stop), name="hub")

    async def move(self, **body: Any) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.sandbox.mexc_url + "/__sandbox/market", json={"symbol": PAIR, **body}
            ) as r,
        ):
            assert r.status == 200, await r.text()

    async def close(self) -> None:
        self.stop.set()
        await self.task
        self.sub.close()
        await self.hub.close()


@pytest.fixture
async def market(sandbox: Sandbox) -> AsyncIterator[Market]:
    m = Market(sandbox)
    try:
        yield m
    finally:
        await m.close()


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached in {seconds} s")


def start(tmp_path: Path, market: Market) -> tuple[Database, BotSupervisor, BotRunner]:
    db = Database.in_dir(tmp_path)
    sup = BotSupervisor(
        db,
        market_data=lambda _: market.sub,
        rules=lambda _s, _p: RULES,
        clock=time.time,
        interval=0.05,
    )
    sup.apply(SPEC, "run")
    return db, sup, sup.runners[SPEC.strategy]


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


def mid(market: Market) -> D | None:
    q = market.sub.quote(PAIR)
    return None if q is None or q.last is None else q.last


async def open_and_fall(market: Market, r: BotRunner) -> None:
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3)
    (g,) = r.snapshot().groups
    assert g.base_price is not None
    assert D(100) < g.base_price < D("100.6")  # marketable limit 0.5 % above the ask
    await market.move(path=[[0, 100], [0.5, 96]])  # through add 1 and add 2, not add 3
    await until(lambda: adds(r) == (1, 2))
    await until(lambda: r.snapshot().groups[0].mode == "recovery")
    (g,) = r.snapshot().groups
    assert g.recovery_reason == "adds_used"
    assert r.snapshot().committed_quote <= PARAMS.margin_limit


async def test_paper_bot_opens_adds_recovers_and_closes_on_the_sandbox_market(
    market: Market, tmp_path: Path
) -> None:
    await market.move(price=100.0)
    await until(lambda: mid(market) == D(100))
    db, sup, r = start(tmp_path, market)
    try:
        await open_and_fall(market, r)
        await market.move(path=[[0, 96], [0.5, 101]])
        await until(lambda: r.snapshot().closed_groups == 1)
        snap = r.snapshot()
        assert snap.realized_pnl > 0
        assert snap.orders[("sell", "filled")] == 1
        assert snap.last_error == ""
    finally:
        await sup.shutdown()
        db.close()


async def test_paper_bot_through_a_restart_settles_the_take_profit_crossed_while_down(
    market: Market, tmp_path: Path
) -> None:
    await market.move(price=100.0)
    await until(lambda: mid(market) == D(100))
    db, sup, r = start(tmp_path, market)
    try:
        await open_and_fall(market, r)
        book = r.book
    finally:
        await sup.shutdown()
        db.close()

    await market.move(price=101.0)  # above the recovery take profit, while no bot runs
    await until(lambda: mid(market) == D(101))
    db, sup, r = start(tmp_path, market)
    try:
        assert r.book == book  # resumed from SQLite
        await until(lambda: r.snapshot().closed_groups == 1)
        snap = r.snapshot()
        assert snap.realized_pnl > 0
        sells = db.conn.execute("SELECT count(*) FROM fills WHERE side='sell'").fetchone()[0]
        assert sells == 1
    finally:
        await sup.shutdown()
        db.close()


async def test_paused_bot_sends_nothing_and_reconciles_on_resume(
    market: Market, tmp_path: Path
) -> None:
    await market.move(price=100.0)
    await until(lambda: mid(market) == D(100))
    db, sup, r = start(tmp_path, market)
    try:
        await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3)
        sup.apply(SPEC, "pause")  # the connection failed its re-test
        await until(lambda: r.needs_reconcile)
        sent = db.conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        await market.move(price=98.0)  # through add 1 while paused
        await until(lambda: mid(market) == D(98))
        await asyncio.sleep(0.2)  # a few runner ticks: paused, it neither looks nor sends
        assert adds(r) == ()
        assert db.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == sent
        sup.apply(SPEC, "run")  # the connection passed again
        await until(lambda: adds(r) == (1,))
        assert not r.needs_reconcile
        assert r.snapshot().gate == "run"
    finally:
        await sup.shutdown()
        db.close()
