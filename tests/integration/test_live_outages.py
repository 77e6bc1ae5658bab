"""Exchange outages during live trading, through real ccxt against the sandbox, on MEXC and KuCoin
(HF): a maintenance window while a group rests on the book, and an order request that hangs past
the client's timeout without reaching the order book. In both the bot keeps its book as it was,
sends nothing it cannot account for, and resumes when the exchange is back; the sandbox's audit
judges (one exchange order per client id, every exchange fill in the ledger once).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from backfuture_daemon.bots.runner import BotRunner
from tests.integration.live_bot_support import PAIR, LiveWorld, ledger_matches_exchange, live, until

__all__ = ["live"]
pytestmark = pytest.mark.integration

VENUES = pytest.mark.parametrize(("exchange", "hf"), [("mexc", False), ("kucoin", True)])


def one_order_per_id(world: LiveWorld) -> None:
    ids = Counter(str(o["client_order_id"]) for o in world.audit())
    assert ids
    assert all(n == 1 for n in ids.values()), ids


async def resting(world: LiveWorld, exchange: str, hf: bool) -> BotRunner:
    """A live bot whose first group rests on the book: base filled, two adds and a TP open."""
    world.sandbox.set_market(PAIR, price=100.0)
    r = await world.runner(exchange, hf=hf)
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    return r


@VENUES
async def test_a_maintenance_window_holds_the_book_and_trading_resumes_after(
    live: LiveWorld, exchange: str, hf: bool
) -> None:
    r = await resting(live, exchange, hf)
    book, audit = r.book, live.audit()
    live.sandbox.faults(exchange).update({"maintenance": True})
    live.sandbox.set_market(PAIR, path=[[0, 100], [0.2, 98]])  # add 1 fills during the window
    await asyncio.sleep(0.5)
    r.needs_reconcile = True  # a restart inside the window: every private call meets it
    for _ in range(3):
        await live.tick(r)
    assert "exchange_unavailable" in r.last_error, r.last_error
    assert r.book == book  # nothing guessed while the exchange cannot answer
    assert len(live.audit()) == len(audit)  # and nothing sent
    live.sandbox.faults(exchange).update({"maintenance": False})
    await until(lambda: not r.needs_reconcile and r.book.groups[0].filled_adds == (1,), r)
    await until(lambda: r.last_error == "", r)
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


@VENUES
async def test_an_order_request_that_hangs_is_looked_up_then_re_decided(
    live: LiveWorld, exchange: str, hf: bool
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner(exchange, hf=hf)
    r.visibility_window = 1.0
    port = r.port
    balances = port.balances

    async def then_hang() -> Any:  # the balance check passes; the order request then hangs
        answer = await balances()
        live.sandbox.faults(exchange).update({"timeout": True, "hang_seconds": 3})
        return answer

    port.balances = then_hang  # type: ignore[method-assign]
    await r.tick()  # the client gives up after its 1.5 s timeout; the order never arrived
    port.balances = balances  # type: ignore[method-assign]
    live.sandbox.faults(exchange).update({"timeout": False})
    (unknown,) = r.intents.unsettled()
    assert unknown.state == "unknown"
    assert live.audit() == []
    await live.tick(r)  # looked up inside the window: absent, and nothing else is sent
    assert live.audit() == []
    await asyncio.sleep(1.0)
    await until(lambda: bool(live.audit()), r)
    assert r.intents.intent(unknown.client_order_id).state == "lost"  # type: ignore[union-attr]
    assert unknown.client_order_id not in {o["client_order_id"] for o in live.audit()}
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())
