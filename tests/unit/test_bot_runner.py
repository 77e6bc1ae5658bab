"""BotRunner on the real engine and a PaperExchange over hand-set prices: a group opens, adds fill
as the price falls, the take profit closes it as the price returns; gates (PAUSE, STOP keeping the
take profit); a restart resumes the book from SQLite and settles what was crossed while down; an
intent whose send died is found unanswered and re-decided, never doubled."""

from __future__ import annotations

import logging
from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.paper import PaperExchange, PaperFees
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.exchanges.port import OrderAck, OrderRequest, OrderState
from backfuture_daemon.strategy.orders import Purpose
from backfuture_daemon.strategy.params import DcaParams, Gate, GroupSizing, MarketRules, OnStop

PAIR = "BTC/USDT"
RULES = MarketRules(
    price_tick=D("0.01"),
    amount_step=D("0.00001"),
    min_notional=D(1),
    maker_fee=D("0.001"),
    taker_fee=D("0.001"),
)
SIZING = GroupSizing(
    base_order_quote=D(10),
    add_order_quote=D(10),
    max_adds=3,
    max_active_adds=2,
    step_pct=D("1.5"),
    step_scale=D("1.2"),
    volume_scale=D("1.5"),
    take_profit_pct=D("1.2"),
)


def spec(on_stop: OnStop = OnStop.KEEP_TAKE_PROFIT) -> RunnerSpec:
    params = DcaParams(
        pairs=(PAIR,), margin_limit=D(500), max_active_groups=1, sizing=SIZING, on_stop=on_stop
    )
    return RunnerSpec("BTC Bot", "MEXC Main", "paper", params, "USDT")


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.now = 1000.0
        self.path = tmp_path
        self.md = ManualMarketData(lambda: self.now)
        self.md.set_price(PAIR, D(100))

    def clock(self) -> float:
        return self.now

    def runner(self, on_stop: OnStop = OnStop.KEEP_TAKE_PROFIT, balance: str = "500") -> BotRunner:
        db = Database.in_dir(self.path)
        s = spec(on_stop)
        fees = PaperFees(RULES.maker_fee, RULES.taker_fee)
        port = PaperExchange(
            db, s.strategy, self.md, quote="USDT", start_balance=D(balance), fees=fees,
            clock=self.clock,
        )  # fmt: skip
        return BotRunner(s, db, port, self.md, lambda _: RULES, self.clock)

    async def tick(self, runner: BotRunner, price: str | None = None) -> None:
        self.now += 1
        if price is not None:
            self.md.set_price(PAIR, D(price))
        await runner.tick()


def resting(runner: BotRunner) -> list[tuple[str, int, D | None]]:
    (g,) = runner.book.groups
    return sorted((o.key.purpose.value, o.key.step, o.price) for o in g.open_orders())


async def test_group_opens_adds_and_closes_at_take_profit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="backfuture.bots")
    w = World(tmp_path)
    r = w.runner()
    await w.tick(r)
    (g,) = r.book.groups
    assert g.base_price is not None  # the base order filled at once (marketable limit)
    base = g.base_price
    await w.tick(r)
    adds = [o for o in resting(r) if o[0] == "add"]
    assert [a[1] for a in adds] == [1, 2]
    assert ("take_profit", 0) in [o[:2] for o in resting(r)]
    add1 = adds[0][2]
    assert add1 == RULES.price_down(base * (1 - D("0.015")))

    await w.tick(r, "98.0")  # through add 1 (~98.99), above add 2 (~97.2)
    await w.tick(r)
    (g,) = r.book.groups
    assert g.filled_adds == (1,)
    assert g.average_price is not None
    assert g.average_price < base
    snap = r.snapshot()
    (status,) = snap.groups
    assert (status.filled_adds, status.mode) == (1, "normal")
    assert status.take_profit_price is not None
    assert status.take_profit_price > g.average_price
    assert snap.committed_quote <= snap.margin_limit

    await w.tick(r, str(status.take_profit_price + 1))  # the take profit trades
    await w.tick(r)
    snap = r.snapshot()
    assert snap.closed_groups == 1
    assert snap.realized_pnl > 0
    assert snap.orders[("sell", "filled")] == 1
    assert snap.orders[("buy", "filled")] >= 2
    assert snap.last_error == ""
    said = [r.getMessage() for r in caplog.records]
    assert said.count("bot group opened") == 2  # the closed one, and the next one at once
    assert said.count("bot group closed") == 1
    assert (
        said.count("bot fill") == snap.orders[("sell", "filled")] + snap.orders[("buy", "filled")]
    )


