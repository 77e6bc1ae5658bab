"""BotSupervisor: one task per bot, gates applied as they change, STOP settles then ends the task,
shutdown drains every runner (no task left), a new supervisor on the same SQLite resumes the book;
the snapshot carries what /status and the metrics need."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.model import Gate as BotGate
from backfuture_daemon.bots.paper import PaperExchange
from backfuture_daemon.bots.runner import RunnerSpec
from backfuture_daemon.bots.supervisor import BotSupervisor
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, MarketRules

PAIR = "BTC/USDT"
RULES = MarketRules(price_tick=D("0.01"), amount_step=D("0.00001"), taker_fee=D("0.001"))
PARAMS = DcaParams(
    pairs=(PAIR,),
    margin_limit=D(200),
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
    ),
)
SPEC = RunnerSpec("BTC Bot", "MEXC Main", "paper", PARAMS, "USDT", paper_balance=D(150))


def supervisor(db: Database, md: ManualMarketData) -> BotSupervisor:
    return BotSupervisor(
        db, market_data=lambda _: md, rules=lambda _s, _p: RULES, clock=lambda: 5.0, interval=0.01
    )


async def until(check: Callable[[], bool]) -> None:
    for _ in range(400):  # 2 s at most
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in 2 s")


async def test_run_stop_shutdown_and_resume(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_price(PAIR, D(100))
    db = Database.in_dir(tmp_path)
    sup = supervisor(db, md)
    sup.apply(SPEC, BotGate.RUN)
    runner = sup.runners["BTC Bot"]
    await until(lambda: len(runner.book.groups) == 1 and len(runner.book.groups[0].orders) == 3)
    snap = sup.snapshot()["BTC Bot"]
    (group,) = snap.groups
    assert (snap.mode, snap.gate, snap.margin_limit) == ("paper", "run", D(200))
    assert (group.pair, group.filled_adds, group.mode, group.recovery_reason) == (
        PAIR,
        0,
        "normal",
        None,
    )
    assert group.take_profit_price is not None
    assert snap.committed_quote == group.committed_quote > 0
    assert snap.orders[("buy", "filled")] == 1
    assert snap.orders[("buy", "open")] == 2
    assert (await runner.port.balances())["USDT"].free < D(150)  # paper_balance, not the limit
    status = json.loads(json.dumps(snap.as_status()))  # plain JSON for /status
    assert status["groups"][0]["pair"] == PAIR
    assert status["groups"][0]["mode"] == "normal"
    assert D(status["committed_quote"]) == snap.committed_quote
    assert {"side": "buy", "result": "filled", "count": 1} in status["orders"]
    assert (status["trading_mode"], status["margin_limit"]) == ("paper", "200")

    await sup.shutdown()
    assert all(t.done() for t in asyncio.all_tasks() if t.get_name().startswith("bot:"))
    book = runner.book
    db.close()

    db = Database.in_dir(tmp_path)
    again = supervisor(db, md)
    again.apply(SPEC, "pause")
    assert again.runners["BTC Bot"].book == book  # resumed from SQLite
    again.apply(SPEC, BotGate.STOP)
    stopped = again.runners["BTC Bot"]
    await until(
        lambda: [o.key.purpose.value for o in stopped.book.groups[0].orders] == ["take_profit"]
    )
    assert not stopped.stopped  # the kept take profit is watched until it fills
    tp = stopped.book.groups[0].orders[0].price
    assert tp is not None
    md.set_price(PAIR, tp + 1)
    await until(lambda: stopped.stopped)
    await until(lambda: all(t.done() for t in again._tasks.values()))
    assert stopped.book.groups == ()
    assert stopped.snapshot().realized_pnl > 0
    again.apply(SPEC, BotGate.STOP)  # settled: no new task
    assert all(t.done() for t in again._tasks.values())
    again.forget("BTC Bot")
    assert again.snapshot() == {}
    await again.shutdown()
    db.close()


async def test_a_mode_change_is_another_runner_and_shutdown_waits_for_both(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_price(PAIR, D(100))
    db = Database.in_dir(tmp_path)
    sup = supervisor(db, md)
    sup.apply(SPEC, BotGate.RUN)
    first = sup.runners["BTC Bot"]
    await until(lambda: first.book.groups != ())

    smaller = RunnerSpec("BTC Bot", "MEXC Main", "paper", PARAMS, "USDT", paper_balance=D(9))
    sup.apply(smaller, BotGate.RUN)  # same mode: same runner, new spec
    assert sup.runners["BTC Bot"] is first
    assert first.spec.paper_balance == D(9)

    live = RunnerSpec("BTC Bot", "MEXC Main", "live", PARAMS, "USDT", may_send=True)
    with pytest.raises(ValueError, match="live trading is not wired in"):
        sup.apply(live, BotGate.RUN)
    assert sup.runners["BTC Bot"] is first  # the paper bot keeps running
    assert not sup._tasks["BTC Bot"].done()

    def live_port(spec: RunnerSpec) -> PaperExchange:  # stands in for a live adapter
        return PaperExchange(
            db, "live stand-in", md, quote="USDT", start_balance=D(50), clock=lambda: 5.0
        )

    sup._live_port = live_port
    sup.apply(live, BotGate.RUN)
    second = sup.runners["BTC Bot"]
    assert second is not first
    assert second.spec.mode == "live"
    await until(lambda: second.book.groups != ())
    await sup.shutdown()
    assert all(t.done() for t in asyncio.all_tasks() if t.get_name().startswith("bot:"))
    rows = db.conn.execute("SELECT DISTINCT mode FROM books ORDER BY mode").fetchall()
    assert rows == [("live",), ("paper",)]
    db.close()


async def test_new_pairs_start_a_new_runner_after_the_old_one_on_the_same_book(
    tmp_path: Path,
) -> None:
    md = ManualMarketData()
    md.set_price(PAIR, D(100))
    md.set_price("ETH/USDT", D(50))
    db = Database.in_dir(tmp_path)
    released: list[object] = []
    sup = BotSupervisor(
        db,
        market_data=lambda _: md,
        rules=lambda _s, _p: RULES,
        clock=lambda: 5.0,
        interval=0.01,
        release=released.append,
    )
    two = DcaParams(
        pairs=(PAIR, "ETH/USDT"), margin_limit=D(200), max_active_groups=2, sizing=PARAMS.sizing
    )
    sup.apply(SPEC, BotGate.RUN)
    first = sup.runners["BTC Bot"]
    await until(lambda: len(first.book.groups) == 1)
    sup.apply(RunnerSpec("BTC Bot", "MEXC Main", "paper", two, "USDT"), BotGate.RUN)
    second = sup.runners["BTC Bot"]
    assert second is not first
    assert released == [md]
    await until(lambda: len(second.book.groups) == 2)
    assert [(g.id, g.pair) for g in second.book.groups] == [(1, PAIR), (2, "ETH/USDT")]
    base_fills = db.conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    assert base_fills == 2  # the BTC group was carried over, not opened twice
    await sup.shutdown()
    sup.forget("BTC Bot")
    assert released == [md, md]
    db.close()
