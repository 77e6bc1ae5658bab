"""The shared market data hub against the sandbox with real ccxt: one ticker and one order-book
request per (endpoint, pair) per tick however many subscribers, public endpoints only, and
failures classified and exposed (never raised) while the last snapshot stays readable.
Requests are counted on the sandbox side (`Sandbox.request_counts`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus, ErrorClass
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import (
    LOOPBACK_POLICY,
    add_key,
    connection_for,
    strategy,
)

pytestmark = pytest.mark.integration
PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
MEXC_TICKER, MEXC_DEPTH = "/api/v3/ticker/24hr", "/api/v3/depth"
#: every path a credential-free client may call: the two polls plus the (shared) market load.
MEXC_PUBLIC = {MEXC_TICKER, MEXC_DEPTH, "/api/v3/exchangeInfo", "/api/v1/contract/detail"}
KUCOIN_PUBLIC = {
    "/api/v1/market/stats",
    "/api/v1/market/orderbook/level2_20",
    "/api/v2/symbols",
    "/api/v3/currencies",
}


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    h = MarketDataHub(timeout=2.0)
    yield h
    await h.close()


def endpoints(sandbox: Sandbox, exchange: str) -> Endpoints:
    return Endpoints(**sandbox.endpoints(exchange))


async def test_fifty_subscribers_on_three_pairs_cost_three_tickers_and_three_books_per_tick(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    ep = endpoints(sandbox, "mexc")
    subs = [hub.subscribe("mexc", ep, PAIRS[: 1 + i % 3]) for i in range(50)]
    sandbox.reset_request_counts()
    for tick in range(1, 4):
        await hub.tick()
        counts = sandbox.request_counts("mexc")
        assert counts[MEXC_TICKER] == 3 * tick, counts
        assert counts[MEXC_DEPTH] == 3 * tick, counts
    assert counts["/api/v3/exchangeInfo"] == 1, counts  # markets loaded once, then shared
    assert set(counts) <= MEXC_PUBLIC, counts  # no key, no private call
    assert hub.requests == 18
    for sub in subs:
        for pair in sub.pairs:
            quote, book = sub.quote(pair), sub.order_book(pair)
            assert quote is not None
            assert book is not None
            assert quote.bid is not None
            assert quote.ask is not None
            assert quote.bid <= quote.ask
            assert 0 < len(book.bids) <= 20
            assert 0 < len(book.asks) <= 20
            assert book.bids[0][0] <= book.asks[0][0]
            assert sub.failure(pair) is None
    assert subs[0].quote("SOL/USDT") is not None  # same endpoint: any polled pair is readable


async def test_each_endpoint_is_polled_for_its_own_pairs(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    mexc = [hub.subscribe("mexc", endpoints(sandbox, "mexc"), ["BTC/USDT"]) for _ in range(10)]
    kucoin = [
        hub.subscribe("kucoin", endpoints(sandbox, "kucoin"), ["BTC/USDT", "ETH/USDT"])
        for _ in range(10)
    ]
    sandbox.reset_request_counts()
    await hub.tick()
    m, k = sandbox.request_counts("mexc"), sandbox.request_counts("kucoin")
    assert (m[MEXC_TICKER], m[MEXC_DEPTH]) == (1, 1), m
    assert k["/api/v1/market/stats"] == 2, k
    assert k["/api/v1/market/orderbook/level2_20"] == 2, k
    assert set(k) <= KUCOIN_PUBLIC, k
    assert all(s.quote("BTC/USDT") is not None for s in mexc + kucoin)


async def test_unsubscribed_pairs_are_no_longer_polled(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    ep = endpoints(sandbox, "mexc")
    a = hub.subscribe("mexc", ep, ["BTC/USDT", "ETH/USDT"])
    b = hub.subscribe("mexc", ep, ["BTC/USDT"])
    await hub.tick()
    a.close()
    a.close()  # idempotent: never releases twice
    sandbox.reset_request_counts()
    await hub.tick()
    assert sandbox.request_counts("mexc").get(MEXC_TICKER) == 1
    assert b.quote("BTC/USDT") is not None
    assert b.quote("ETH/USDT") is None
    b.close()
    sandbox.reset_request_counts()
    await hub.tick()
    assert sandbox.request_counts("mexc") == {}


async def test_an_unavailable_exchange_is_exposed_and_the_last_snapshot_kept(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    sub = hub.subscribe("mexc", endpoints(sandbox, "mexc"), ["BTC/USDT"])
    await hub.tick()
    before = sub.quote("BTC/USDT")
    assert before is not None
    sandbox.faults("mexc").http_5xx = 503
    await hub.tick()  # does not raise
    failure = sub.failure("BTC/USDT")
    assert failure is not None
    assert failure.error_class is ErrorClass.EXCHANGE_UNAVAILABLE
    assert sub.quote("BTC/USDT") == before  # with its own (older) timestamp
    sandbox.faults("mexc").http_5xx = 0
    await hub.tick()
    assert sub.failure("BTC/USDT") is None
    after = sub.quote("BTC/USDT")
    assert after is not None
    assert after.timestamp >= before.timestamp


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_rate_limited_pauses_the_endpoint_for_its_retry_after(
    sandbox: Sandbox, exchange: str
) -> None:
    now = [1000.0]
    hub = MarketDataHub(timeout=2.0, monotonic=lambda: now[0])
    try:
        sub = hub.subscribe(exchange, endpoints(sandbox, exchange), ["BTC/USDT"])
        await hub.tick()
        faults = sandbox.faults(exchange)
        faults.rate_limit, faults.retry_after_s = True, 30
        await hub.tick()
        failure = sub.failure("BTC/USDT")
        assert failure is not None
        assert failure.error_class is ErrorClass.RATE_LIMITED
        assert failure.retry_after == 30
        faults.rate_limit = False
        sandbox.reset_request_counts()
        now[0] += 29
        await hub.tick()
        assert sandbox.request_counts(exchange) == {}  # still inside the Retry-After
        now[0] += 2
        await hub.tick()
        assert sub.failure("BTC/USDT") is None
        assert sandbox.request_counts(exchange)
    finally:
        await hub.close()


async def test_markets_that_cannot_load_are_a_failure_not_an_exception(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    sandbox.faults("mexc").http_5xx = 502
    sub = hub.subscribe("mexc", endpoints(sandbox, "mexc"), PAIRS)
    await hub.tick()
    for pair in PAIRS:
        failure = sub.failure(pair)
        assert failure is not None
        assert failure.error_class is ErrorClass.EXCHANGE_UNAVAILABLE
        assert sub.quote(pair) is None
    sandbox.faults("mexc").http_5xx = 0
    await hub.tick()
    assert all(sub.quote(p) is not None for p in PAIRS)


async def test_a_hub_from_the_connection_tester_shares_its_market_data(sandbox: Sandbox) -> None:
    tester = ConnectionTester(timeout=2.0)
    hub = tester.market_data_hub()
    try:
        key = add_key(sandbox, "mexc")
        conn = connection_for(sandbox, key)
        sandbox.reset_request_counts()
        report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
        assert report.status is ConnectionStatus.ONLINE, report.to_dict()
        sub = hub.subscribe("mexc", conn.endpoints, ["BTC/USDT"])
        await hub.tick()
        assert sub.quote("BTC/USDT") is not None
        assert sandbox.request_counts("mexc")["/api/v3/exchangeInfo"] == 1
        assert tester.markets.loads == 1
    finally:
        await hub.close()
        await tester.close()


async def test_run_ticks_until_stopped(sandbox: Sandbox, hub: MarketDataHub) -> None:
    sub = hub.subscribe("mexc", endpoints(sandbox, "mexc"), ["BTC/USDT"])
    stop = asyncio.Event()
    runner = asyncio.create_task(hub.run(0.05, stop))
    for _ in range(200):
        if hub.ticks >= 3:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(runner, 2.0)
    assert hub.ticks >= 3
    ticks = hub.ticks
    await asyncio.sleep(0.1)
    assert hub.ticks == ticks  # stopped: no tick after stop
    assert sub.quote("BTC/USDT") is not None
