"""The `Sandbox`: three aiohttp servers (MEXC spot+contract, KuCoin spot, KuCoin futures) over one
key store and one market, and the middleware that counts requests, injects faults and keeps the
admin routes (admin.py) loopback-only.

Used by `backfuture sandbox` (commands/sandbox.py), the integration-test fixture and benchmarks.
No access log is written: request lines carry API keys and signatures (transport.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox import (
    admin,
    binance,
    bybit,
    kucoin,
    mexc,
    okx,
    order_faults,
    transport,
)
from backfuture_daemon.sandbox.audit import account_record
from backfuture_daemon.sandbox.catalogue import Catalogue
from backfuture_daemon.sandbox.control import parse_command
from backfuture_daemon.sandbox.engine import Engine, PriceFeed
from backfuture_daemon.sandbox.faults import Faults
from backfuture_daemon.sandbox.keys import KeyStore, SandboxKey
from backfuture_daemon.sandbox.venue import (
    VENUE,
    ApiError,
    Handler,
    Venue,
    json_response,
)

log = logging.getLogger(__name__)

VENUES: tuple[str, ...] = ("mexc", "kucoin", "kucoinfutures", "binance", "okx", "bybit")
GATEWAYS: dict[str, Any] = {
    "mexc": mexc.gateway,
    "kucoin": kucoin.gateway,
    "binance": binance.gateway,
    "bybit": bybit.gateway,
    "okx": okx.gateway,
}
EXCHANGE_NAMES: tuple[str, ...] = tuple(v for v in VENUES if v != "kucoinfutures")
_ALIASES = {"kucoin_futures": "kucoinfutures", "kucoin-futures": "kucoinfutures"}


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    venue = request.app[VENUE]
    if request.path.startswith(admin.PREFIX):
        if not admin.is_loopback(request.remote):
            return json_response({"error": "admin routes are loopback-only"}, 403)
        return await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "<unmatched>"
    venue.counts[route] += 1
    faults = venue.faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.timeout:
        return await _hang(venue)
    if venue.fault_responder is not None:
        injected = venue.fault_responder(venue, request, venue.over_budget())
        if injected is not None:
            return injected
    refused = order_faults.refused(faults, request.method, route)
    if refused is not None:
        return refused  # the order never reached the matching engine
    try:
        response = await handler(request)
    except ApiError as e:
        return e.response()
    except web.HTTPException as e:
        if e.status in (404, 405) and venue.not_found is not None:
            return venue.not_found(e.status)
        raise
    if order_faults.withheld(faults, request.method, route, response):
        return await _hang(venue)  # done on the exchange; the answer never comes
    return response


async def _hang(venue: Venue) -> web.Response:
    """Hang past any client timeout; stop() releases hung requests at once."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(venue.stopping.wait(), venue.faults.hang_seconds)
    return web.Response(status=504, text="")


