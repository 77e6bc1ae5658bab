"""Live spot trading on OKX behind the same TradingPort as MEXC and KuCoin
(exchanges/trading.py with OKX's one VENUES entry, applied by the fixture): place by client order
id, read back, list, cancel, balances, an idempotent re-place, and every failure raised as
OrderRejected / TradingUnavailable with its class — through real ccxt against the OKX venue.
"""

from __future__ import annotations

import time
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
from backfuture_daemon.exchanges.trading import CcxtTrading, trading_port
from tests.integration.okx_support import (
    CANARY,
    OkxVenue,
    connection_for,
    okx_registered,
    okx_trading_registered,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("okx_trading_registered")]
__all__ = ["okx_registered", "okx_trading_registered"]
T = TradingErrorClass
Make = Callable[..., CcxtTrading]
_ids = iter(range(10**6))


def cid() -> str:
    """Bot-style ids, alphanumeric as OKX requires (no '-' or '_')."""
    return f"bf{next(_ids):06d}t{int(time.time()) % 10**6:06d}"


def limit_buy(price: str = "30000", amount: str = "0.001", client_id: str = "") -> OrderRequest:
    return OrderRequest(
        "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal(amount), client_id or cid(), Decimal(price)
    )


@pytest.fixture
async def venue() -> AsyncIterator[OkxVenue]:
    v = OkxVenue()
    await v.start()
    try:
        yield v
    finally:
        await v.stop()


@pytest.fixture
async def make(venue: OkxVenue) -> AsyncIterator[Make]:
    factory = ClientFactory(timeout=2.0)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    ports: list[CcxtTrading] = []

    def build(**key: Any) -> CcxtTrading:
        port = trading_port(connection_for(venue, venue.add_key(**key)), ctx, markets)
        ports.append(port)
        return port

    try:
        yield build
    finally:
        for port in ports:
            await port.close()
        await markets.close()
        await factory.close()


async def test_place_read_list_cancel_and_balances(make: Make) -> None:
    port = make()
    order = limit_buy()
    ack = await port.place(order)
    assert (ack.client_order_id, ack.state, ack.amount) == (
        order.client_order_id, OrderState.OPEN, Decimal("0.001"))  # fmt: skip
    assert ack.price == Decimal(30000)
    found = await port.fetch_order_by_client_id("BTC/USDT", order.client_order_id)
    assert found is not None
    assert found.order_id == ack.order_id
    assert [o.client_order_id for o in await port.open_orders("BTC/USDT")] == [
        order.client_order_id
    ]
    balances = await port.balances()
    assert (balances["USDT"].free, balances["USDT"].locked) == (Decimal(970), Decimal(30))
    # placing the same id again (a lost answer) finds the order instead of a second one
    again = await port.place(order)
    assert again.order_id == ack.order_id
    canceled = await port.cancel("BTC/USDT", order.client_order_id)
    assert canceled.state is OrderState.CANCELED
    assert await port.open_orders("BTC/USDT") == ()
    assert await port.fetch_order_by_client_id("BTC/USDT", cid()) is None


async def test_failures_are_classified(make: Make, venue: OkxVenue) -> None:
    port = make()
    with pytest.raises(OrderRejected) as rejected:
        await port.place(limit_buy(price="60000", amount="1"))
    assert rejected.value.error_class is T.INSUFFICIENT_FUNDS
    with pytest.raises(OrderRejected) as rejected:
        await port.place(limit_buy(client_id="has-a-dash"))
    assert rejected.value.error_class is T.ORDER_REJECTED
    assert "clOrdId" in rejected.value.detail
    with pytest.raises(OrderRejected) as rejected:
        await port.place(limit_buy(client_id="x" * 33))
    assert rejected.value.error_class is T.ORDER_REJECTED
    read_only = make(permissions=("read_only",))
    with pytest.raises(OrderRejected) as rejected:
        await read_only.place(limit_buy())
    assert rejected.value.error_class is T.AUTH_REJECTED
    assert "50120" in rejected.value.detail
    assert CANARY not in str(rejected.value)
    venue.faults.rate_limit = True
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.place(limit_buy())
    assert unavailable.value.error_class is T.RATE_LIMITED
    venue.faults.rate_limit = False
    venue.faults.maintenance = True
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.balances()
    assert unavailable.value.error_class is T.EXCHANGE_UNAVAILABLE
