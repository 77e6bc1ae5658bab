"""A live bot on Bybit spot through real ccxt against the in-process sandbox (its Bybit venue on
the shared matching engine), what only Bybit's tests ask: a placement answered 5xx is looked
up, then re-decided under a new id; a UID rate limit (10006) quiets it until the reset time.
The scenarios Bybit shares with OKX (open, add, recover and close; an adopted order; a lost
cancel answer; a rebuild) are in test_spot_venues_live.py. The sandbox's audit is the judge.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.live_bot_support import PAIR, ledger_matches_exchange, until
from tests.integration.spot_live_support import BYBIT, SpotWorld, resting

pytestmark = pytest.mark.integration


@pytest.fixture
async def live(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[SpotWorld]:
    world = SpotWorld(sandbox, tmp_path, BYBIT)
    try:
        yield world
    finally:
        await world.close()


async def test_a_placement_5xx_is_looked_up_then_re_decided_under_a_new_id(
    live: SpotWorld,
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("bybit")
    r.visibility_window = 1.0
    faults = live.sandbox.faults("bybit")
    faults.update({"placement_5xx": 502})  # the gateway answers 502; the order is not placed
    await r.tick()
    assert "exchange_unavailable" in r.last_error
    (unknown,) = r.intents.unsettled()
    for _ in range(3):  # lookups by orderLinkId are served; nothing found, nothing sent
        await live.tick(r)
    assert live.audit() == []
    assert r.intents.intent(unknown.client_order_id).state == "unknown"  # type: ignore[union-attr]
    faults.update({"placement_5xx": 0})
    await asyncio.sleep(1.0)
    await until(lambda: bool(live.audit()), r)
    assert r.intents.intent(unknown.client_order_id).state == "lost"  # type: ignore[union-attr]
    (placed,) = live.audit()  # exactly one exchange order, under the re-decided intent's id
    assert placed["client_order_id"] != unknown.client_order_id
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    live.one_order_per_id()
    ledger_matches_exchange(live, r, live.audit())


async def test_a_uid_rate_limit_quiets_the_bot_until_the_reset(live: SpotWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("bybit")
    await until(lambda: resting(r, 3), r)
    book = r.book
    live.sandbox.faults("bybit").update({"rate_limit": True, "retry_after_s": 2})
    r.needs_reconcile = True
    await r.tick()
    assert "rate_limited" in r.last_error
    assert "10006" in r.last_error
    live.sandbox.faults("bybit").update({"rate_limit": False})
    live.sandbox.reset_request_counts()
    t0 = time.time()
    while time.time() - t0 < 1.2:  # before the reset time: not one signed request
        await live.tick(r)
    public = ("/v5/market/tickers", "/v5/market/orderbook", "/v5/market/time")
    signed = {p for p in live.sandbox.request_counts("bybit") if p not in public}
    assert not signed, signed
    assert r.book == book
    await until(lambda: not r.needs_reconcile, r)
    assert r.book.groups[0].id == book.groups[0].id
    live.one_order_per_id()
