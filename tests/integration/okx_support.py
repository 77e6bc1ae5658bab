"""The OKX venue for tests/integration/test_okx_*.py: OKX-shaped keys (UUID-like ids) with their
passphrase, and OKX's scope names, on venue_support's VenueServer. A key's account mode is
SandboxKey's `acct_lv`, as in a sandbox keys file. `audit` is the venue's order audit of one key,
`port_on` a trading port on a given key. For the whole `Sandbox` (live bots, swaps):
`okx_key` adds an OKX key to it, `swap_ports` builds swap trading ports (OkxFuturesTrading) on
new keys, `swap_order` an order request on BTC/USDT, `swap_raw` a swap order as OKX shows it.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, ClassVar

from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.okx_futures_trading import OkxFuturesTrading
from backfuture_daemon.exchanges.port import OrderRequest, OrderType, Side
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.exchanges.venue_ports import futures_port, trading_port
from backfuture_daemon.sandbox.audit import account_record
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import connection_for
from tests.integration.venue_support import Credentials, VenueServer, cid

CANARY = "CANARY-okx-secret"
PASS_CANARY = "CANARY-okx-pass"
FULL: tuple[str, ...] = ("read_only", "trade")
SWAP = "BTC-USDT-SWAP"
PAIR = "BTC/USDT"
SwapMake = Callable[..., OkxFuturesTrading]
_sandbox_keys = itertools.count()


class OkxVenue(VenueServer):
    exchange = "okx"
    label = "OKX Spot"
    canaries: ClassVar[tuple[str, ...]] = (CANARY, PASS_CANARY)
    full = FULL

    def api_urls(self) -> dict[str, Any]:
        return {"rest": self.url}

    def credentials(self, n: int) -> Credentials:
        d = hashlib.sha256(f"okx-key-{n}".encode()).hexdigest()
        return {
            "api_key": f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}",
            "api_secret": f"{CANARY}-{n:06d}",
            "passphrase": f"{PASS_CANARY}-{n:06d}",
        }


def last_key(venue: VenueServer) -> SandboxKey:
    """The key added last (a port built by venue_support.trading_ports trades on it)."""
    key: SandboxKey = list(venue.keys)[-1]
    return key


def audit(venue: VenueServer, api_key: str) -> list[dict[str, Any]]:
    """Every order the venue ever accepted for the key, as `GET /__sandbox/orders` shows it."""
    engine = venue.venue.engine
    acct = engine.find_account("okx", api_key)
    if acct is not None:
        engine.refresh(acct, venue.faults.now_ms())
    return list(account_record("okx", acct)["orders"])


@contextlib.asynccontextmanager
async def port_on(venue: VenueServer, key: SandboxKey) -> AsyncIterator[CcxtTrading]:
    """A trading port of its own on `key` (a restarted daemon: it has seen none of the orders)."""
    factory = ClientFactory(timeout=2.0)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    port = trading_port(venue.connection_for(key), ctx, markets)
    try:
        yield port
    finally:
        await port.close()
        await markets.close()
        await factory.close()


def okx_key(
    sandbox: Sandbox,
    *,
    permissions: tuple[str, ...] = FULL,
    balance: Decimal = Decimal(1000),
    **extra: Any,
) -> SandboxKey:
    """A new OKX key (UUID-like id, canary secret and passphrase) on the whole `Sandbox`,
    `balance` USDT in its trading account; `extra`: SandboxKey fields (acct_lv, ...)."""
    n = next(_sandbox_keys)
    d = hashlib.sha256(f"okx-sandbox-key-{n}".encode()).hexdigest()
    key = SandboxKey(
        exchange="okx",
        api_key=f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}",
        api_secret=f"{CANARY}-sb-{n:06d}",
        passphrase=f"{PASS_CANARY}-sb-{n:06d}",
        permissions=frozenset(permissions),
        ip_whitelist=("127.0.0.1",),
        balances={"USDT": balance},
        **extra,
    )
    sandbox.add_key(key)
    return key


async def swap_raw(client: Any, cl_ord_id: str) -> dict[str, Any]:
    """`GET /api/v5/trade/order` of a BTC-USDT-SWAP order by clOrdId, through `client` (a
    port's signed ccxt client)."""
    answer = await client.privateGetTradeOrder({"instId": SWAP, "clOrdId": cl_ord_id})
    row: dict[str, Any] = answer["data"][0]
    return row


def swap_order(
    side: Side, amount: str, price: str | None = None, client_id: str = "", *, exit: bool = False
) -> OrderRequest:
    """An order on BTC/USDT in base; `exit`: a take profit / stop (reduce-only, as the runner
    marks exits)."""
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(PAIR, side, kind, Decimal(amount), client_id or cid(),
                        Decimal(price) if price else None, reduce_only=exit)  # fmt: skip


@contextlib.asynccontextmanager
async def swap_ports(sandbox: Sandbox) -> AsyncIterator[SwapMake]:
    """`build(leverage=3, key=None, **key_fields)`: the swap port (venue_ports.futures_port) on
    `key` or a new OKX key; every port, the market cache and the client factory closed on exit."""
    factory = ClientFactory(timeout=1.5)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    ports: list[OkxFuturesTrading] = []

    def build(*, leverage: int = 3, key: Any = None, **extra: Any) -> OkxFuturesTrading:
        k = key if key is not None else okx_key(sandbox, **extra)
        port = futures_port(connection_for(sandbox, k), ctx, markets, leverage=leverage)
        assert isinstance(port, OkxFuturesTrading)
        ports.append(port)
        return port

    try:
        yield build
    finally:
        for port in ports:
            await port.close()
        await markets.close()
        await factory.close()


def api_key_of(port: OkxFuturesTrading) -> str:
    return str(port._client.apiKey)
