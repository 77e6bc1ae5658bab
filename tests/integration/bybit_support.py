"""The Bybit venue on its own loopback port, Bybit keys and connections, and the few lines that
register Bybit with the shared modules (registry, classify's code table and its retCode parser)
until those files carry them. Used by tests/integration/test_bybit_*.py.

The venue is the real sandbox code (sandbox/bybit routes behind server.py's middleware) on a
real port; ccxt talks to it over HTTP with only its base URLs changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from backfuture_daemon.configuration.models import Connection, Endpoints, ExchangeName
from backfuture_daemon.exchanges import bybit_codes, classify, registry
from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.port import ExchangeAdapter
from backfuture_daemon.sandbox import transport
from backfuture_daemon.sandbox.bybit import account, gateway
from backfuture_daemon.sandbox.catalogue import Catalogue
from backfuture_daemon.sandbox.engine import Engine, PriceFeed
from backfuture_daemon.sandbox.faults import Faults
from backfuture_daemon.sandbox.keys import KeyStore, SandboxKey
from backfuture_daemon.sandbox.server import _middleware as venue_middleware
from backfuture_daemon.sandbox.venue import VENUE, Venue

#: Secrets are canaries: tests assert they never show up in any report or log.
CANARY = "CANARY-bybit-secret"
FULL: tuple[str, ...] = ("Spot.SpotTrade",)
FUTURES: tuple[str, ...] = ("ContractTrade.Order", "ContractTrade.Position")
_counter = iter(range(10**6))


class BybitVenue:
    """The sandbox's Bybit venue on a free loopback port. `await start()` / `await stop()`."""

    def __init__(self, keys: Sequence[SandboxKey] = (), *, without: frozenset[str] = frozenset()):
        """`without`: route paths this deployment does not serve (they answer 404)."""
        self.keys = KeyStore(keys)
        self.faults = Faults()
        self.venue = Venue(
            name="bybit",
            exchange="bybit",
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
        for method, path, handler in account.routes():
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
        """A new Bybit key (18 alphanumerics, like Bybit's), created `age_days` ago."""
        n = next(_counter)
        key = SandboxKey(
            exchange="bybit",
            api_key=f"BYBITk{n:06d}SBXkey",
            api_secret=f"{CANARY}-{n:06d}-0123456789",
            permissions=frozenset(permissions),
            ip_whitelist=tuple(ip_whitelist),
            balances={"USDT": Decimal(1000)},
            **extra,
        )
        key.created_ms -= int(age_days * 86_400_000)
        self.keys.add(key)
        return key


def make_connection(**fields: Any) -> Connection:
    """A validated Connection once `bybit` is in ExchangeName; until then the same fields
    without validation (the registration line for configuration/models.py is pending)."""
    if "bybit" in {e.value for e in ExchangeName}:
        return Connection(**fields)
    defaults = {"markets": Connection.model_fields["markets"].default, "labels": {}}
    return Connection.model_construct(**{**defaults, "suspend": False, **fields})


def connection_for(
    venue: BybitVenue,
    key: SandboxKey,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
) -> Connection:
    return make_connection(
        name=f"Bybit {key.api_key[-9:]}",
        exchange="bybit",
        api_key=SecretStr(api_key or key.api_key),
        api_secret=SecretStr(api_secret or key.api_secret),
        endpoints=Endpoints(spot=venue.url),
    )


def _bybit_adapter(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.bybit import BybitAdapter

    return BybitAdapter(connection, ctx)


def _parser_knows_retcode() -> bool:
    return classify._code_and_text('bybit {"retCode":10003,"retMsg":"x"}')[0] == "10003"


def _with_retcode(
    original: Callable[[str], tuple[str | None, str]],
) -> Callable[[str], tuple[str | None, str]]:
    def parse(message: str) -> tuple[str | None, str]:
        code, text = original(message)
        body = classify.parse_body(message)
        if code is None and body is not None:
            return bybit_codes.code_and_text(body)
        return code, text

    return parse


@pytest.fixture
def bybit_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly what the registration lines in the shared files do (see the Bybit report): the
    adapter in registry.ADAPTERS, Bybit's code table, scope code and family in classify, and
    classify's body parser reading `retCode`/`retMsg`."""
    if "bybit" not in registry.ADAPTERS:
        monkeypatch.setitem(registry.ADAPTERS, "bybit", _bybit_adapter)
    if "bybit" not in classify.CODES:
        monkeypatch.setitem(classify.CODES, "bybit", bybit_codes.CODES)
    if "bybit" not in classify.SCOPE_CODES:
        monkeypatch.setitem(classify.SCOPE_CODES, "bybit", bybit_codes.SCOPE_CODES)
    for ccxt_id, family in bybit_codes.FAMILY.items():
        if ccxt_id not in classify.FAMILY:
            monkeypatch.setitem(classify.FAMILY, ccxt_id, family)
    if not _parser_knows_retcode():
        monkeypatch.setattr(classify, "_code_and_text", _with_retcode(classify._code_and_text))
