"""A paper bot through the supervisor on hand-driven quotes (no exchange): it opens a group, adds
as the price falls, enters Recovery Mode, the daemon restarts in the middle (new supervisor on the
same SQLite), and the group closes at the recovery take profit as the price returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.bots.supervisor import BotSupervisor
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, MarketRules, RecoveryParams

PAIR = "BTC/USDT"
RULES = MarketRules(
    price_tick=D("0.01"),
    amount_step=D("0.00001"),
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
SPEC = RunnerSpec("BTC Bot", "MEXC Main", "paper", PARAMS, "USDT")


async def until(check: Callable[[], bool]) -> None:
    for _ in range(400):  # 2 s at most
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in 2 s")


def start(tmp_path: Path, md: ManualMarketData) -> tuple[Database, BotSupervisor, BotRunner]:
    db = Database.in_dir(tmp_path)
    sup = BotSupervisor(
        db, market_data=lambda _: md, rules=lambda _s, _p: RULES, clock=lambda: 50.0, interval=0.01
    )
    sup.apply(SPEC, "run")
    return db, sup, sup.runners[SPEC.strategy]


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


async def test_open_add_recover_restart_close(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_price(PAIR, D(100))
    db, sup, r = start(tmp_path, md)
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3)
    base = r.book.groups[0].base_price
    assert base is not None

    md.set_price(PAIR, D(98))  # through add 1 (1.5 % below the base fill)
    await until(lambda: adds(r) == (1,))
    md.set_price(PAIR, D(96))  # through add 2 (3.3 %), above add 3 (5.46 %)
    await until(lambda: adds(r) == (1, 2))
    await until(lambda: r.snapshot().groups[0].mode == "recovery")
    (g,) = r.snapshot().groups
    assert g.recovery_reason == "adds_used"
    assert g.average_price is not None
    assert g.take_profit_price is not None
    assert g.average_price < g.take_profit_price < g.average_price * D("1.012")  # recovery TP
    assert r.snapshot().committed_quote <= PARAMS.margin_limit

    await sup.shutdown()
    db.close()
    md.set_price(PAIR, D(110))  # the take profit is crossed while the daemon is down

    db, sup, r = start(tmp_path, md)
    await until(lambda: r.snapshot().closed_groups == 1)
    snap = r.snapshot()
    assert snap.realized_pnl > 0
    assert snap.orders[("sell", "filled")] == 1
    fills = db.conn.execute("SELECT count(*) FROM fills WHERE side='sell'").fetchone()[0]
    assert fills == 1  # settled once, not again by the second runner's later ticks
    await sup.shutdown()
    db.close()
