"""The OKX venue on its own loopback port, OKX keys and connections, and the few lines that
register OKX with the shared modules (registry, classify, the key-expiry step) until those
files carry them. Used by tests/integration/test_okx_*.py.

The venue is the real sandbox code (sandbox/okx routes behind server.py's middleware) on a
real port; ccxt talks to it over HTTP with only its base URL changed.
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
from backfuture_daemon.exchanges import classify, market_data, probes, registry
from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.okx_codes import CODES, FAMILY, SCOPE_CODES
from backfuture_daemon.exchanges.okx_keys import OkxKeyInfo, evaluate_okx_key_expiry
from backfuture_daemon.exchanges.port import ExchangeAdapter, KeyInfo
from backfuture_daemon.health import CheckStep
from backfuture_daemon.sandbox import transport
from backfuture_daemon.sandbox.catalogue import Catalogue
from backfuture_daemon.sandbox.engine import Engine, PriceFeed
from backfuture_daemon.sandbox.faults import Faults
from backfuture_daemon.sandbox.keys import KeyStore, SandboxKey
from backfuture_daemon.sandbox.okx import account, gateway
from backfuture_daemon.sandbox.server import _middleware as venue_middleware
from backfuture_daemon.sandbox.venue import VENUE, Venue

#: Secrets are canaries: tests assert they never show up in any report.
CANARY = "CANARY-okx-secret"
PASS_CANARY = "CANARY-okx-pass"
FULL: tuple[str, ...] = ("read_only", "trade")
_counter = iter(range(10**6))


class OkxVenue:
    """The sandbox's OKX venue on a free loopback port. `await start()` / `await stop()`."""

    def __init__(self, keys: Sequence[SandboxKey] = (), *, without: frozenset[str] = frozenset()):
        """`without`: route paths this deployment does not serve (they answer 404)."""
        self.keys = KeyStore(keys)
        self.faults = Faults()
        self.state = gateway.OkxState()
        self.venue = Venue(
            name="okx",
            exchange="okx",
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
        app[gateway.OKX_STATE] = self.state
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
        account_level: str | None = None,
        **extra: Any,
    ) -> SandboxKey:
        """A new OKX key (a UUID-like id, like OKX's) with its passphrase."""
        n = next(_counter)
        digest = hashlib.sha256(f"okx-key-{n}".encode()).hexdigest()
        key = SandboxKey(
            exchange="okx",
            api_key=f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
            api_secret=f"{CANARY}-{n:06d}",
            passphrase=f"{PASS_CANARY}-{n:06d}",
            permissions=frozenset(permissions),
            ip_whitelist=tuple(ip_whitelist),
            balances={"USDT": Decimal(1000)},
            **extra,
        )
        self.keys.add(key)
        if account_level is not None:
            self.state.account_levels[key.api_key] = account_level
        return key


def make_connection(**fields: Any) -> Connection:
    """A validated Connection once `okx` is in ExchangeName; until then the same fields without
    validation (the registration lines for configuration/models.py are pending)."""
    if "okx" in {e.value for e in ExchangeName}:
        return Connection(**fields)
    defaults = {"markets": Connection.model_fields["markets"].default, "labels": {}}
    return Connection.model_construct(**{**defaults, "suspend": False, **fields})


def connection_for(
    venue: OkxVenue,
    key: SandboxKey,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    passphrase: str | None = None,
) -> Connection:
    return make_connection(
        name=f"OKX Spot {key.api_key[-6:]}",
        exchange="okx",
        api_key=SecretStr(api_key or key.api_key),
        api_secret=SecretStr(api_secret or key.api_secret),
        passphrase=SecretStr(passphrase or key.passphrase or ""),
        endpoints=Endpoints(spot=venue.url),
    )


def _okx_adapter(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.okx import OkxAdapter

    return OkxAdapter(connection, ctx)


def _expiry_step_knows_okx() -> bool:
    info = OkxKeyInfo(True, True, True, False, (), deletable=True)
    return "OKX deletes" in probes.evaluate_key_expiry(info, 0.0)[0].reason


def _with_okx_expiry(
    original: Callable[[KeyInfo | None, float], tuple[CheckStep, float | None]],
) -> Callable[[KeyInfo | None, float], tuple[CheckStep, float | None]]:
    def evaluate(info: KeyInfo | None, now: float) -> tuple[CheckStep, float | None]:
        if isinstance(info, OkxKeyInfo):
            return evaluate_okx_key_expiry(info), None
        return original(info, now)

    return evaluate


def _with_okx_spec(
    original: Callable[[str, Endpoints | None], ClientSpec],
) -> Callable[[str, Endpoints | None], ClientSpec]:
    def spec(exchange: str, endpoints: Endpoints | None) -> ClientSpec:
        if exchange == "okx":
            from backfuture_daemon.exchanges.okx import client_spec

            return client_spec(endpoints)
        return original(exchange, endpoints)

    return spec


def _public_spec_knows_okx() -> bool:
    try:
        registry.public_spec("okx", None)
    except ValueError:
        return False
    return True


@pytest.fixture
def okx_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly what the registration lines in the shared files do (see the OKX report): the
    adapter in registry.ADAPTERS and public_spec, OKX's code tables in classify, the key-expiry
    step."""
    if "okx" not in registry.ADAPTERS:
        monkeypatch.setitem(registry.ADAPTERS, "okx", _okx_adapter)
    if "okx" not in classify.CODES:
        monkeypatch.setitem(classify.CODES, "okx", CODES)
    if "okx" not in classify.SCOPE_CODES:
        monkeypatch.setitem(classify.SCOPE_CODES, "okx", SCOPE_CODES)
    for ccxt_id, family in FAMILY.items():
        if ccxt_id not in classify.FAMILY:
            monkeypatch.setitem(classify.FAMILY, ccxt_id, family)
    if not _expiry_step_knows_okx():
        monkeypatch.setattr(
            probes, "evaluate_key_expiry", _with_okx_expiry(probes.evaluate_key_expiry)
        )
    if not _public_spec_knows_okx():
        monkeypatch.setattr(market_data, "public_spec", _with_okx_spec(registry.public_spec))


@pytest.fixture
def okx_trading_registered(okx_registered: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trading registration line: OKX in exchanges/trading.py VENUES (clOrdId up to 32)."""
    from backfuture_daemon.exchanges import okx, trading

    if "okx" not in trading.VENUES:
        monkeypatch.setitem(trading.VENUES, "okx", trading.Venue(okx.client_spec, 32))
