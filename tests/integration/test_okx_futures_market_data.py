"""The market data hub's futures subscriptions on OKX (exchanges/market_feeds.py: the pair's USDT
swap, BTC-USDT-SWAP, on the one v5 host) against the sandbox with real ccxt: read back under the
config's pair at the perpetual's own price (spot x (1 + basis)), book sizes in base (contracts x
ctVal 0.01), the contract's rules in base; public routes only; spot subscriptions on the same
endpoint keep the spot price. What a live OKX swap bot decides on (daemon_bots.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.exchanges.market_feeds import FUTURES_MARKET_DATA
from backfuture_daemon.sandbox.server import Sandbox

pytestmark = pytest.mark.integration
SPOT, BASIS = Decimal("60000"), Decimal("0.01")
PERP = SPOT * (1 + BASIS)
PUBLIC = {"/api/v5/market/ticker", "/api/v5/market/books", "/api/v5/public/instruments"}


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    h = MarketDataHub(timeout=2.0)
    yield h
    await h.close()


async def test_okx_futures_subscriptions_read_the_swap(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    assert "okx" in FUTURES_MARKET_DATA
    sandbox.set_market("BTC/USDT", price=float(SPOT))
    sandbox.control_market({"symbol": "BTC/USDT", "basis": float(BASIS)})
    ep = Endpoints(**sandbox.endpoints("okx"))
    futures = [hub.subscribe("okx", ep, ["BTC/USDT"], market="futures") for _ in range(5)]
    spot = hub.subscribe("okx", ep, ["BTC/USDT"])
    sandbox.reset_request_counts()
    await hub.tick()
    counts = sandbox.request_counts("okx")
    assert set(counts) <= PUBLIC, counts  # no key, nothing private
    assert (counts["/api/v5/market/ticker"], counts["/api/v5/market/books"]) == (2, 2)

    fq, sq = futures[0].quote("BTC/USDT"), spot.quote("BTC/USDT")
    assert fq is not None
    assert sq is not None
    assert fq.pair == sq.pair == "BTC/USDT"
    assert (fq.bid, fq.ask) == (PERP - Decimal("0.1"), PERP + Decimal("0.1"))  # the swap's tick
    assert (sq.bid, sq.ask) == (SPOT - Decimal("0.01"), SPOT + Decimal("0.01"))
    book = futures[0].order_book("BTC/USDT")
    assert book is not None
    assert book.bids[0] == (PERP - Decimal("0.1"), Decimal("0.01"))  # 1 contract = 0.01 BTC
    assert book.asks[1] == (PERP + Decimal("0.2"), Decimal("0.02"))
    rules = futures[0].rules("BTC/USDT")
    assert rules is not None
    assert (rules.price_tick, rules.amount_step, rules.min_amount) == (
        Decimal("0.1"), Decimal("0.0001"), Decimal("0.0001")
    )  # fmt: skip
    assert all(s.failure("BTC/USDT") is None for s in [*futures, spot])
