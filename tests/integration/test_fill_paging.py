"""`CcxtTrading.fills_since` and `orders_since` read a busy history whole, through real ccxt
against the sandbox, which pages as the exchanges do: MEXC myTrades the oldest 100 from
`startTime`; KuCoin classic fills 50 a page unless asked, HF fills 20 unless `limit`, newest
first, 7 days at most a request. With 250 fills every fill comes back exactly once, with its
client order id, and more than one page was requested; the sandbox's audit is the judge.
"""

from __future__ import annotations

import time
from collections import Counter
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
PAIR = "BTC/USDT"
N = 250
Ports = Callable[[str, bool], tuple[CcxtTrading, CcxtTrading, str]]
HISTORY = {"mexc": "/api/v3/myTrades", "kucoin": "/api/v1/fills", "kucoin-hf": "/api/v1/hf/fills"}
ORDERS = {"mexc": "/api/v3/allOrders", "kucoin": "/api/v1/orders",
          "kucoin-hf": "/api/v1/hf/orders/done"}  # fmt: skip


@pytest.fixture
async def ports(sandbox: Sandbox) -> AsyncIterator[Ports]:
    factory = ClientFactory(timeout=5.0)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    built: list[CcxtTrading] = []

    def build(exchange: str, hf: bool) -> tuple[CcxtTrading, CcxtTrading, str]:
        key = add_key(sandbox, exchange, **({"hf": True} if hf else {}))  # type: ignore[arg-type]
        sandbox.update_key(key.api_key, balances={"USDT": Decimal(100_000)})
        conn = connection_for(sandbox, key)
        port, fresh = trading_port(conn, ctx, markets), trading_port(conn, ctx, markets)
        built.extend((port, fresh))
        return port, fresh, key.api_key

    yield build
    for p in built:
        await p.close()
    await markets.close()
    await factory.close()


async def busy_hour(port: CcxtTrading, tag: str, n: int = N) -> list[str]:
    """`n` market orders, buys and sells in turn, each filled at once: `n` fills."""
    ids = [f"bfP{tag}{i:04d}" for i in range(n)]
    for i, cid in enumerate(ids):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        await port.place(OrderRequest(PAIR, side, OrderType.MARKET, Decimal("0.001"), cid))
    return ids


@pytest.mark.parametrize(("exchange", "hf"), [("mexc", False), ("kucoin", False),
                                              ("kucoin", True)])  # fmt: skip
async def test_250_fills_come_back_each_exactly_once_over_several_pages(
    sandbox: Sandbox, ports: Ports, exchange: str, hf: bool
) -> None:
    sandbox.set_market(PAIR, price=30000)
    port, fresh, api_key = ports(exchange, hf)
    t0 = time.time()
    ids = await busy_hour(port, exchange[0] + ("h" if hf else "c"))
    audit = sandbox.orders_of(api_key)["orders"]
    on_exchange = [f["trade_id"] for o in audit for f in o["fills"]]
    assert len(on_exchange) == N
    venue = "kucoin" if exchange == "kucoin" else "mexc"
    route = HISTORY[exchange + ("-hf" if hf else "")]
    for reader, since in ((port, t0 - 1), (fresh, 0.0)):  # a restarted daemon knows no order
        sandbox.reset_request_counts()
        fills = await reader.fills_since(PAIR, since)
        assert Counter(f.trade_id for f in fills) == Counter(on_exchange)  # each exactly once
        assert [f.client_order_id for f in fills] == ids  # oldest first, every id named
        assert [f.timestamp for f in fills] == sorted(f.timestamp for f in fills)
        assert sandbox.request_counts(venue)[route] >= 3  # 250 rows: three pages at least
    later = await port.fills_since(PAIR, fills[200].timestamp)
    assert {f.trade_id for f in later} >= {f.trade_id for f in fills[200:]}
    assert len(later) == len({f.trade_id for f in later})


@pytest.mark.parametrize(("exchange", "hf"), [("mexc", False), ("kucoin", False),
                                              ("kucoin", True)])  # fmt: skip
async def test_orders_since_reads_every_order_over_several_pages(
    sandbox: Sandbox, ports: Ports, exchange: str, hf: bool
) -> None:
    sandbox.set_market(PAIR, price=30000)
    port, fresh, api_key = ports(exchange, hf)
    n = 1100 if exchange == "mexc" else 250  # MEXC allOrders serves 1000 a page
    ids = await busy_hour(port, "o" + exchange[0] + ("h" if hf else "c"), n)
    resting = OrderRequest(PAIR, Side.BUY, OrderType.LIMIT, Decimal("0.001"),
                           f"bfR{exchange[0]}{int(hf)}", Decimal(20000))  # fmt: skip
    await port.place(resting)
    venue = "kucoin" if exchange == "kucoin" else "mexc"
    sandbox.reset_request_counts()
    orders = await fresh.orders_since(PAIR, 0.0)
    assert Counter(o.client_order_id for o in orders) == Counter([*ids, resting.client_order_id])
    assert sandbox.request_counts(venue)[ORDERS[exchange + ("-hf" if hf else "")]] >= 2
    assert len(sandbox.orders_of(api_key)["orders"]) == n + 1
