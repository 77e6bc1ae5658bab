"""Properties of a paper bot (hypothesis), for any price path and margin limit: the committed quote
never exceeds the margin limit, the simulated balances never go negative, and the base the paper
ledger holds is exactly what the bot's book says its groups hold (ledger and book never drift)."""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal as D
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.paper import PaperExchange, PaperFees
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, MarketRules, RecoveryParams

PAIR = "BTC/USDT"
RULES = MarketRules(
    price_tick=D("0.01"),
    amount_step=D("0.00001"),
    min_notional=D(1),
    maker_fee=D("0.001"),
    taker_fee=D("0.002"),
)
SIZING = GroupSizing(
    base_order_quote=D(10),
    add_order_quote=D(10),
    max_adds=4,
    max_active_adds=2,
    step_pct=D("1.5"),
    step_scale=D("1.2"),
    volume_scale=D("1.5"),
    take_profit_pct=D("1.2"),
    min_avg_improvement_pct=D("0.3"),
)


async def run_path(path: Path, prices: list[int], margin: int, recovery: bool) -> None:
    now = [0.0]
    md = ManualMarketData(lambda: now[0])
    params = DcaParams(
        pairs=(PAIR,),
        margin_limit=D(margin),
        max_active_groups=1,
        sizing=SIZING,
        recovery=RecoveryParams(enabled=recovery),
    )
    spec = RunnerSpec("P", "C", "paper", params, "USDT")
    db = Database.in_dir(path)
    port = PaperExchange(
        db, "P", md, quote="USDT", start_balance=D(margin), fees=PaperFees(D("0.001"), D("0.002")),
        rules=lambda _p: RULES, clock=lambda: now[0],
    )  # fmt: skip
    runner = BotRunner(spec, db, port, md, lambda _p: RULES, lambda: now[0])
    for cents in prices:
        now[0] += 1
        md.set_price(PAIR, D(cents) / 100)
        await runner.tick()
        assert runner.last_error == ""
        book = runner.book
        assert book.committed_quote <= params.margin_limit
        balances = await port.balances()
        for b in balances.values():
            assert b.free >= 0
            assert b.locked >= 0
        held = balances.get("BTC")
        base = (held.free + held.locked) if held else D(0)
        assert base == sum((g.amount for g in book.groups), D(0)) + dict(book.dust).get(PAIR, D(0))
    db.close()


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=-400, max_value=400), min_size=5, max_size=40),
    margin=st.integers(min_value=12, max_value=150),
    recovery=st.booleans(),
)
def test_cap_balances_and_ledger_hold_on_any_path(
    steps: list[int], margin: int, recovery: bool
) -> None:
    prices, p = [], 10_000  # cents: a walk from 100.00
    for s in steps:
        p = max(2_000, min(30_000, p + s))
        prices.append(p)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_path(Path(tmp), prices, margin, recovery))
