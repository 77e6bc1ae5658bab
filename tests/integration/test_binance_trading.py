"""Live spot trading on Binance behind TradingPort (exchanges/trading.py, Binance's VENUES entry)
against the sandbox venue's matching engine with real ccxt: place by client order id (Binance
allows 36 characters), read back, list, cancel, balances, and each failure raised as
OrderRejected / TradingUnavailable with its class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

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
