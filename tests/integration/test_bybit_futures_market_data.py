"""The market data hub's futures subscriptions on Bybit (exchanges/market_feeds.py: the pair's
USDT linear perpetual on the one v5 host) against the sandbox with real ccxt: read back under the
config's pair at the perpetual's own price (spot x (1 + basis)), book sizes in base (Bybit's
linear qty is the base coin), the contract's rules in base; public routes only; spot
subscriptions on the same endpoint keep the spot price.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.sandbox.server import Sandbox

pytestmark = pytest.mark.integration
SPOT, BASIS = Decimal("60000"), Decimal("0.01")
PERP = SPOT * (1 + BASIS)
PUBLIC = {"/v5/market/tickers", "/v5/market/orderbook", "/v5/market/instruments-info"}


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    h = MarketDataHub(timeout=2.0)
    yield h
    await h.close()


async def test_bybit_futures_subscriptions_read_the_linear_perpetual(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    sandbox.set_market("BTC/USDT", price=float(SPOT))
    sandbox.control_market({"symbol": "BTC/USDT", "basis": float(BASIS)})
    ep = Endpoints(**sandbox.endpoints("bybit"))
    futures = [hub.subscribe("bybit", ep, ["BTC/USDT"], market="futures") for _ in range(5)]
    spot = hub.subscribe("bybit", ep, ["BTC/USDT"])
    sandbox.reset_request_counts()
    await hub.tick()
    counts = sandbox.request_counts("bybit")
    assert set(counts) <= PUBLIC, counts  # no key, nothing private
    assert (counts["/v5/market/tickers"], counts["/v5/market/orderbook"]) == (2, 2)  # spot+perp

    fq, sq = futures[0].quote("BTC/USDT"), spot.quote("BTC/USDT")
    assert fq is not None
    assert sq is not None
    assert fq.pair == sq.pair == "BTC/USDT"
    assert (fq.bid, fq.ask) == (PERP - Decimal("0.01"), PERP + Decimal("0.01"))
    assert (sq.bid, sq.ask) == (SPOT - Decimal("0.01"), SPOT + Decimal("0.01"))
    book = futures[0].order_book("BTC/USDT")
    assert book is not None
    assert book.bids[0][0] == PERP - Decimal("0.01")
    rules = futures[0].rules("BTC/USDT")
    assert rules is not None
    assert (rules.price_tick, rules.amount_step, rules.min_amount) == (
        Decimal("0.01"), Decimal("0.001"), Decimal("0.001")
    )  # fmt: skip
    assert all(s.failure("BTC/USDT") is None for s in [*futures, spot])
