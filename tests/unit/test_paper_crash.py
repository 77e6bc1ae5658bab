"""A crash must be boring: the paper bot is killed at its Nth call to the exchange port — before
the call reaches the exchange, or after the exchange acted but before the answer was recorded —
or right after its Nth SQLite commit, then restarted on the same file. For every N the restarted
bot ends with a book that agrees with the paper ledger, never more than one base order filled per
group, every simulated execution booked once, and the margin cap kept."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.paper import PaperExchange, PaperFees
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.exchanges.port import Balance, Fill, OrderAck, OrderRequest
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, MarketRules

PAIR = "BTC/USDT"
RULES = MarketRules(price_tick=D("0.01"), amount_step=D("0.00001"), taker_fee=D("0.001"))
PARAMS = DcaParams(
    pairs=(PAIR,),
    margin_limit=D(80),
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
SPEC = RunnerSpec("Crashy", "C", "paper", PARAMS, "USDT")
PATH = [100, 100, 99, 98.5, 98, 97, 96, 97, 99, 101, 102, 100, 98, 99, 101, 103, 103]
#: commits the whole path makes without a crash, once the bot is built.
COMMITS = 51


class Killed(BaseException):
    """SIGKILL: nothing after it runs (no except Exception catches it)."""


class KillingDatabase(Database):
    """Killed right after its `kill_at`th commit (a kill before a commit is a rollback: the same
    as a kill right after the previous one)."""

    kill_at = 0
    commits = 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        outer = self._depth == 0
        with super().transaction() as conn:
            yield conn
        if outer:
            self.commits += 1
            if self.commits == self.kill_at:
                raise Killed


class KillAt:
    """The port, killed at its `n`th call, `before` or after the exchange acted."""

    def __init__(self, inner: PaperExchange, n: int, before: bool) -> None:
        self.inner, self.n, self.before, self.calls = inner, n, before, 0

    async def _call(self, name: str, *args: Any) -> Any:
        self.calls += 1
        if self.calls == self.n and self.before:
            raise Killed
        result = await getattr(self.inner, name)(*args)
        if self.calls == self.n:
            raise Killed
        return result

    async def place(self, order: OrderRequest) -> OrderAck:
        return await self._call("place", order)  # type: ignore[no-any-return]

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        return await self._call("cancel", pair, client_order_id)  # type: ignore[no-any-return]

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        return await self._call("fetch_order_by_client_id", pair, client_order_id)  # type: ignore[no-any-return]

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        return await self._call("open_orders", pair)  # type: ignore[no-any-return]

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        return await self._call("fills_since", pair, since)  # type: ignore[no-any-return]

    async def balances(self) -> Mapping[str, Balance]:
        return await self._call("balances")  # type: ignore[no-any-return]


def open_bot(path: Path, md: ManualMarketData, clock: Callable[[], float]) -> BotRunner:
    db = KillingDatabase.in_dir(path)
    port = PaperExchange(
        db, SPEC.strategy, md, quote="USDT", start_balance=D(80), rules=lambda _p: RULES,
        fees=PaperFees(D(0), D("0.001")), clock=clock,
    )  # fmt: skip
    return BotRunner(SPEC, db, port, md, lambda _p: RULES, clock)


@pytest.mark.parametrize("before", [True, False], ids=["before-send", "after-exchange-acted"])
# Every 5th call: with the paper exchange on the same SQLite file the commit sweep below already
# covers each point between two port calls; this keeps the port-level view (live adapters).
@pytest.mark.parametrize("n", range(1, 46, 5))
async def test_killed_at_any_port_call_restarts_boringly(
    tmp_path: Path, n: int, before: bool
) -> None:
    await crash_and_restart(tmp_path, port_call=n, before=before)


@pytest.mark.parametrize("n", range(1, COMMITS + 1))
async def test_killed_after_any_commit_restarts_boringly(tmp_path: Path, n: int) -> None:
    await crash_and_restart(tmp_path, commit=n)


async def crash_and_restart(
    tmp_path: Path, *, port_call: int = 0, before: bool = False, commit: int = 0
) -> None:
    now = [0.0]
    md = ManualMarketData(lambda: now[0])
    bot = open_bot(tmp_path, md, lambda: now[0])
    db = bot.intents.db
    assert isinstance(db, KillingDatabase)
    db.kill_at = db.commits + commit if commit else 0
    assert isinstance(bot.port, PaperExchange)
    if port_call:
        bot.port = KillAt(bot.port, port_call, before)
    step, killed = 0, False
    try:
        for step, price in enumerate(PATH):  # noqa: B007 (the restart resumes at `step`)
            now[0] += 1
            md.set_price(PAIR, D(str(price)))
            await bot.tick()
    except Killed:
        killed = True
    assert killed  # the path makes 46 port calls and COMMITS commits: every n kills
    bot.intents.db.close()

    bot = open_bot(tmp_path, md, lambda: now[0])  # the restart
    for price in [*PATH[step:], 103, 103]:
        now[0] += 1
        md.set_price(PAIR, D(str(price)))
        await bot.tick()
        assert bot.last_error == ""
        assert bot.book.committed_quote <= PARAMS.margin_limit
    port = bot.port
    assert isinstance(port, PaperExchange)
    held = (await port.balances()).get("BTC")
    base = (held.free + held.locked) if held else D(0)
    assert base == sum((g.amount for g in bot.book.groups), D(0)) + dict(bot.book.dust).get(
        PAIR, D(0)
    )
    in_book = {bot.intents.client_id(o.key) for g in bot.book.groups for o in g.open_orders()}
    assert {a.client_order_id for a in await port.open_orders(PAIR)} == in_book
    db = bot.intents.db
    base_fills = db.conn.execute(
        "SELECT o.group_id, count(*) FROM fills f JOIN orders o USING (strategy, mode,"
        " client_order_id) WHERE o.purpose='base' GROUP BY o.group_id HAVING count(*) > 1"
    ).fetchall()
    assert base_fills == []
    ledger = db.conn.execute("SELECT count(*) FROM paper_fills").fetchone()[0]
    booked = db.conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    assert ledger == booked  # every simulated execution reached the bot's book, once
    db.close()
