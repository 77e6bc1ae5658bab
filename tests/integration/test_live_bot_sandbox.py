"""A live bot through real ccxt against the in-process sandbox (MEXC spot, KuCoin classic and HF):
it opens, adds, enters Recovery Mode and closes at take profit; the sandbox's order audit
(`Sandbox.orders_of`, what `GET /__sandbox/orders` serves) shows exactly one exchange order per
intent and every fill in the bot's ledger. Then the send-site checks: not cleared -> nothing
leaves; free quote short -> buys held with `insufficient_funds`, no intent written.
"""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal as D

import pytest

from backfuture_daemon.bots.runner import BotRunner
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.live_bot_support import PAIR, LiveWorld, ledger_matches_exchange, live, until

__all__ = ["live"]

pytestmark = pytest.mark.integration
VENUES = pytest.mark.parametrize(
    ("exchange", "hf"), [("mexc", False), ("kucoin", False), ("kucoin", True)]
)


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


@VENUES
async def test_a_live_bot_opens_adds_recovers_and_closes_at_take_profit(
    live: LiveWorld, sandbox: Sandbox, exchange: str, hf: bool
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner(exchange, hf=hf)
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    sandbox.set_market(PAIR, path=[[0, 100], [0.5, 96]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    await until(lambda: r.snapshot().groups[0].mode == "recovery", r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    sandbox.set_market(PAIR, path=[[0, 96], [0.5, 99.5]])  # through the recovery take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = live.audit()
    ids = Counter(o["client_order_id"] for o in audit)
    assert ids
    assert max(ids.values()) == 1  # never two exchange orders for one client order id
    ledger_matches_exchange(live, r, audit)
    sides = Counter((o["side"], o["status"]) for o in audit)
    assert sides[("sell", "filled")] >= 1  # the take profit filled at the exchange


async def test_not_cleared_to_send_means_nothing_leaves_whatever_the_gate(
    live: LiveWorld,
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc", may_send=False, block="the key has withdrawal permission")
    for _ in range(5):
        await live.tick(r)
    assert r.gate.value == "run"
    assert live.audit() == []
    assert r.intents.counts() == {}
    assert r.book.groups == ()
    assert "withdrawal permission" in r.snapshot().hold_reason


async def test_a_shortfall_holds_the_buys_with_insufficient_funds(live: LiveWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc", balance=D(5))  # the base order needs ~10 USDT
    for _ in range(3):
        await live.tick(r)
    assert live.audit() == []
    assert r.intents.counts() == {}  # no intent: the check runs before anything is written
    snap = r.snapshot().as_status()
    assert snap["hold_reason"].startswith("insufficient_funds")
    assert "USDT" in snap["hold_reason"]
    # funds arrive: after the hold the bot looks again and buys
    live.sandbox.update_key(live.api_key, balances={"USDT": D(1000)})
    r.hold_until = time.time()
    await until(lambda: bool(r.book.groups) and r.book.groups[0].base_price is not None, r)
    assert r.snapshot().hold_reason == ""
    assert len(live.audit()) >= 1
