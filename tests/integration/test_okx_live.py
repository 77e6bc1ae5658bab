"""A live bot on OKX spot through real ccxt against the in-process sandbox (bots/runner.py with
exchanges/okx_trading.py), what only OKX's tests ask: a 429 without Retry-After (50011) quiets
the bot for OKX's 2-second window. The scenarios OKX shares with Bybit (open, add, recover and
close; an adopted order; a lost cancel answer; a rebuild) are in test_spot_venues_live.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.live_bot_support import PAIR, until
from tests.integration.spot_live_support import OKX, SpotWorld, resting

pytestmark = pytest.mark.integration


@pytest.fixture
async def live(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[SpotWorld]:
    world = SpotWorld(sandbox, tmp_path, OKX)
    try:
        yield world
    finally:
        await world.close()


async def test_a_429_without_retry_after_quiets_the_bot_for_okx_s_window(
    live: SpotWorld,
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("okx")
    await until(lambda: resting(r, 3), r)
    book = r.book
    live.sandbox.faults("okx").update({"rate_limit": True})
    r.needs_reconcile = True
    await r.tick()
    assert "rate_limited" in r.last_error
    assert "50011" in r.last_error
    live.sandbox.faults("okx").update({"rate_limit": False})
    live.sandbox.reset_request_counts()
    t0 = time.time()
    while time.time() - t0 < 1.5:  # inside the 2 s window: not one private request
        await live.tick(r)
    private = {p for p in live.sandbox.request_counts("okx") if "/market/" not in p}
    assert not private, private
    assert r.book == book
    await until(lambda: not r.needs_reconcile, r)
    live.one_order_per_id()
