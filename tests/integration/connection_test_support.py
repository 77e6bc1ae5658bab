"""Builders for the connection-test integration tests: sandbox keys and matching Connections.

Used by tests/integration/test_connection_test_*.py. Every key is a real sandbox key checked with
real HMAC by the sandbox; the Connection points ccxt at the sandbox through `endpoints`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from backfuture_daemon.configuration.models import Connection, Endpoints, Policy, Strategy
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.server import Sandbox

FULL: dict[str, tuple[str, ...]] = {
    "mexc": ("SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"),
    "kucoin": ("General", "Spot"),
}
WITHDRAW: dict[str, str] = {"mexc": "SPOT_WITHDRAW_WRITE", "kucoin": "Transfer"}
FUTURES: dict[str, tuple[str, ...]] = {
    "mexc": ("CONTRACT_ACCOUNT_READ", "CONTRACT_DEAL_READ"),
    "kucoin": ("Futures",),
}
LOOPBACK_POLICY = Policy(egress_ips=("127.0.0.1",))

_counter = iter(range(10**6))


def add_key(
    sb: Sandbox,
    exchange: str,
    *,
    permissions: Sequence[str] | None = None,
    ip_whitelist: Sequence[str] = ("127.0.0.1",),
    **extra: Any,
) -> SandboxKey:
    n = next(_counter)
    api_key = f"{'mx0' if exchange == 'mexc' else '6705'}it{n:06d}key"
    key = SandboxKey(
        exchange=exchange,
        api_key=api_key,
        api_secret=f"sec-{exchange}-{n:06d}-value",
        passphrase=f"pp-{n:06d}" if exchange == "kucoin" else None,
        permissions=frozenset(FULL[exchange] if permissions is None else permissions),
        ip_whitelist=tuple(ip_whitelist),
        balances={"USDT": Decimal(1000)},
        **extra,
    )
    sb.add_key(key)
    return key


def connection_for(
    sb: Sandbox,
    key: SandboxKey,
    *,
    name: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    passphrase: str | None = None,
    endpoints: dict[str, str] | None = None,
) -> Connection:
    pw = passphrase if passphrase is not None else key.passphrase
    return Connection(
        name=name or f"{key.exchange.upper()} Spot {key.api_key[-9:]}",
        exchange=key.exchange,
        api_key=SecretStr(api_key or key.api_key),
        api_secret=SecretStr(api_secret or key.api_secret),
        passphrase=SecretStr(pw) if pw is not None else None,
        endpoints=Endpoints(**(endpoints or sb.endpoints(key.exchange))),
    )


def strategy(
    connection: Connection, pairs: Sequence[str] = ("BTC/USDT",), market: str = "spot"
) -> Strategy:
    return Strategy(
        name=f"Bot {connection.name}"[:60].rstrip(),
        connection=connection.name,
        market=market,
        pairs=tuple(pairs),
        margin_limit=500,
    )
