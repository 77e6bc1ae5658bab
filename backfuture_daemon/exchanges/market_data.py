"""Shared public market data: one poll per (exchange endpoint, market, pair) per tick, whatever
the number of bots reading it (issue 9 item 5).

The daemon's composition root builds one `MarketDataHub` and runs `hub.run(interval, stop)`; each
bot (or paper exchange) calls `hub.subscribe(exchange, endpoints, pairs, market=...)` and reads
the returned `MarketSubscription`, a `MarketDataPort`. A futures subscription keeps the config's
pairs but polls their perpetuals on the futures host (market_feeds.py: KuCoin), with book sizes
in base amounts and the contracts' rules; spot and futures of one endpoint are separate feeds.
Polls use credential-free ccxt clients (fetch_ticker, fetch_order_book limit 20) on markets from
the shared MarketCache. Failures are classified with classify.py and exposed per pair
(`failure()`), never raised into callers; the last good snapshot stays readable with its
timestamp. A Retry-After pauses that endpoint's polls. When a round has landed, each
subscription of a polled endpoint calls its `on_round` listeners (the bot runners wake on fresh
prices instead of waiting out their interval); `rounds` counts the rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges.classify import classify_error
from backfuture_daemon.exchanges.clients import ClientFactory, ClientSpec, take_response
from backfuture_daemon.exchanges.market_feeds import FeedVenue, dec, feed_venue, levels
from backfuture_daemon.exchanges.market_rules import TICK_SIZE
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.port import MarketFailure, OrderBook, Quote
from backfuture_daemon.health import ErrorClass
from backfuture_daemon.strategy.params import MarketRules

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Endpoints

log = logging.getLogger("backfuture.exchanges.market_data")
#: (ccxt id, endpoint, market): spot and perpetuals on one host (Bybit v5) are two feeds
EndpointKey = tuple[str, str, str]
BOOK_LIMIT = 20  # KuCoin serves 20 or 100 levels publicly; MEXC any limit up to 5000


@dataclass(slots=True)
class _Feed:
    """One (endpoint, pair): how many subscriptions read it and what the last polls brought."""

    subscribers: int = 0
    quote: Quote | None = None
    book: OrderBook | None = None
    failure: MarketFailure | None = None


@dataclass(slots=True)
class _Endpoint:
    exchange: str
    venue: FeedVenue
    feeds: dict[str, _Feed] = field(default_factory=dict)
    client: Any | None = None
    #: monotonic time before which the venue asked us not to call (Retry-After).
    paused_until: float = 0.0
    #: MarketRules per pair, valid while `client.markets` is `rules_of` (a reload replaces it).
    rules: dict[str, MarketRules | None] = field(default_factory=dict)
    rules_of: object = None
    subscriptions: list[MarketSubscription] = field(default_factory=list)


class MarketSubscription:
    """A `MarketDataPort` over one endpoint's shared feeds. `close()` when the bot stops."""

    def __init__(self, hub: MarketDataHub, key: EndpointKey, pairs: tuple[str, ...]) -> None:
        self._hub = hub
        self._key = key
        self.pairs = pairs
        self._open = True
        self._listeners: list[Callable[[], None]] = []

    def _feed(self, pair: str) -> _Feed | None:
        endpoint = self._hub._endpoints.get(self._key)
        return endpoint.feeds.get(pair) if endpoint is not None else None

    def quote(self, pair: str) -> Quote | None:
        feed = self._feed(pair)
        return feed.quote if feed is not None else None

    def order_book(self, pair: str) -> OrderBook | None:
        feed = self._feed(pair)
        return feed.book if feed is not None else None

    def failure(self, pair: str) -> MarketFailure | None:
        feed = self._feed(pair)
        return feed.failure if feed is not None else None

    def rules(self, pair: str) -> MarketRules | None:
        """The pair's price tick, amount step, minimums and fees from the loaded markets; None
        until the endpoint's markets are loaded (the bots wait) or when the market is unknown.
        Built once per (endpoint, pair) and kept until the markets are reloaded."""
        endpoint = self._hub._endpoints.get(self._key)
        client = endpoint.client if endpoint is not None else None
        markets = getattr(client, "markets", None) if client is not None else None
        if endpoint is None or not isinstance(markets, dict):
            return None
        if endpoint.rules_of is not markets:
            endpoint.rules, endpoint.rules_of = {}, markets
        if pair in endpoint.rules:
            return endpoint.rules[pair]
        market = markets.get(endpoint.venue.symbol(pair))
        rules = (
            endpoint.venue.rules(market, int(getattr(client, "precisionMode", TICK_SIZE)))
            if isinstance(market, dict)
            else None
        )
        endpoint.rules[pair] = rules
        return rules

    def on_round(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (synchronously, it must not block) each time a round of this
        subscription's endpoint has landed, until `close()`."""
        if self._open:
            self._listeners.append(listener)

    def _landed(self) -> None:
        for listener in tuple(self._listeners):
            try:
                listener()
            except Exception as e:  # one bad listener must not stop the polls of all
                log.warning("market data round listener failed: %s", repr(e)[:200])

    def close(self) -> None:
        if self._open:
            self._open = False
            self._listeners.clear()
            self._hub._release(self._key, self)


class MarketDataHub:
    """Polls every subscribed (endpoint, pair) once per `tick()`; `await close()` at the end."""

    def __init__(
        self,
        make_client: Callable[[ClientSpec, None], Any] | None = None,
        markets: MarketCache | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
        book_limit: int = BOOK_LIMIT,
        max_concurrency: int = 32,
    ) -> None:
        """Without `make_client`/`markets` the hub owns its own HTTP session and market cache;
        pass the connection tester's to share them."""
        self._factory: ClientFactory | None = None
        if make_client is None:
            self._factory = make_client = ClientFactory(timeout)
        self._make_client = make_client
        self._own_markets = markets is None
        self._markets = markets or MarketCache(self._make_client, clock=monotonic)
        self._clock = clock
        self._monotonic = monotonic
        self._book_limit = book_limit
        self._limit = asyncio.Semaphore(max_concurrency)
        self._endpoints: dict[EndpointKey, _Endpoint] = {}
        self.ticks = 0
        #: rounds completed (every poll of the round answered or failed); listeners told.
        self.rounds = 0
        self.requests = 0  # ticker + order-book calls issued, for tests and benchmarks

    def subscribe(
        self,
        exchange: str,
        endpoints: Endpoints | None,
        pairs: Iterable[str],
        *,
        market: str = "spot",
    ) -> MarketSubscription:
        """Read `pairs` (`BTC/USDT`) of `exchange` at `endpoints` from the next tick on: the spot
        pairs, or (`market="futures"`) their USDT perpetuals, still under the pairs' names.
        ValueError when `exchange` has no futures market data (market_feeds.py)."""
        venue = feed_venue(exchange, endpoints, market)
        key = (*venue.spec.cache_key, "futures" if venue.futures else "spot")
        endpoint = self._endpoints.setdefault(key, _Endpoint(exchange, venue))
        wanted = tuple(dict.fromkeys(pairs))
        for pair in wanted:
            endpoint.feeds.setdefault(pair, _Feed()).subscribers += 1
        subscription = MarketSubscription(self, key, wanted)
        endpoint.subscriptions.append(subscription)
        return subscription

    def _release(self, key: EndpointKey, subscription: MarketSubscription) -> None:
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            return
        with contextlib.suppress(ValueError):
            endpoint.subscriptions.remove(subscription)
        for pair in subscription.pairs:
            feed = endpoint.feeds.get(pair)
            if feed is not None:
                feed.subscribers -= 1
                if feed.subscribers <= 0:
                    del endpoint.feeds[pair]

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Tick every `interval` seconds (start to start) until `stop` is set."""
        while not stop.is_set():
            started = self._monotonic()
            await self.tick()
            wait = max(interval - (self._monotonic() - started), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def tick(self) -> None:
        """One round: every subscribed (endpoint, pair) polled once, concurrently. Never raises
        for exchange problems (they land in each pair's `failure`)."""
        self.ticks += 1
        await self._drop_unused()
        now = self._monotonic()
        polls: list[Coroutine[Any, Any, None]] = []
        polled: list[_Endpoint] = []
        for endpoint in self._endpoints.values():
            if endpoint.paused_until > now:
                continue
            client = await self._client(endpoint)
            if client is None:
                continue
            polled.append(endpoint)
            polls.extend(self._poll(endpoint, client, pair) for pair in endpoint.feeds)
        await asyncio.gather(*polls)
        self.rounds += 1
        for endpoint in polled:
            for subscription in tuple(endpoint.subscriptions):
                subscription._landed()

    async def _client(self, endpoint: _Endpoint) -> Any | None:
        """The endpoint's public client with markets attached; None (failure recorded) when
        the markets cannot be loaded this tick."""
        try:
            source = await self._markets.source(endpoint.venue.spec)
        except Exception as e:  # classified and exposed, never raised
            self._failed(endpoint, endpoint.feeds, e, None)
            return None
        if endpoint.client is None:
            endpoint.client = self._make_client(endpoint.venue.spec, None)
        endpoint.client.set_markets_from_exchange(source)
        return endpoint.client

    async def _poll(self, endpoint: _Endpoint, client: Any, pair: str) -> None:
        symbol = endpoint.venue.symbol(pair)
        async with self._limit:
            try:
                self.requests += 1
                ticker = await client.fetch_ticker(symbol)
                self.requests += 1
                book = await client.fetch_order_book(symbol, self._book_limit)
                unit = endpoint.venue.unit((client.markets or {}).get(symbol))
            except Exception as e:  # classified and exposed, never raised
                self._failed(endpoint, (pair,), e, client)
                return
        feed = endpoint.feeds.get(pair)
        if feed is None:  # unsubscribed meanwhile
            return
        at = self._clock()
        bids = levels(book.get("bids"), self._book_limit, unit)
        asks = levels(book.get("asks"), self._book_limit, unit)
        # Binance's fapi 24hr ticker has no bid/ask: the book's best levels stand in.
        bid = dec(ticker.get("bid")) or (bids[0][0] if bids else None)
        ask = dec(ticker.get("ask")) or (asks[0][0] if asks else None)
        feed.quote = Quote(pair, bid, ask, dec(ticker.get("last")), at)
        feed.book = OrderBook(pair, bids, asks, at)
        feed.failure = None

    def _failed(
        self, endpoint: _Endpoint, pairs: Iterable[str], exc: Exception, client: Any | None
    ) -> None:
        meta = take_response(client) if client is not None else None
        c = classify_error(exc, endpoint.exchange, http_status=meta.status if meta else None)
        retry_after = meta.retry_after if meta is not None else None
        if c.error_class is ErrorClass.RATE_LIMITED and retry_after:
            endpoint.paused_until = max(endpoint.paused_until, self._monotonic() + retry_after)
        if c.error_class is ErrorClass.UNKNOWN_ERROR:
            log.warning("market data %s: unexpected %s (%s)", endpoint.exchange,
                        type(exc).__name__, c.detail)  # fmt: skip
        failure = MarketFailure(c.error_class, c.detail, self._clock(), retry_after)
        for pair in pairs:
            feed = endpoint.feeds.get(pair)
            if feed is not None:
                feed.failure = failure

    async def _drop_unused(self) -> None:
        for key, endpoint in list(self._endpoints.items()):
            if not endpoint.feeds:
                del self._endpoints[key]
                if endpoint.client is not None:
                    await endpoint.client.close()

    async def close(self) -> None:
        endpoints, self._endpoints = list(self._endpoints.values()), {}
        for endpoint in endpoints:
            if endpoint.client is not None:
                await endpoint.client.close()
        if self._own_markets:
            await self._markets.close()
        if self._factory is not None:
            await self._factory.close()
