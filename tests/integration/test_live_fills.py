"""`CcxtTrading.fills_since` through real ccxt against the sandbox's trade history (MEXC
myTrades, KuCoin classic fills and HF fills): every execution of the account on a pair since a
time, oldest first, each carrying the client order id of its order — which KuCoin's fills omit,
so the port maps the order id back (from orders it has seen, or by reading the order).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.port import OrderRequest, OrderType, Side
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.exchanges.venue_ports import trading_port
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import add_key, connection_for

pytestmark = pytest.mark.integration
VENUES = pytest.mark.parametrize(
    ("exchange", "hf"), [("mexc", False), ("kucoin", False), ("kucoin", True)]
)
PAIR = "BTC/USDT"
Ports = Callable[..., tuple[CcxtTrading, CcxtTrading, str]]


@pytest.fixture
async def ports(sandbox: Sandbox) -> AsyncIterator[Ports]:
    factory = ClientFactory(timeout=2.0)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    built: list[CcxtTrading] = []

    def build(exchange: str, hf: bool) -> tuple[CcxtTrading, CcxtTrading, str]:
        key = add_key(sandbox, exchange, **({"hf": True} if hf else {}))  # type: ignore[arg-type]
        conn = connection_for(sandbox, key)
        port = trading_port(conn, ctx, markets)
        built.append(port)
        # a second port on the same key: it has seen none of the orders (a restarted daemon)
        fresh = trading_port(conn, ctx, markets)
        built.append(fresh)
        return port, fresh, key.api_key

    yield build
    for p in built:
        await p.close()
    await markets.close()
    await factory.close()


@VENUES
async def test_fills_since_carry_client_ids_and_respect_since(
    sandbox: Sandbox, ports: Ports, exchange: str, hf: bool
) -> None:
    port, _, api_key = ports(exchange, hf)
    sandbox.set_market(PAIR, price=30000)
    t0 = time.time()
    first = OrderRequest(PAIR, Side.BUY, OrderType.MARKET, Decimal("0.001"), f"bfA{exchange}1")
    await port.place(first)
    await asyncio.sleep(0.05)
    t1 = time.time()
    second = OrderRequest(PAIR, Side.SELL, OrderType.MARKET, Decimal("0.0005"), f"bfA{exchange}2")
    await port.place(second)

    fills = await port.fills_since(PAIR, t0 - 1)
    assert [f.client_order_id for f in fills] == [first.client_order_id, second.client_order_id]
    assert [f.side for f in fills] == [Side.BUY, Side.SELL]
    assert [f.amount for f in fills] == [Decimal("0.001"), Decimal("0.0005")]
    assert all(f.price > 0 and f.trade_id for f in fills)
    audit = sandbox.orders_of(api_key)["orders"]
    on_exchange = {f["trade_id"] for o in audit for f in o["fills"]}
    assert {f.trade_id for f in fills} == on_exchange
    later = await port.fills_since(PAIR, t1)
    assert [f.client_order_id for f in later] == [second.client_order_id]


@VENUES
async def test_a_port_that_never_saw_the_orders_still_names_them(
    sandbox: Sandbox, ports: Ports, exchange: str, hf: bool
) -> None:
    port, fresh, _ = ports(exchange, hf)
    sandbox.set_market(PAIR, price=30000)
    order = OrderRequest(PAIR, Side.BUY, OrderType.MARKET, Decimal("0.001"), f"bfB{exchange}1")
    await port.place(order)
    fills = await fresh.fills_since(PAIR, 0)
    assert [f.client_order_id for f in fills] == [order.client_order_id]
