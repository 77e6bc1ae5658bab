"""The Binance venue on its own loopback port, Binance keys and connections, and the few lines
that register Binance with the shared modules (registry, classify, the IP step) until those
files carry them. Used by tests/integration/test_binance_*.py.

The venue is the real sandbox code (sandbox/binance routes behind server.py's middleware) on a
real port; ccxt talks to it over HTTP with only its base URLs changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from backfuture_daemon.configuration.models import Connection, Endpoints, ExchangeName
from backfuture_daemon.exchanges import classify, market_data, probes, registry, steps
from backfuture_daemon.exchanges.binance import client_spec
from backfuture_daemon.exchanges.binance_codes import CODES, FAMILY
from backfuture_daemon.exchanges.binance_keys import BinanceKeyInfo, evaluate_ip_restriction
from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.port import ExchangeAdapter, KeyInfo
from backfuture_daemon.health import CheckStep
from backfuture_daemon.sandbox import transport
from backfuture_daemon.sandbox.binance import gateway, spot
from backfuture_daemon.sandbox.catalogue import Catalogue
from backfuture_daemon.sandbox.engine import Engine, PriceFeed
from backfuture_daemon.sandbox.faults import Faults
from backfuture_daemon.sandbox.keys import KeyStore, SandboxKey
from backfuture_daemon.sandbox.server import _middleware as venue_middleware
from backfuture_daemon.sandbox.venue import VENUE, Venue

#: Secrets are canaries: tests assert they never show up in any report.
CANARY = "CANARY-binance-secret"
FULL: tuple[str, ...] = ("enableReading", "enableSpotAndMarginTrading")
_counter = iter(range(10**6))


class BinanceVenue:
    """The sandbox's Binance venue on a free loopback port. `await start()` / `await stop()`."""

    def __init__(self, keys: Sequence[SandboxKey] = (), *, without: frozenset[str] = frozenset()):
        """`without`: route paths this deployment does not serve (they answer 404)."""
        self.keys = KeyStore(keys)
        self.faults = Faults()
        self.venue = Venue(
            name="binance",
            exchange="binance",
            keys=self.keys,
            engine=Engine(PriceFeed(7, Catalogue())),
            faults=self.faults,
        )
        self.venue.fault_responder = gateway.fault_response
        self.venue.not_found = gateway.not_found
        self._without = without
        self._runner: transport.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(middlewares=[venue_middleware])
        app[VENUE] = self.venue
        for method, path, handler in spot.routes():
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

    def counts(self) -> dict[str, int]:
        return dict(self.venue.counts)

    def reset_counts(self) -> None:
        self.venue.counts.clear()

    def add_key(
        self,
        *,
        permissions: Sequence[str] = FULL,
        ip_whitelist: Sequence[str] = ("127.0.0.1",),
        age_days: float = 0.0,
        **extra: Any,
    ) -> SandboxKey:
        """A new Binance key (64 alphanumerics, like Binance's), created `age_days` ago."""
        n = next(_counter)
        key = SandboxKey(
            exchange="binance",
            api_key=hashlib.sha256(f"bn-key-{n}".encode()).hexdigest(),
            api_secret=f"{CANARY}-{n:06d}",
            permissions=frozenset(permissions),
            ip_whitelist=tuple(ip_whitelist),
            balances={"USDT": Decimal(1000)},
            **extra,
        )
        key.created_ms -= int(age_days * 86_400_000)
        self.keys.add(key)
        return key


def make_connection(**fields: Any) -> Connection:
    """A validated Connection once `binance` is in ExchangeName; until then the same fields
    without validation (the registration line for configuration/models.py is pending)."""
    if "binance" in {e.value for e in ExchangeName}:
        return Connection(**fields)
    defaults = {"markets": Connection.model_fields["markets"].default, "labels": {}}
    return Connection.model_construct(**{**defaults, "suspend": False, **fields})


def connection_for(
    venue: BinanceVenue,
    key: SandboxKey,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
) -> Connection:
    return make_connection(
        name=f"Binance Spot {key.api_key[-6:]}",
        exchange="binance",
        api_key=SecretStr(api_key or key.api_key),
        api_secret=SecretStr(api_secret or key.api_secret),
        endpoints=Endpoints(spot=venue.url),
    )


def _binance_adapter(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.binance import BinanceAdapter

    return BinanceAdapter(connection, ctx)


def _ip_step_knows_binance() -> bool:
    info = BinanceKeyInfo(None, None, None, None, None, ip_restricted=True)
    return "restricted yes/no" in steps.evaluate_ip_whitelist(info, [], require=False).reason


def _with_binance_ip(
    original: Callable[..., CheckStep],
) -> Callable[..., CheckStep]:
    def evaluate(info: KeyInfo | None, egress_ips: Sequence[str], *, require: bool) -> CheckStep:
        if isinstance(info, BinanceKeyInfo):
            return evaluate_ip_restriction(info, egress_ips, require=require)
        return original(info, egress_ips, require=require)

    return evaluate


def _with_binance_spec(
    original: Callable[[str, Endpoints | None], ClientSpec],
) -> Callable[[str, Endpoints | None], ClientSpec]:
    def spec(exchange: str, endpoints: Endpoints | None) -> ClientSpec:
        return client_spec(endpoints) if exchange == "binance" else original(exchange, endpoints)

    return spec


def _public_spec_knows_binance() -> bool:
    try:
        registry.public_spec("binance", None)
    except ValueError:
        return False
    return True


@pytest.fixture
def binance_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly what the registration lines in the shared files do (see the Binance report):
    the adapter in registry.ADAPTERS and public_spec (the market-data hub's), Binance's code
    table in classify, the IP step."""
    if "binance" not in registry.ADAPTERS:
        monkeypatch.setitem(registry.ADAPTERS, "binance", _binance_adapter)
    if "binance" not in classify.CODES:
        monkeypatch.setitem(classify.CODES, "binance", CODES)
    for ccxt_id, family in FAMILY.items():
        if ccxt_id not in classify.FAMILY:
            monkeypatch.setitem(classify.FAMILY, ccxt_id, family)
    if not _public_spec_knows_binance():
        monkeypatch.setattr(market_data, "public_spec", _with_binance_spec(market_data.public_spec))
    if not _ip_step_knows_binance():
        monkeypatch.setattr(
            probes, "evaluate_ip_whitelist", _with_binance_ip(probes.evaluate_ip_whitelist)
        )
