"""OKX public market data shared per endpoint, as for MEXC and KuCoin: the MarketDataHub polls
the OKX venue with credential-free ccxt clients, one ticker and one book per pair per tick
whatever the number of subscribers, markets loaded once from the public instruments, and a
rate-limited poll classified by OKX's code (50011) without inventing a Retry-After.
"""

from __future__ import annotations

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.health import ErrorClass as E
from tests.integration.okx_support import OkxVenue
from tests.integration.venue_support import assert_quoted, poll_twice, venue_fixture

pytestmark = pytest.mark.integration
TICKER, BOOKS = "/api/v5/market/ticker", "/api/v5/market/books"
PUBLIC = {TICKER, BOOKS, "/api/v5/public/instruments"}
venue = venue_fixture(OkxVenue)


async def test_twenty_subscribers_two_pairs_cost_two_tickers_and_two_books_per_tick(
    venue: OkxVenue, hub: MarketDataHub
) -> None:
    subs, counts = await poll_twice(hub, venue, ("BTC/USDT", "ETH/USDT"), TICKER, BOOKS)
    assert set(counts) <= PUBLIC, counts  # no key, no private call
    for sub in subs:
        for pair in sub.pairs:
            book = assert_quoted(sub, pair)
            assert 0 < len(book.bids) <= 20


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
