"""Live spot trading behind TradingPort (exchanges/trading.py) against the sandbox's matching
engine with real ccxt: place by client order id, read back, list, cancel, balances, and every
failure raised as OrderRejected / TradingUnavailable with its class — MEXC, KuCoin classic and HF.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

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
    TradingPort,
    TradingUnavailable,
)
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.exchanges.venue_ports import trading_port
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import add_key, connection_for

pytestmark = pytest.mark.integration
T = TradingErrorClass
VENUES = pytest.mark.parametrize(
    ("exchange", "hf"), [("mexc", False), ("kucoin", False), ("kucoin", True)]
)
ORDER_PATHS = {"/api/v3/order", "/api/v1/orders", "/api/v1/hf/orders"}
Make = Callable[..., CcxtTrading]
_ids = iter(range(10**6))


def cid() -> str:
    return f"bf{next(_ids):06d}t{int(time.time()) % 10**6:06d}"


def limit_buy(price: str = "30000", amount: str = "0.001", client_id: str = "") -> OrderRequest:
    return OrderRequest(
        "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal(amount), client_id or cid(), Decimal(price)
    )


@pytest.fixture
async def make(sandbox: Sandbox) -> AsyncIterator[Make]:
    factory = ClientFactory(timeout=2.0)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    ports: list[CcxtTrading] = []

    def build(exchange: str, *, hf: bool = False, **key_kwargs: object) -> CcxtTrading:
        extra = {"hf": True} if hf else {}
        key = add_key(sandbox, exchange, **extra, **key_kwargs)  # type: ignore[arg-type]
        port = trading_port(connection_for(sandbox, key), ctx, markets)
        ports.append(port)
        return port

    yield build
    for port in ports:
        await port.close()
    await markets.close()
    await factory.close()


@VENUES
async def test_a_limit_order_by_client_id_from_placing_to_cancelling(
    make: Make, sandbox: Sandbox, exchange: str, hf: bool
) -> None:
    port: TradingPort = make(exchange, hf=hf)
    order = limit_buy()
    sandbox.reset_request_counts()
    ack = await port.place(order)
    placed_on = ORDER_PATHS & set(sandbox.request_counts())
    expected = {"mexc": "/api/v3/order", "kucoin": "/api/v1/hf/orders" if hf else "/api/v1/orders"}
    assert placed_on == {expected[exchange]}
    assert ack.client_order_id == order.client_order_id
    assert ack.order_id
    assert (ack.state, ack.side, ack.pair) == (OrderState.OPEN, Side.BUY, "BTC/USDT")
    assert (ack.amount, ack.filled, ack.price) == (Decimal("0.001"), 0, Decimal(30000))

    found = await port.fetch_order_by_client_id("BTC/USDT", order.client_order_id)
    assert found is not None
    assert found.order_id == ack.order_id
    assert [o.client_order_id for o in await port.open_orders("BTC/USDT")] == [
        order.client_order_id
    ]
    usdt = (await port.balances())["USDT"]
    assert (usdt.free, usdt.locked) == (Decimal(970), Decimal(30))

    cancelled = await port.cancel("BTC/USDT", order.client_order_id)
    assert cancelled.state is OrderState.CANCELED
    assert await port.open_orders("BTC/USDT") == ()
    assert (await port.balances())["USDT"].free == Decimal(1000)


@VENUES
async def test_a_market_buy_fills_and_moves_the_balances(
    make: Make, exchange: str, hf: bool
) -> None:
    port = make(exchange, hf=hf)
    order = OrderRequest("BTC/USDT", Side.BUY, OrderType.MARKET, Decimal("0.001"), cid())
    ack = await port.place(order)
    assert ack.state is OrderState.FILLED
    assert ack.filled == Decimal("0.001")
    assert ack.average_price is not None
    assert ack.average_price > 0
    balances = await port.balances()
    assert balances["BTC"].free == Decimal("0.001")
    assert balances["USDT"].free < 1000


@VENUES
async def test_unknown_client_id_is_none_and_cancelling_it_is_rejected(
    make: Make, exchange: str, hf: bool
) -> None:
    port = make(exchange, hf=hf)
    assert await port.fetch_order_by_client_id("BTC/USDT", cid()) is None
    with pytest.raises(OrderRejected) as err:
        await port.cancel("BTC/USDT", cid())
    assert err.value.error_class is T.ORDER_REJECTED


@VENUES
async def test_insufficient_funds(make: Make, exchange: str, hf: bool) -> None:
    port = make(exchange, hf=hf)
    with pytest.raises(OrderRejected) as err:
        await port.place(limit_buy(amount="0.1"))  # 3,000 USDT of 1,000
    assert err.value.error_class is T.INSUFFICIENT_FUNDS


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_an_order_the_exchange_refuses_is_rejected(make: Make, exchange: str) -> None:
    port = make(exchange)
    with pytest.raises(OrderRejected) as err:
        await port.place(limit_buy(amount="0.0000001"))  # below the pair's minimum size
    assert err.value.error_class is T.ORDER_REJECTED
    # DOGE/USDT: a pair the venue does not let API keys trade
    doge = OrderRequest("DOGE/USDT", Side.BUY, OrderType.LIMIT, Decimal(100), cid(), Decimal("0.1"))
    with pytest.raises(OrderRejected) as not_tradable:
        await port.place(doge)
    assert not_tradable.value.error_class is T.ORDER_REJECTED


async def test_mexc_client_ids_longer_than_32_characters_never_leave(
    make: Make, sandbox: Sandbox
) -> None:
    port = make("mexc")
    sandbox.reset_request_counts()
    with pytest.raises(OrderRejected) as err:
        await port.place(limit_buy(client_id="x" * 33))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "32" in err.value.detail
    assert not ORDER_PATHS & set(sandbox.request_counts())
    ack = await port.place(limit_buy(client_id="y" * 32))
    assert ack.client_order_id == "y" * 32


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_a_key_without_trade_permission_is_auth_rejected(make: Make, exchange: str) -> None:
    read_only = {"mexc": ["SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"], "kucoin": ["General"]}
    port = make(exchange, permissions=read_only[exchange])
    with pytest.raises(OrderRejected) as err:
        await port.place(limit_buy())
    assert err.value.error_class is T.AUTH_REJECTED


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_rate_limited_and_unavailable_are_temporary(
    make: Make, sandbox: Sandbox, exchange: str
) -> None:
    port = make(exchange)
    await port.balances()  # markets and account mode ready
    faults = sandbox.faults(exchange)
    faults.rate_limit, faults.retry_after_s = True, 9
    with pytest.raises(TradingUnavailable) as limited:
        await port.place(limit_buy())
    assert limited.value.error_class is T.RATE_LIMITED
    assert limited.value.retry_after == 9
    faults.rate_limit = False
    faults.http_5xx = 503
    with pytest.raises(TradingUnavailable) as down:
        await port.open_orders("BTC/USDT")
    assert down.value.error_class is T.EXCHANGE_UNAVAILABLE
    assert down.value.retry_after is None
    faults.http_5xx = 0
    assert await port.open_orders("BTC/USDT") == ()


async def test_failures_never_carry_the_key_or_secret(make: Make, sandbox: Sandbox) -> None:
    port = make("mexc", permissions=["SPOT_ACCOUNT_READ"])
    key = sandbox.keys.find(port._client.apiKey)
    assert key is not None
    with pytest.raises(OrderRejected) as err:
        await port.place(limit_buy())
    for text in (str(err.value), err.value.detail, repr(err.value)):
        assert key.api_key not in text
        assert key.api_secret not in text
    assert err.value.__cause__ is None
    assert err.value.__suppress_context__


@pytest.mark.parametrize("hf", [False, True])
async def test_placing_the_same_client_id_again_on_kucoin_returns_the_first_order(
    make: Make, hf: bool
) -> None:
    port = make("kucoin", hf=hf)
    order = limit_buy()
    first = await port.place(order)
    again = await port.place(order)  # e.g. a retry after the first answer was lost
    assert again.order_id == first.order_id
    assert again.client_order_id == order.client_order_id
    assert len(await port.open_orders("BTC/USDT")) == 1
