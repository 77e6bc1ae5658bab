"""The shared market-data hub on Binance with real ccxt against the sandbox venue: one 24h-ticker
and one depth request per pair per tick however many subscribers, public endpoints only, prices
that follow the sandbox's controlled market, and a rate limit exposed (never raised) with the
venue's Retry-After.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.health import ErrorClass
from backfuture_daemon.sandbox.control import parse_command
from tests.integration.binance_support import BinanceVenue
from tests.integration.venue_support import assert_quoted, poll_twice, venue_fixture

pytestmark = pytest.mark.integration
TICKER, DEPTH, INFO = "/api/v3/ticker/24hr", "/api/v3/depth", "/api/v3/exchangeInfo"
venue = venue_fixture(BinanceVenue)


async def test_subscribers_share_one_poll_per_pair(venue: BinanceVenue, hub: MarketDataHub) -> None:
    subs, counts = await poll_twice(hub, venue, ("BTC/USDT", "ETH/USDT"), TICKER, DEPTH)
    assert set(counts) == {TICKER, DEPTH, INFO}, counts  # no key, no private call
    assert counts[INFO] == 1
    for sub in subs:
        for pair in sub.pairs:
            assert_quoted(sub, pair)


async def test_prices_follow_the_controlled_market(venue: BinanceVenue, hub: MarketDataHub) -> None:
    engine = venue.venue.engine
    command = parse_command({"symbol": "BTC/USDT", "price": 61234.5}, engine.catalogue.by_symbol)
    engine.control_market(command, venue.venue.now_ms())
    sub = hub.subscribe("binance", Endpoints(spot=venue.url), ["BTC/USDT"])
    await hub.tick()
    quote = sub.quote("BTC/USDT")
    assert quote is not None
    assert quote.last == Decimal("61234.5")


async def test_rate_limit_is_exposed_with_retry_after(
    venue: BinanceVenue, hub: MarketDataHub
) -> None:
    sub = hub.subscribe("binance", Endpoints(spot=venue.url), ["BTC/USDT"])
    await hub.tick()
    venue.faults.rate_limit = True
    venue.faults.retry_after_s = 9
    await hub.tick()
    failure = sub.failure("BTC/USDT")
    assert failure is not None
    assert failure.error_class is ErrorClass.RATE_LIMITED
    assert failure.retry_after == 9
    assert "-1003" in failure.detail
    assert sub.quote("BTC/USDT") is not None  # the last snapshot stays readable
