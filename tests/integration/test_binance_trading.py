"""Live spot trading on Binance behind TradingPort (exchanges/trading.py, Binance's VENUES entry)
against the sandbox venue's matching engine with real ccxt: place by client order id (Binance
allows 36 characters), read back, list, cancel, balances, and each failure raised as
OrderRejected / TradingUnavailable with its class; fills (myTrades, 100 a page, oldest first from
startTime) read whole and each once, named by client order id although Binance's trades carry
the order id only, and the order history (allOrders).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.port import (
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.exchanges.venue_ports import trading_port
from backfuture_daemon.sandbox.binance.trading import trade_number
from tests.integration.binance_support import CANARY, BinanceVenue
from tests.integration.venue_support import cid, limit_buy, trading_ports, venue_fixture

pytestmark = pytest.mark.integration
T = TradingErrorClass
Make = Callable[..., CcxtTrading]
venue = venue_fixture(BinanceVenue)


@pytest.fixture
async def make(venue: BinanceVenue) -> AsyncIterator[Make]:
    async with trading_ports(venue) as build:
        yield build


async def test_place_read_list_cancel_by_client_id(make: Make) -> None:
    port = make()
    long_id = "x" * 36  # Binance's limit, not MEXC's 32
    ack = await port.place(limit_buy(client_id=long_id))
    assert (ack.client_order_id, ack.state, ack.amount) == (long_id, OrderState.OPEN,
                                                            Decimal("0.001"))  # fmt: skip
    assert ack.order_id
    found = await port.fetch_order_by_client_id("BTC/USDT", long_id)
    assert found is not None
    assert (found.order_id, found.state, found.price) == (ack.order_id, OrderState.OPEN,
                                                          Decimal(30000))  # fmt: skip
    assert [o.client_order_id for o in await port.open_orders("BTC/USDT")] == [long_id]
    balances = await port.balances()
    assert balances["USDT"].locked == Decimal(30)
    canceled = await port.cancel("BTC/USDT", long_id)
    assert canceled.state is OrderState.CANCELED
    assert await port.open_orders("BTC/USDT") == ()
    assert await port.fetch_order_by_client_id("BTC/USDT", cid()) is None


async def test_market_buy_fills_and_moves_balances(make: Make) -> None:
    port = make()
    order = OrderRequest("ETH/USDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), cid())
    ack = await port.place(order)
    assert ack.state is OrderState.FILLED
    assert ack.filled == Decimal("0.01")
    balances = await port.balances()
    assert balances["ETH"].free == Decimal("0.01")
    assert balances["USDT"].free < Decimal(1000)


async def test_failures_are_classified(make: Make, venue: BinanceVenue) -> None:
    port = make()
    with pytest.raises(OrderRejected) as e:
        await port.place(limit_buy(client_id="y" * 37))  # refused before sending
    assert e.value.error_class is T.ORDER_REJECTED
    with pytest.raises(OrderRejected) as e:
        await port.place(limit_buy(price="60000", amount="1"))  # 60,000 USDT > 1,000
    assert e.value.error_class is T.INSUFFICIENT_FUNDS
    with pytest.raises(OrderRejected) as e:
        await port.place(limit_buy(amount="0.000001"))  # 0.03 USDT: under the venue's minimum
    assert e.value.error_class is T.ORDER_REJECTED
    assert "-1013" in e.value.detail
    assert "NOTIONAL" in e.value.detail
    with pytest.raises(OrderRejected) as e:
        await port.cancel("BTC/USDT", cid())
    assert e.value.error_class is T.ORDER_REJECTED
    read_only = make(permissions=("enableReading",))
    with pytest.raises(OrderRejected) as e:
        await read_only.place(limit_buy())
    assert e.value.error_class is T.AUTH_REJECTED
    assert "-2015" in e.value.detail
    venue.faults.rate_limit = True
    venue.faults.retry_after_s = 3
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.place(limit_buy())
    assert unavailable.value.error_class is T.RATE_LIMITED
    assert unavailable.value.retry_after == 3
    assert CANARY not in str(unavailable.value)


async def _busy_hour(port: CcxtTrading, n: int) -> list[str]:
    ids = [f"bfN{i:04d}x{cid()}" for i in range(n)]
    for i, client_id in enumerate(ids):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        await port.place(OrderRequest("BTC/USDT", side, OrderType.MARKET, Decimal("0.001"),
                                      client_id))  # fmt: skip
    return ids


async def test_fills_since_pages_through_250_fills_each_exactly_once(
    make: Make, venue: BinanceVenue
) -> None:
    port = make()
    t0 = time.time()
    ids = await _busy_hour(port, 250)
    venue.reset_counts()
    fills = await port.fills_since("BTC/USDT", t0 - 1)
    assert Counter(f.trade_id for f in fills) == Counter(_trade_ids(venue, last_key(venue)))
    assert len(fills) == 250
    assert [f.client_order_id for f in fills] == ids  # oldest first
    assert venue.counts()["/api/v3/myTrades"] >= 3  # 100 a page
    later = await port.fills_since("BTC/USDT", fills[-1].timestamp)
    assert [f.trade_id for f in later][-1] == fills[-1].trade_id


async def test_fills_of_orders_a_port_never_saw_carry_their_client_ids(
    make: Make, venue: BinanceVenue
) -> None:
    """Binance's myTrades names the order id only: a restarted daemon's port reads the order
    to name the client order id (once per order)."""
    port = make()
    ids = await _busy_hour(port, 3)
    async with port_on(venue, last_key(venue)) as fresh:
        venue.reset_counts()
        fills = await fresh.fills_since("BTC/USDT", 0.0)
        assert [f.client_order_id for f in fills] == ids
        assert venue.counts()["/api/v3/order"] == 3
        again = await fresh.fills_since("BTC/USDT", 0.0)
        assert [f.client_order_id for f in again] == ids
        assert venue.counts()["/api/v3/order"] == 3  # remembered
        orders = await fresh.orders_since("BTC/USDT", 0.0)
        assert [o.client_order_id for o in orders] == ids  # allOrders: open and done


async def test_my_trades_and_all_orders_page_as_binance_does(
    make: Make, venue: BinanceVenue
) -> None:
    port = make()
    await _busy_hour(port, 5)
    client = port._client
    await port.balances()  # markets loaded
    symbol = "BTCUSDT"
    newest = await client.privateGetMyTrades({"symbol": symbol, "limit": 2})
    oldest = await client.privateGetMyTrades({"symbol": symbol, "limit": 2, "startTime": 0})
    every = await client.privateGetMyTrades({"symbol": symbol})
    assert [t["id"] for t in newest] == [t["id"] for t in every[-2:]]
    assert [t["id"] for t in oldest] == [t["id"] for t in every[:2]]
    from_id = await client.privateGetMyTrades({"symbol": symbol, "fromId": every[3]["id"]})
    assert [t["id"] for t in from_id] == [t["id"] for t in every[3:]]
    assert "clientOrderId" not in every[0]
    with pytest.raises(OrderRejected):
        await port._call(lambda: client.privateGetMyTrades(
            {"symbol": symbol, "startTime": 0, "endTime": 2 * 86_400_000}))  # fmt: skip
    orders = await client.privateGetAllOrders({"symbol": symbol, "limit": 3, "startTime": 0})
    assert len(orders) == 3


def _trade_ids(venue: BinanceVenue, key: Any) -> list[str]:
    acct = venue.venue.engine.find_account("binance", key.api_key)
    assert acct is not None
    return [str(trade_number(f)) for o in acct.orders.values() for f in o.fills]


def last_key(venue: BinanceVenue) -> Any:
    return list(venue.keys)[-1]


@contextlib.asynccontextmanager
async def port_on(venue: BinanceVenue, key: Any) -> AsyncIterator[CcxtTrading]:
    """A second port on an existing key (a restarted daemon: it has seen none of the orders)."""
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
