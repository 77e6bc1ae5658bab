"""Bybit public market data through the shared MarketDataHub with real ccxt: markets loaded once
from the public instruments-info, one ticker and one order book per (endpoint, pair) per tick for
any number of subscribers, and a 10016 answer classified (exchange_unavailable, never raised)
while the last snapshot stays readable. registry.public_spec learns Bybit from its registration
line; until then this file applies it the way bybit_support applies the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges import bybit, market_data
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.health import ErrorClass
from tests.integration.bybit_support import BybitVenue, bybit_registered

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("bybit_registered")]
__all__ = ["bybit_registered"]
PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
TICKERS, BOOK = "/v5/market/tickers", "/v5/market/orderbook"


@pytest.fixture(autouse=True)
def public_spec_knows_bybit(monkeypatch: pytest.MonkeyPatch) -> None:
    original = market_data.public_spec
    try:
        original("bybit", None)
    except ValueError:

        def spec(exchange: str, endpoints: Endpoints | None) -> ClientSpec:
            return (
                bybit.client_spec(endpoints)
                if exchange == "bybit"
                else original(exchange, endpoints)
            )

        monkeypatch.setattr(market_data, "public_spec", spec)


@pytest.fixture
async def venue() -> AsyncIterator[BybitVenue]:
    v = BybitVenue()
    await v.start()
    try:
        yield v
    finally:
        await v.stop()


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    h = MarketDataHub(timeout=2.0)
    yield h
    await h.close()


async def test_many_subscribers_cost_one_ticker_and_book_per_pair_per_tick(
    venue: BybitVenue, hub: MarketDataHub
) -> None:
    ep = Endpoints(spot=venue.url)
    subs = [hub.subscribe("bybit", ep, PAIRS[: 1 + i % 3]) for i in range(20)]
    for tick in range(1, 3):
        await hub.tick()
        counts = venue.counts()
        assert (counts[TICKERS], counts[BOOK]) == (3 * tick, 3 * tick), counts
    # markets loaded once, public only; nothing signed
    assert counts["/v5/market/instruments-info"] == 3, counts
    assert set(counts) == {TICKERS, BOOK, "/v5/market/instruments-info"}, counts
    quote = subs[2].quote("SOL/USDT")
    book = subs[2].order_book("SOL/USDT")
    assert quote is not None
    assert book is not None
    assert quote.bid is not None
    assert quote.ask is not None
    assert quote.bid < quote.ask
    assert book.bids[0][0] < book.asks[0][0]
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
