"""Bybit public market data through the shared MarketDataHub with real ccxt: markets loaded once
from the public instruments-info, one ticker and one order book per (endpoint, pair) per tick for
any number of subscribers, and a 10016 answer classified (exchange_unavailable, never raised)
while the last snapshot stays readable.
"""

from __future__ import annotations

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.health import ErrorClass
from tests.integration.bybit_support import BybitVenue
from tests.integration.venue_support import assert_quoted, poll_twice, venue_fixture

pytestmark = pytest.mark.integration
PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
TICKERS, BOOK = "/v5/market/tickers", "/v5/market/orderbook"
venue = venue_fixture(BybitVenue)


async def test_many_subscribers_cost_one_ticker_and_book_per_pair_per_tick(
    venue: BybitVenue, hub: MarketDataHub
) -> None:
    subs, counts = await poll_twice(hub, venue, PAIRS, TICKERS, BOOK)
    # markets loaded once, public only; nothing signed
    assert counts["/v5/market/instruments-info"] == 3, counts
    assert set(counts) == {TICKERS, BOOK, "/v5/market/instruments-info"}, counts
    book = assert_quoted(subs[2], "SOL/USDT")
    assert len(book.asks) == 20


async def test_service_error_is_classified_and_the_last_snapshot_kept(
    venue: BybitVenue, hub: MarketDataHub
) -> None:
    sub = hub.subscribe("bybit", Endpoints(spot=venue.url), ("BTC/USDT",))
    await hub.tick()
    before = sub.quote("BTC/USDT")
    assert before is not None
    venue.faults.maintenance = True  # market endpoints answer retCode 10016
    await hub.tick()
    failure = sub.failure("BTC/USDT")
    assert failure is not None
    assert failure.error_class is ErrorClass.EXCHANGE_UNAVAILABLE
    assert "10016" in failure.detail
    assert sub.quote("BTC/USDT") == before