class Sandbox:
    """Local MEXC + KuCoin REST APIs. `await start()`, then point ccxt at `mexc_url`,
    `kucoin_url`, `kucoin_futures_url`; flip faults with `faults(exchange)`; `await stop()`."""

    def __init__(
        self,
        keys: Iterable[SandboxKey] = (),
        host: str = "127.0.0.1",
        mexc_port: int = 0,
        kucoin_port: int = 0,
        kucoin_futures_port: int = 0,
        binance_port: int = 0,
        okx_port: int = 0,
        bybit_port: int = 0,
        *,
        seed: int = 7,
        synthetic_markets: int = 0,
    ) -> None:
        self.host = host
        self.keys = KeyStore(keys)
        catalogue = (
            Catalogue.with_synthetic(synthetic_markets) if synthetic_markets else Catalogue()
        )
        self.engine = Engine(PriceFeed(seed, catalogue))
        self._ports = {
            "mexc": mexc_port,
            "kucoin": kucoin_port,
            "kucoinfutures": kucoin_futures_port,
            "binance": binance_port,
            "okx": okx_port,
            "bybit": bybit_port,
        }
        # Faults are per exchange: the KuCoin spot and futures ports share one set of knobs.
        self._faults = {
            "mexc": Faults(),
            "kucoin": Faults(),
            "binance": Faults(),
            "okx": Faults(),
            "bybit": Faults(),
        }
        self._venues: dict[str, Venue] = {}
        self._runners: dict[str, transport.AppRunner] = {}
        self._bound: dict[str, int] = {}
        self._admin = admin.AdminRoutes(self)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        plan: list[tuple[str, str, list[Any]]] = [
            ("mexc", "mexc", mexc.spot.routes() + mexc.contract.routes()),
            ("kucoin", "kucoin", kucoin.spot.routes()),
            ("kucoinfutures", "kucoin", kucoin.futures.routes()),
            ("binance", "binance", binance.spot.routes()),
            ("okx", "okx", okx.account.routes()),
            ("bybit", "bybit", bybit.account.routes()),
        ]
        try:
            for name, exchange, routes in plan:
                gateway: Any = GATEWAYS[exchange]
                venue = Venue(
                    name=name,
                    exchange=exchange,
                    keys=self.keys,
                    engine=self.engine,
                    faults=self._faults[exchange],
                )
                venue.fault_responder = gateway.fault_response
                venue.not_found = gateway.not_found
                self._venues[name] = venue
                app = web.Application(middlewares=[_middleware])
                app[VENUE] = venue
                for method, path, handler in routes:
                    app.router.add_route(method, path, handler)
                self._admin.add_to(app)
                runner = transport.AppRunner(
                    app, access_log=None, handle_signals=False, shutdown_timeout=0.5
                )
                await runner.setup()
                # A deep backlog: benchmarks open ~1000 connections at once.
                site = web.TCPSite(runner, self.host, self._ports[name], backlog=2048)
                self._runners[name] = runner
                await site.start()
                self._bound[name] = int(runner.addresses[0][1])
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for venue in self._venues.values():
            venue.stopping.set()
        runners, self._runners = self._runners, {}
        for runner in runners.values():
            await runner.cleanup()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ addresses

    def _url(self, name: str) -> str:
        if name not in self._bound:
            raise RuntimeError("the sandbox is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._bound[name]}"

    @property
    def mexc_url(self) -> str:
        return self._url("mexc")

    @property
    def kucoin_url(self) -> str:
        return self._url("kucoin")

    @property
    def kucoin_futures_url(self) -> str:
        return self._url("kucoinfutures")

    @property
    def binance_url(self) -> str:
        return self._url("binance")

    @property
    def okx_url(self) -> str:
        return self._url("okx")

    @property
    def bybit_url(self) -> str:
        return self._url("bybit")

    def endpoints(self, exchange: str) -> dict[str, str]:
        """Base URLs for a Connection's `endpoints` field (configuration.models.Endpoints)."""
        if exchange == "mexc":
            return {"spot": self.mexc_url}
        if exchange == "kucoin":
            return {"spot": self.kucoin_url, "futures": self.kucoin_futures_url}
        if exchange in ("binance", "okx", "bybit"):  # spot and futures paths on one port
            return {"spot": self._url(exchange)}
        raise ValueError(f"unknown exchange {exchange!r}; expected one of {EXCHANGE_NAMES}")

    # ------------------------------------------------------------------ run-time control

    @staticmethod
    def _name(exchange: str) -> str:
        name = _ALIASES.get(exchange, exchange)
        if name not in VENUES:
            raise ValueError(f"unknown sandbox exchange {exchange!r}; expected one of {VENUES}")
        return name

    def _venue(self, exchange: str) -> Venue:
        name = self._name(exchange)
        if name not in self._venues:
            raise RuntimeError("the sandbox is not started")
        return self._venues[name]

    def faults(self, exchange: str) -> Faults:
        """The live fault knobs of one exchange: `mexc` (spot + contract) or `kucoin` (spot and
        futures ports; `kucoinfutures` names the same object). Usable before start()."""
        name = self._name(exchange)
        return self._faults["kucoin" if name == "kucoinfutures" else name]

    def add_key(self, key: SandboxKey) -> None:
        """Add or replace a key (its account starts again from the key's balances)."""
        self.keys.add(key)
        self.engine.reset_account(key.exchange, key.api_key, key.balances)

    def update_key(self, api_key: str, **changes: Any) -> SandboxKey:
        """Change a key's permissions, ip_whitelist, frozen, expires_in_days, balances, hf or
        api_version."""
        key = self.keys.find(api_key)
        if key is None:
            raise KeyError("no such sandbox key")
        key.apply(changes)
        if "balances" in changes:
            self.engine.reset_account(key.exchange, key.api_key, key.balances)
        return key

    def set_market(
        self,
        symbol: str,
        *,
        price: float | None = None,
        path: list[list[float]] | None = None,
        resume: bool = False,
    ) -> dict[str, Any]:
        """Take control of a spot symbol's mid price on every venue (and of the perpetuals that
        follow it): hold `price`, move linearly through `path` ([seconds_from_now, price] points,
        then hold), or `resume` the seeded walk. ValueError on bad input. Returns the new state."""
        body: dict[str, Any] = {"symbol": symbol}
        if price is not None:
            body["price"] = price
        if path is not None:
            body["path"] = path
        if resume:
            body["resume"] = True
        return self.control_market(body)

    def control_market(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """`set_market` from a `POST /__sandbox/market` body (control.CommandError if invalid).
        Times count on the market clock (real time): a venue with `clock_offset_ms` sees the
        change at its own shifted time, as it sees the whole price path."""
        command = parse_command(body, self.engine.catalogue.by_symbol)
        return self.engine.control_market(command, int(time.time() * 1000))

    def market_state(self, symbol: str) -> dict[str, Any]:
        if symbol not in self.engine.catalogue.by_symbol:
            raise ValueError(f"unknown spot symbol {symbol!r}")
        return self.engine.market_state(symbol, int(time.time() * 1000))

    def orders_of(self, api_key: str) -> dict[str, Any]:
        """Every order the sandbox ever accepted for a key (spot and futures, open and done),
        oldest first, with client order ids, status and fills, and the key's perpetual
        positions (open or closed, with liquidations); KeyError for an unknown key."""
        key = self.keys.find(api_key)
        if key is None:
            raise KeyError("no such sandbox key")
        acct = self.engine.find_account(key.exchange, api_key)
        if acct is not None:
            self.engine.refresh(acct, self.faults(key.exchange).now_ms())
        return account_record(key.exchange, acct)

    def request_counts(self, exchange: str | None = None) -> dict[str, int]:
        """Requests served per route path: all venues summed, or one venue (mexc, kucoin,
        kucoinfutures). Admin requests are not counted."""
        names = [self._name(exchange)] if exchange else list(VENUES)
        total: dict[str, int] = {}
        for name in names:
            venue = self._venues.get(name)
            for path, n in venue.counts.items() if venue else ():
                total[path] = total.get(path, 0) + n
        return total

    def request_counts_by_venue(self) -> dict[str, dict[str, int]]:
        return {name: dict(v.counts) for name, v in self._venues.items()}

    def reset_request_counts(self) -> None:
        for venue in self._venues.values():
            venue.counts.clear()