async def test_restart_resumes_the_book_and_settles_fills_crossed_while_down(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    r = w.runner()
    await w.tick(r)
    await w.tick(r)
    before = r.book
    r.intents.db.close()
    w.md.set_price(PAIR, D("98.0"))  # add 1 crossed while the daemon was down

    again = w.runner()
    assert again.book == before  # resumed from SQLite
    await w.tick(again)
    (g,) = again.book.groups
    assert g.filled_adds == (1,)
    fills = again.intents.db.conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    assert fills == 2  # base + add 1, each once


async def test_stop_cancels_entries_and_adds_but_keeps_the_take_profit(tmp_path: Path) -> None:
    w = World(tmp_path)
    r = w.runner()
    await w.tick(r)
    await w.tick(r)
    r.set_gate(Gate.STOP)
    await w.tick(r)
    assert [o[0] for o in resting(r)] == ["take_profit"]
    port_open = await r.port.open_orders(PAIR)
    assert [o.client_order_id for o in port_open] == [
        r.intents.client_id(o.key) for o in r.book.groups[0].open_orders()
    ]
    assert not r.stopped  # the kept take profit is still watched
    (tp,) = r.book.groups[0].open_orders()
    assert tp.price is not None
    await w.tick(r, str(tp.price + 1))
    assert r.book.groups == ()  # it filled and was booked; no new group under STOP
    assert r.snapshot().closed_groups == 1
    assert r.stopped


async def test_stop_with_cancel_all_leaves_nothing_resting(tmp_path: Path) -> None:
    w = World(tmp_path)
    r = w.runner(OnStop.CANCEL_ALL)
    await w.tick(r)
    await w.tick(r)
    r.set_gate(Gate.STOP)
    await w.tick(r)
    assert await r.port.open_orders(PAIR) == ()
    assert r.stopped  # nothing rests: the runner is done (the group's base stays in the book)


async def test_pause_sends_nothing_and_resume_reconciles_first(tmp_path: Path) -> None:
    w = World(tmp_path)
    r = w.runner()
    await w.tick(r)
    await w.tick(r)
    r.set_gate(Gate.PAUSE)
    held = resting(r)
    await w.tick(r, "98.0")  # add 1 fills at the (paper) exchange while paused
    assert resting(r) == held  # the paused bot did not look
    assert r.needs_reconcile
    r.set_gate(Gate.RUN)
    await w.tick(r)
    assert not r.needs_reconcile
    assert r.book.groups[0].filled_adds == (1,)


class DiesOnSend(PaperExchange):
    async def place(self, order: OrderRequest) -> OrderAck:
        raise SystemExit("killed mid-send")


async def test_an_intent_whose_send_died_is_re_decided_not_doubled(tmp_path: Path) -> None:
    w = World(tmp_path)
    r = w.runner()
    r.port = DiesOnSend(
        r.intents.db, "BTC Bot", w.md, quote="USDT", start_balance=D(500), clock=w.clock
    )
    with pytest.raises(SystemExit):
        await w.tick(r)
    (pending,) = r.intents.unsettled()
    assert pending.key.purpose is Purpose.BASE
    r.intents.db.close()

    again = w.runner()
    await w.tick(again)
    assert again.intents.intent(pending.client_order_id).state == "lost"  # type: ignore[union-attr]
    (g,) = again.book.groups
    assert g.base_price is not None
    bought = await again.port.balances()
    assert bought["BTC"].free == g.amount  # one base order, not two
    filled = [a for a in await again.port.open_orders(PAIR) if a.state is OrderState.FILLED]
    assert filled == []


async def test_a_refused_order_is_not_asked_again_every_tick(tmp_path: Path) -> None:
    w = World(tmp_path)
    r = w.runner(balance="5")  # the base order needs ~10 USDT
    for _ in range(5):
        await w.tick(r)
    assert r.intents.counts() == {("buy", "rejected"): 1}
    assert r.book.groups == ()
    w.now += r.reject_backoff
    await w.tick(r)
    assert r.intents.counts() == {("buy", "rejected"): 2}
