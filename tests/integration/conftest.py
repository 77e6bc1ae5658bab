"""Integration fixtures: a started exchange `sandbox` on free loopback ports, and `clients`, a
factory of REAL ccxt async clients pointed at it (only base URLs changed) that are all closed at
teardown. Other integration tests (connection test, daemon) use these too.

    async def test_x(sandbox, clients):
        ex = clients.mexc("mx0-it-healthy")            # secret looked up in the sandbox keys
        await ex.fetch_balance()
        ex2 = clients.kucoin("kc-it-healthy", source_ip="127.0.0.2")   # call from another IP
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.sandbox import Sandbox, SandboxKey

MEXC_SPOT = frozenset({"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"})
MEXC_CONTRACT = frozenset({"CONTRACT_ACCOUNT_READ", "CONTRACT_DEAL_READ", "CONTRACT_DEAL_WRITE"})
#: Secrets are canaries: tests assert they never show up in any output.
CANARY = "CANARY-sandbox-secret"


def default_keys() -> list[SandboxKey]:
    """A small key set covering the healthy case and each per-key error class."""

    def mexc(api_key: str, perms: frozenset[str] = MEXC_SPOT, **kw: Any) -> SandboxKey:
        return SandboxKey(
            exchange="mexc",
            api_key=api_key,
            api_secret=f"{CANARY}-{api_key}",
            permissions=perms,
            balances={"USDT": Decimal(1000)},
            **kw,
        )

    def kucoin(api_key: str, perms: set[str] | None = None, **kw: Any) -> SandboxKey:
        return SandboxKey(
            exchange="kucoin",
            api_key=api_key,
            api_secret=f"{CANARY}-{api_key}",
            passphrase=f"{CANARY}-pass-{api_key}",
            permissions=frozenset(perms or {"General", "Spot"}),
            balances={"USDT": Decimal(1000)},
            **kw,
        )

    return [
        mexc("mx0-it-healthy", ip_whitelist=("127.0.0.1",)),
        mexc("mx0-it-no-whitelist"),
        mexc("mx0-it-read-only", frozenset({"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"})),
        mexc("mx0-it-no-read", frozenset({"SPOT_DEAL_READ", "SPOT_DEAL_WRITE"})),
        mexc("mx0-it-withdraw", MEXC_SPOT | {"SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"}),
        mexc("mx0-it-ip-other", ip_whitelist=("127.0.0.2",)),
        mexc("mx0-it-futures", MEXC_SPOT | MEXC_CONTRACT),
        mexc("mx0-it-frozen", frozen=True),
        mexc("mx0-it-expiring", expires_in_days=5),
        kucoin("kc-it-healthy", ip_whitelist=("127.0.0.1", "203.0.113.10")),
        kucoin("kc-it-hf", hf=True),
        kucoin("kc-it-futures", {"General", "Futures"}),
        kucoin("kc-it-general-only", {"General"}),
        kucoin("kc-it-withdraw", {"General", "Spot", "Transfer"}),
        kucoin("kc-it-ip-other", ip_whitelist=("127.0.0.2",)),
        kucoin("kc-it-frozen", frozen=True),
    ]


class Clients:
    """Builds real ccxt async clients against the sandbox and closes all of them."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._exchanges: list[Any] = []
        self._sessions: list[aiohttp.ClientSession] = []

    def secret(self, api_key: str) -> str:
        key = self.sandbox.keys.find(api_key)
        return key.api_secret if key else f"{CANARY}-unknown"

    def passphrase(self, api_key: str) -> str:
        key = self.sandbox.keys.find(api_key)
        return (key.passphrase or "") if key else f"{CANARY}-unknown-pass"

    def _config(self, source_ip: str | None, config: dict[str, Any]) -> dict[str, Any]:
        # No throttle, and no 250 ms grace sleep in close() (it exists for TLS; this is plain
        # HTTP on loopback).
        base: dict[str, Any] = {"enableRateLimit": False, "timeout": 5000, "timeout_on_exit": 0}
        if source_ip is not None:
            # The sandbox checks whitelists against the real peer address: bind the client to
            # another loopback address to call from a different IP.
            connector = aiohttp.TCPConnector(local_addr=(source_ip, 0))
            session = aiohttp.ClientSession(connector=connector)
            self._sessions.append(session)
            base["session"] = session
        base.update(config)
        return base

    def mexc(
        self,
        api_key: str | None = None,
        secret: str | None = None,
        *,
        source_ip: str | None = None,
        **config: Any,
    ) -> Any:
        url = self.sandbox.mexc_url
        cfg = self._config(source_ip, config)
        cfg["urls"] = {
            "api": {
                "spot": {"public": url, "private": url},
                "contract": {
                    "public": url + "/api/v1/contract",
                    "private": url + "/api/v1/private",
                },
            }
        }
        if api_key is not None:
            cfg["apiKey"] = api_key
            cfg["secret"] = secret if secret is not None else self.secret(api_key)
        ex = ccxt.mexc(cfg)
        ex.has["fetchCurrencies"] = False  # else load_markets needs SPOT_WITHDRAW_READ
        self._exchanges.append(ex)
        return ex

    def _kucoin_urls(self) -> dict[str, Any]:
        spot, fut = self.sandbox.kucoin_url, self.sandbox.kucoin_futures_url
        return {
            "api": {
                "public": spot,
                "private": spot,
                "uta": spot,
                "utaPrivate": spot,
                "futuresPublic": fut,
                "futuresPrivate": fut,
            }
        }

    def _kucoin(
        self,
        cls: Any,
        api_key: str | None,
        secret: str | None,
        passphrase: str | None,
        source_ip: str | None,
        minimal: bool,
        config: dict[str, Any],
    ) -> Any:
        cfg = self._config(source_ip, config)
        cfg["urls"] = self._kucoin_urls()
        if minimal:
            options = {
                "uta": False,
                "hf": False,
                "fetchMarkets": {"types": ["spot"], "fetchTickersFees": False},
            }
            options.update(cfg.get("options", {}))
            cfg["options"] = options
        if api_key is not None:
            cfg["apiKey"] = api_key
            cfg["secret"] = secret if secret is not None else self.secret(api_key)
            cfg["password"] = passphrase if passphrase is not None else self.passphrase(api_key)
        ex = cls(cfg)
        self._exchanges.append(ex)
        return ex

    def kucoin(
        self,
        api_key: str | None = None,
        secret: str | None = None,
        passphrase: str | None = None,
        *,
        source_ip: str | None = None,
        minimal: bool = True,
        **config: Any,
    ) -> Any:
        """minimal=True: the options that keep load_markets public (reference §0.6); then call
        `load_markets(False, {"marginables": False})`."""
        return self._kucoin(ccxt.kucoin, api_key, secret, passphrase, source_ip, minimal, config)

    def kucoin_futures(
        self,
        api_key: str | None = None,
        secret: str | None = None,
        passphrase: str | None = None,
        *,
        source_ip: str | None = None,
        **config: Any,
    ) -> Any:
        return self._kucoin(
            ccxt.kucoinfutures, api_key, secret, passphrase, source_ip, False, config
        )

    async def close(self) -> None:
        await asyncio.gather(*(ex.close() for ex in self._exchanges))
        for session in self._sessions:
            await session.close()
        self._exchanges.clear()
        self._sessions.clear()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A started sandbox on free ports with `default_keys()`; stopped after the test."""
    sb = Sandbox(default_keys())
    await sb.start()
    try:
        yield sb
    finally:
        await sb.stop()


@pytest.fixture
async def clients(sandbox: Sandbox) -> AsyncIterator[Clients]:
    factory = Clients(sandbox)
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture
async def tester() -> AsyncIterator[ConnectionTester]:
    """A connection tester with short timeouts, closed after the test."""
    t = ConnectionTester(timeout=2.0)
    yield t
    await t.close()


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    """A market-data hub with short timeouts, closed after the test."""
    h = MarketDataHub(timeout=2.0)
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP session for hand-made requests, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session
