"""OKX public market data shared per endpoint, as for MEXC and KuCoin: the MarketDataHub polls
the OKX venue with credential-free ccxt clients, one ticker and one book per pair per tick
whatever the number of subscribers, markets loaded once from the public instruments, and a
rate-limited poll classified by OKX's code (50011) without inventing a Retry-After.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.health import ErrorClass as E
from tests.integration.okx_support import OkxVenue, okx_registered

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("okx_registered")]
__all__ = ["okx_registered"]
TICKER, BOOKS = "/api/v5/market/ticker", "/api/v5/market/books"
PUBLIC = {TICKER, BOOKS, "/api/v5/public/instruments"}


@pytest.fixture
async def venue() -> AsyncIterator[OkxVenue]:
    v = OkxVenue()
    await v.start()
    try:
        yield v
    finally:
        await v.stop()


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    h = MarketDataHub(timeout=2.0)
    try:
        yield h
    finally:
        await h.close()


async def test_twenty_subscribers_two_pairs_cost_two_tickers_and_two_books_per_tick(
    venue: OkxVenue, hub: MarketDataHub
) -> None:
    ep = Endpoints(spot=venue.url)
    pairs = ("BTC/USDT", "ETH/USDT")
    subs = [hub.subscribe("okx", ep, pairs[: 1 + i % 2]) for i in range(20)]
    for tick in range(1, 3):
        await hub.tick()
        counts = venue.counts()
        assert (counts[TICKER], counts[BOOKS]) == (2 * tick, 2 * tick), counts
    assert set(counts) <= PUBLIC, counts  # no key, no private call
    for sub in subs:
        for pair in sub.pairs:
            quote, book = sub.quote(pair), sub.order_book(pair)
            assert quote is not None
            assert book is not None
            assert quote.bid is not None
            assert quote.ask is not None
            assert quote.bid < quote.ask
            assert 0 < len(book.bids) <= 20
            assert book.bids[0][0] < book.asks[0][0]
            assert sub.failure(pair) is None


async def test_rate_limited_poll_is_classified_by_okx_code(
    venue: OkxVenue, hub: MarketDataHub
) -> None:
    sub = hub.subscribe("okx", Endpoints(spot=venue.url), ["BTC/USDT"])
    await hub.tick()
    assert sub.quote("BTC/USDT") is not None
    venue.faults.rate_limit = True
    await hub.tick()
    failure = sub.failure("BTC/USDT")
    assert failure is not None
    assert failure.error_class is E.RATE_LIMITED
    assert "50011" in failure.detail
    assert failure.retry_after is None
