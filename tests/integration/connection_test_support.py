"""Builders for the connection-test integration tests: sandbox keys and matching Connections.

Used by tests/integration/test_connection_test_*.py. Every key is a real sandbox key checked with
real HMAC by the sandbox; the Connection points ccxt at the sandbox through `endpoints`.
`key_info_404_proxy` plays an older deployment without the key-info endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from backfuture_daemon.configuration.models import Connection, Endpoints, Policy, Strategy
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import CheckStep, ConnectionReport
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


async def report_for(
    tester: ConnectionTester,
    sandbox: Sandbox,
    exchange: str,
    *,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    market: str = "spot",
    policy: Policy = LOOPBACK_POLICY,
    **key_kwargs: Any,
) -> ConnectionReport:
    """A new sandbox key (`key_kwargs`), a connection and one strategy for it, tested."""
    key = add_key(sandbox, exchange, **key_kwargs)
    conn = connection_for(sandbox, key)
    return await tester.test(conn, [strategy(conn, pairs, market)], policy)


def step_of(report: ConnectionReport, name: str) -> CheckStep:
    return next(s for s in report.steps if s.name == name)


KEY_INFO_PATHS = {"/api/v3/apiKeyInfo": b'{"code":404,"msg":"Not Found"}',
                  "/api/v1/user/api-key": b'{"code":"404000","msg":"Url Not Found"}'}  # fmt: skip


async def key_info_404_proxy(upstream: str) -> tuple[web.AppRunner, str]:
    """A forwarding proxy in front of the sandbox that answers 404 for the key-info endpoints
    (a fake at the port: ccxt and the sandbox are untouched). `await runner.cleanup()` it."""
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.Response:
        if request.path in KEY_INFO_PATHS:
            return web.Response(body=KEY_INFO_PATHS[request.path], status=404,
                                content_type="application/json")  # fmt: skip
        url = upstream + request.raw_path
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with session.request(
            request.method, url, headers=headers, data=await request.read()
        ) as resp:
            return web.Response(body=await resp.read(), status=resp.status,
                                content_type=resp.content_type)  # fmt: skip

    async def close_session(_: web.Application) -> None:
        await session.close()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_cleanup.append(close_session)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"
