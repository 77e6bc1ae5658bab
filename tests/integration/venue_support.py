"""One sandbox venue (Binance, OKX or Bybit) on its own free loopback port, its keys and
Connections, and the connection-test helpers those exchanges' tests share. The per-exchange
parts (key format, canaries, full permissions) are the small subclasses in binance_support.py,
okx_support.py and bybit_support.py. Used by tests/integration/test_{binance,okx,bybit}_*.py.

The venue is the real sandbox code: the exchange's routes and its gateway as sandbox/server.py
registers it (`server.GATEWAYS`), behind server.py's middleware; ccxt talks to it over HTTP with
only its base URL changed. A venue of its own (not the whole `Sandbox`) lets a test drop routes
(`without`) to play an older deployment.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar, NotRequired, Self, TypedDict, TypeVar

import ccxt.async_support as ccxt_async
import pytest
from aiohttp import web
from pydantic import SecretStr

from backfuture_daemon.configuration.models import Connection, Endpoints, Policy
from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.exchanges.market_data import MarketDataHub, MarketSubscription
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.port import OrderBook, OrderRequest, OrderType, Side
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.exchanges.venue_ports import trading_port
from backfuture_daemon.health import REMEDIES, ConnectionReport, ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from backfuture_daemon.sandbox import binance, bybit, okx, server, transport
from backfuture_daemon.sandbox.catalogue import Catalogue
from backfuture_daemon.sandbox.engine import Engine, PriceFeed
from backfuture_daemon.sandbox.faults import Faults
from backfuture_daemon.sandbox.keys import KeyStore, SandboxKey
from backfuture_daemon.sandbox.venue import VENUE, Venue
from tests.integration.connection_test_support import step_of, strategy

LOOPBACK = Policy(egress_ips=("127.0.0.1",))
#: The routes server.py's Sandbox serves on each of these exchanges' ports.
ROUTES: dict[str, Callable[[], list[Any]]] = {
    "binance": binance.spot.routes,
    "okx": okx.account.routes,
    "bybit": bybit.account.routes,
}
_counter = iter(range(10**6))
_ids = iter(range(10**6))


V = TypeVar("V", bound="VenueServer")


class Credentials(TypedDict):
    api_key: str
    api_secret: str
    passphrase: NotRequired[str]


class VenueServer:
    """One exchange's sandbox venue on a free loopback port: `async with` it, or `await
    start()` / `await stop()`. Subclasses name the exchange and shape its keys."""

    exchange: ClassVar[str]
    label: ClassVar[str]  # the start of each Connection's name
    #: Secrets are canaries: tests assert they never show up in any report or log.
    canaries: ClassVar[tuple[str, ...]]
    full: ClassVar[tuple[str, ...]]  # the permissions of a healthy spot key

    def __init__(self, keys: Sequence[SandboxKey] = (), *, without: frozenset[str] = frozenset()):
        """`without`: route paths this deployment does not serve (they answer 404)."""
        self.keys = KeyStore(keys)
        self.faults = Faults()
        self.venue = Venue(
            name=self.exchange,
            exchange=self.exchange,
            keys=self.keys,
            engine=Engine(PriceFeed(7, Catalogue())),
            faults=self.faults,
        )
        gateway = server.GATEWAYS[self.exchange]
        self.venue.fault_responder = gateway.fault_response
        self.venue.not_found = gateway.not_found
        self._without = without
        self._runner: transport.AppRunner | None = None
        self.url = ""

    def api_urls(self) -> dict[str, Any]:
        """ccxt's `urls["api"]` pointed at this venue."""
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application(middlewares=[server._middleware])
        app[VENUE] = self.venue
        for method, path, handler in ROUTES[self.exchange]():
            if path not in self._without:
                app.router.add_route(method, path, handler)
        runner = transport.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def stop(self) -> None:
        self.venue.stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def counts(self) -> dict[str, int]:
        return dict(self.venue.counts)

    def reset_counts(self) -> None:
        self.venue.counts.clear()

    def credentials(self, n: int) -> Credentials:
        """The n-th key's api_key, api_secret (and passphrase) in the exchange's format."""
        raise NotImplementedError

    def add_key(
        self,
        *,
        permissions: Sequence[str] | None = None,
        ip_whitelist: Sequence[str] = ("127.0.0.1",),
        age_days: float = 0.0,
        **extra: Any,
    ) -> SandboxKey:
        """A new key (`full` permissions unless given) with 1000 USDT, created `age_days` ago."""
        key = SandboxKey(
            exchange=self.exchange,
            **self.credentials(next(_counter)),
            permissions=frozenset(self.full if permissions is None else permissions),
            ip_whitelist=tuple(ip_whitelist),
            balances={"USDT": Decimal(1000)},
            **extra,
        )
        key.created_ms -= int(age_days * 86_400_000)
        self.keys.add(key)
        return key

    def connection_for(
        self,
        key: SandboxKey,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        passphrase: str | None = None,
    ) -> Connection:
        """A validated Connection for `key` on this venue; the keywords replace its secrets."""
        pw = passphrase or key.passphrase
        return Connection(
            name=f"{self.label} {key.api_key[-9:]}",
            exchange=self.exchange,
            api_key=SecretStr(api_key or key.api_key),
            api_secret=SecretStr(api_secret or key.api_secret),
            passphrase=SecretStr(pw) if pw is not None else None,
            endpoints=Endpoints(spot=self.url),
        )

    def ccxt_client(self, key: SandboxKey | None = None, **config: Any) -> Any:
        """A real ccxt async client on this venue (with `key`'s credentials if given), no rate
        limiter; `config` adds to or replaces its settings. The caller closes it."""
        credentials = {} if key is None else {"apiKey": key.api_key, "secret": key.api_secret}
        if key is not None and key.passphrase is not None:
            credentials["password"] = key.passphrase
        make = getattr(ccxt_async, self.exchange)
        return make({**credentials, "enableRateLimit": False, "timeout_on_exit": 0,
                     "urls": {"api": self.api_urls()}, **config})  # fmt: skip

    def assert_no_secret(self, text: str, key: SandboxKey) -> None:
        """No canary and not the key itself (only ever shown masked) in `text`."""
        for secret in (*self.canaries, key.api_key):
            assert secret not in text, text


async def run(
    tester: ConnectionTester,
    venue: VenueServer,
    *,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    market: str = "spot",
    policy: Policy = LOOPBACK,
    conn: dict[str, Any] | None = None,
    **key: Any,
) -> ConnectionReport:
    """A new key (`key`), a Connection for it (`conn` replaces secrets) and one strategy,
    tested; the report must carry no secret."""
    k = venue.add_key(**key)
    connection = venue.connection_for(k, **(conn or {}))
    report = await tester.test(connection, [strategy(connection, pairs, market)], policy)
    venue.assert_no_secret(json.dumps(report.to_dict()), k)
    return report


step = step_of


def assert_online(report: ConnectionReport, venue: VenueServer) -> None:
    """A healthy, IP-restricted key's report: online, no error class, at most five requests
    since the venue's counts were reset (markets already loaded), clocks within a second."""
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert report.error_classes == ()
    assert sum(venue.counts().values()) <= 5, venue.counts()
    assert report.ip_restricted is True
    assert report.clock_skew_ms is not None
    assert abs(report.clock_skew_ms) < 1000


def assert_failed(report: ConnectionReport, name: str, cls: E, *fragments: str) -> None:
    """The report failed at step `name` with `cls`, its reason holding every fragment, and
    lists the class's remedy."""
    assert report.status is ConnectionStatus.FAILED, report.to_dict()
    found = step(report, name)
    assert (found.status, found.error_class) == (S.FAIL, cls), report.to_dict()
    for fragment in fragments:
        assert fragment in found.reason, found.reason
    assert cls in report.error_classes
    remedies = report.to_dict()["remedies"]
    assert isinstance(remedies, list)
    assert REMEDIES[cls] in remedies


def cid() -> str:
    """A bot-style client order id, alphanumeric as every exchange accepts (OKX: no '-', '_')."""
    return f"bf{next(_ids):06d}t{int(time.time()) % 10**6:06d}"


def limit_buy(price: str = "30000", amount: str = "0.001", client_id: str = "") -> OrderRequest:
    return OrderRequest(
        "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal(amount), client_id or cid(), Decimal(price)
    )


@contextlib.asynccontextmanager
async def trading_ports(venue: VenueServer) -> AsyncIterator[Callable[..., CcxtTrading]]:
    """`build(**key)`: the TradingPort (exchanges/trading.py) of a new key on `venue`; every
    port, the market cache and the client factory are closed on exit."""
    factory = ClientFactory(timeout=2.0)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    ports: list[CcxtTrading] = []

    def build(**key: Any) -> CcxtTrading:
        port = trading_port(venue.connection_for(venue.add_key(**key)), ctx, markets)
        ports.append(port)
        return port

    try:
        yield build
    finally:
        for port in ports:
            await port.close()
        await markets.close()
        await factory.close()


def venue_fixture(cls: type[V]) -> Callable[[], AsyncIterator[V]]:
    """`venue = venue_fixture(BinanceVenue)`: a test module's started venue, stopped after."""

    async def venue() -> AsyncIterator[V]:
        async with cls() as v:
            yield v

    return pytest.fixture(venue)


async def poll_twice(
    hub: MarketDataHub, venue: VenueServer, pairs: Sequence[str], ticker: str, book: str
) -> tuple[list[MarketSubscription], dict[str, int]]:
    """Twenty subscribers on the first one, two, ... of `pairs`, two ticks: each tick costs one
    ticker and one book request per pair, however many subscribers. Returns them and the
    venue's request counts."""
    ep = Endpoints(spot=venue.url)
    subs = [hub.subscribe(venue.exchange, ep, pairs[: 1 + i % len(pairs)]) for i in range(20)]
    counts: dict[str, int] = {}
    for tick in (1, 2):
        await hub.tick()
        counts = venue.counts()
        assert (counts[ticker], counts[book]) == (len(pairs) * tick, len(pairs) * tick), counts
    return subs, counts


def assert_quoted(sub: MarketSubscription, pair: str) -> OrderBook:
    """`pair` has a two-sided quote and an uncrossed book, and no failure. Returns the book."""
    quote, book = sub.quote(pair), sub.order_book(pair)
    assert quote is not None
    assert book is not None
    assert quote.bid is not None
    assert quote.ask is not None
    assert quote.bid < quote.ask
    assert book.bids[0][0] < book.asks[0][0]
    assert sub.failure(pair) is None
    return book
