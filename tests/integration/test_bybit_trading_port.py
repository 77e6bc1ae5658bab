"""Live spot trading on Bybit (exchanges/bybit_trading.BybitTrading, what venue_ports builds for
`exchange: bybit`) through real ccxt against the Bybit venue: place by orderLinkId, read back
(open, recently closed, and from the history), list, cancel, fills and order history naming their
orderLinkId, balances, an idempotent re-place — and every failure raised as OrderRejected /
TradingUnavailable with its class, the venue's audit showing one order per client id.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from backfuture_daemon.exchanges import bybit_codes
from backfuture_daemon.exchanges.bybit_trading import BybitTrading
from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.classify import trading_error
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
from backfuture_daemon.sandbox.audit import account_record
from backfuture_daemon.sandbox.bybit import trading as sandbox_trading
from backfuture_daemon.sandbox.control import parse_command
from tests.integration.bybit_support import CANARY, BybitVenue
from tests.integration.venue_support import cid, limit_buy, venue_fixture

pytestmark = pytest.mark.integration
T = TradingErrorClass
PAIR = "BTC/USDT"
Make = Callable[..., tuple[CcxtTrading, str]]
venue = venue_fixture(BybitVenue)


@pytest.fixture
async def make(venue: BybitVenue) -> AsyncIterator[Make]:
    """`make(**key)`: the trading port of a new key on the venue and the key's api_key;
    `make(same=api_key)`: another port (another client, no memory) on that key."""
    factory = ClientFactory(timeout=2.0)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    ports: list[CcxtTrading] = []

    def build(same: str = "", usdt: int = 1000, **key: Any) -> tuple[CcxtTrading, str]:
        k = venue.keys.find(same) if same else venue.add_key(**key)
        assert k is not None
        if not same:
            k.balances = {"USDT": Decimal(usdt)}
        port = trading_port(venue.connection_for(k), ctx, markets)
        ports.append(port)
        return port, k.api_key

    try:
        yield build
    finally:
        for port in ports:
            await port.close()
        await markets.close()
        await factory.close()


def set_price(venue: BybitVenue, price: float) -> None:
    engine = venue.venue.engine
    command = parse_command({"symbol": PAIR, "price": price}, engine.catalogue.by_symbol)
    engine.control_market(command, venue.venue.now_ms())


def audit(venue: BybitVenue, api_key: str) -> list[dict[str, Any]]:
    acct = venue.venue.engine.find_account("bybit", api_key)
    return list(account_record("bybit", acct)["orders"])


def one_order_per_id(venue: BybitVenue, api_key: str) -> Counter[str]:
    ids = Counter(str(o["client_order_id"]) for o in audit(venue, api_key))
    assert ids
    assert max(ids.values()) == 1, ids
    return ids


def market(side: Side, amount: str, client_id: str) -> OrderRequest:
    return OrderRequest(PAIR, side, OrderType.MARKET, Decimal(amount), client_id)


async def test_the_bybit_port_is_bybit_trading(make: Make) -> None:
    port, _ = make()
    assert isinstance(port, BybitTrading)


async def test_place_read_list_cancel_and_balances(make: Make, venue: BybitVenue) -> None:
    set_price(venue, 31000)
    port, api_key = make()
    order = limit_buy(client_id=f"bf-{cid()}_g1b0n1")  # the bots' ids carry '-' and digits
    ack = await port.place(order)
    assert (ack.client_order_id, ack.state, ack.amount) == (
        order.client_order_id, OrderState.OPEN, Decimal("0.001"))  # fmt: skip
    assert ack.price == Decimal(30000)
    assert ack.order_id
    found = await port.fetch_order_by_client_id(PAIR, order.client_order_id)
    assert found is not None
    assert (found.order_id, found.state) == (ack.order_id, OrderState.OPEN)
    assert [o.client_order_id for o in await port.open_orders(PAIR)] == [order.client_order_id]
    balances = await port.balances()
    assert (balances["USDT"].free, balances["USDT"].locked) == (Decimal(970), Decimal(30))
    # placing the same id again (a lost answer): Bybit refuses the duplicate, the port answers
    # with the order it already has
    again = await port.place(order)
    assert again.order_id == ack.order_id
    canceled = await port.cancel(PAIR, order.client_order_id)
    assert (canceled.state, canceled.order_id) == (OrderState.CANCELED, ack.order_id)
    assert await port.open_orders(PAIR) == ()
    # closed, still found by orderLinkId (real-time keeps the recently closed)
    closed = await port.fetch_order_by_client_id(PAIR, order.client_order_id)
    assert closed is not None
    assert closed.state is OrderState.CANCELED
    assert await port.fetch_order_by_client_id(PAIR, cid()) is None
    with pytest.raises(OrderRejected) as rejected:
        await port.cancel(PAIR, cid())  # never placed: 110001
    assert rejected.value.error_class is T.ORDER_REJECTED
    assert "110001" in rejected.value.detail
    assert one_order_per_id(venue, api_key) == {order.client_order_id: 1}
    assert (await port.balances())["USDT"].free == Decimal(1000)


async def test_many_open_orders_are_read_across_pages(make: Make, venue: BybitVenue) -> None:
    set_price(venue, 31000)
    port, _ = make(usdt=100_000)
    placed = [limit_buy(price=str(20000 + n)) for n in range(55)]  # > one page of 50
    for order in placed:
        await port.place(order)
    listed = await port.open_orders(PAIR)
    assert {o.client_order_id for o in listed} == {o.client_order_id for o in placed}


async def test_market_orders_fills_and_history_name_their_client_ids(
    make: Make, venue: BybitVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_price(venue, 31000)
    port, api_key = make()
    t0 = time.time()
    buy = market(Side.BUY, "0.001", cid())
    bought = await port.place(buy)
    assert (bought.state, bought.filled, bought.amount) == (
        OrderState.FILLED, Decimal("0.001"), Decimal("0.001"))  # fmt: skip
    assert bought.price is None
    assert bought.average_price == Decimal(31000)
    await asyncio.sleep(0.05)
    t1 = time.time()
    sell = market(Side.SELL, "0.0005", cid())
    await port.place(sell)
    resting = limit_buy(price="20000")
    await port.place(resting)
    canceled = limit_buy(price="21000")
    await port.place(canceled)
    await port.cancel(PAIR, canceled.client_order_id)

    fills = await port.fills_since(PAIR, t0 - 1)
    assert [f.client_order_id for f in fills] == [buy.client_order_id, sell.client_order_id]
    assert [(f.side, f.amount, f.price) for f in fills] == [
        (Side.BUY, Decimal("0.001"), Decimal(31000)),
        (Side.SELL, Decimal("0.0005"), Decimal(31000)),
    ]
    on_exchange = {f["trade_id"] for o in audit(venue, api_key) for f in o["fills"]}
    assert {f.trade_id for f in fills} == on_exchange
    later = await port.fills_since(PAIR, t1)
    assert [f.client_order_id for f in later] == [sell.client_order_id]
    # a start weeks back is read week by week (Bybit answers 7 days per request)
    weeks_ago = await port.fills_since(PAIR, t0 - 20 * 86_400)
    assert [f.trade_id for f in weeks_ago] == [f.trade_id for f in fills]

    # a port that never saw these orders (a restarted daemon, a lost state directory)
    fresh, _ = make(same=api_key)
    everything = await fresh.orders_since(PAIR, 0)
    assert [(o.client_order_id, o.state) for o in everything] == [
        (buy.client_order_id, OrderState.FILLED),
        (sell.client_order_id, OrderState.FILLED),
        (resting.client_order_id, OrderState.OPEN),
        (canceled.client_order_id, OrderState.CANCELED),
    ]
    assert all(o.timestamp and o.timestamp >= t0 - 1 for o in everything)
    assert [f.client_order_id for f in await fresh.fills_since(PAIR, 0)] == [
        buy.client_order_id, sell.client_order_id]  # fmt: skip
    # an order beyond the recently-closed list Bybit's real-time endpoint keeps: the history
    monkeypatch.setattr(sandbox_trading, "RECENT_CLOSED", 0)
    old = await fresh.fetch_order_by_client_id(PAIR, buy.client_order_id)
    assert old is not None
    assert (old.state, old.order_id) == (OrderState.FILLED, bought.order_id)
    assert venue.counts()["/v5/order/history"] >= 1
    one_order_per_id(venue, api_key)


async def test_cancelling_a_filled_order_answers_its_final_state(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 31000)
    port, _ = make()
    order = limit_buy(price="31500")  # crosses: fills at once
    ack = await port.place(order)
    assert ack.state is OrderState.FILLED
    final = await port.cancel(PAIR, order.client_order_id)
    assert (final.state, final.filled) == (OrderState.FILLED, Decimal("0.001"))


async def test_order_rules_and_funds_are_classified(make: Make, venue: BybitVenue) -> None:
    set_price(venue, 31000)
    port, api_key = make()
    with pytest.raises(OrderRejected) as rejected:
        await port.place(limit_buy(price="30000", amount="1"))
    assert rejected.value.error_class is T.INSUFFICIENT_FUNDS
    assert "170131" in rejected.value.detail
    with pytest.raises(OrderRejected) as rejected:
        await port.place(limit_buy(amount="0.000001"))  # 0.03 USDT: below the minimum value
    assert rejected.value.error_class is T.ORDER_REJECTED
    assert "170140" in rejected.value.detail
    with pytest.raises(OrderRejected) as rejected:
        await port.place(market(Side.SELL, "0.001", cid()))  # no BTC to sell
    assert rejected.value.error_class is T.INSUFFICIENT_FUNDS
    for bad in ("has space", "x" * 37, "dot.ted"):
        with pytest.raises(OrderRejected) as rejected:
            await port.place(limit_buy(client_id=bad))
        assert rejected.value.error_class is T.ORDER_REJECTED
    assert audit(venue, api_key) == []


async def test_key_and_exchange_failures_are_classified(make: Make, venue: BybitVenue) -> None:
    set_price(venue, 31000)
    port, _ = make()
    read_only, _ = make(permissions=("Exchange.ExchangeHistory",))
    with pytest.raises(OrderRejected) as rejected:
        await read_only.place(limit_buy())
    assert rejected.value.error_class is T.AUTH_REJECTED
    assert "10005" in rejected.value.detail
    assert CANARY not in str(rejected.value)
    assert await read_only.open_orders(PAIR) == ()  # reading needs no trade permission

    venue.faults.update({"rate_limit": True, "retry_after_s": 3})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.place(limit_buy())
    assert unavailable.value.error_class is T.RATE_LIMITED
    assert "10006" in unavailable.value.detail
    # Bybit names no Retry-After: the wait is X-Bapi-Limit-Reset-Timestamp minus now
    assert unavailable.value.retry_after is not None
    assert 2.0 < unavailable.value.retry_after <= 3.0
    venue.faults.update({"rate_limit": False, "maintenance": True})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.balances()
    assert unavailable.value.error_class is T.EXCHANGE_UNAVAILABLE
    assert "10016" in unavailable.value.detail
    venue.faults.update({"maintenance": False, "http_5xx": 503})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.place(limit_buy())
    assert unavailable.value.error_class is T.EXCHANGE_UNAVAILABLE
    venue.faults.update({"http_5xx": 0})
    for failure in (rejected.value, unavailable.value):
        assert CANARY not in str(failure)


async def test_lost_answers_are_found_by_client_id_never_placed_twice(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 31000)
    port, api_key = make()
    order = limit_buy()
    venue.faults.update({"accept_then_timeout": True, "hang_seconds": 10})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.place(order)  # accepted; the answer never comes
    assert unavailable.value.error_class is T.EXCHANGE_UNAVAILABLE
    venue.faults.update({"accept_then_timeout": False})
    found = await port.fetch_order_by_client_id(PAIR, order.client_order_id)
    assert found is not None
    assert found.state is OrderState.OPEN
    again = await port.place(order)  # the caller re-sends the same id
    assert again.order_id == found.order_id
    assert one_order_per_id(venue, api_key) == {order.client_order_id: 1}

    venue.faults.update({"drop_cancel_answer": True})
    with pytest.raises(TradingUnavailable):
        await port.cancel(PAIR, order.client_order_id)  # done; the answer is lost
    venue.faults.update({"drop_cancel_answer": False})
    after = await port.fetch_order_by_client_id(PAIR, order.client_order_id)
    assert after is not None
    assert after.state is OrderState.CANCELED
    # a refused order is answered, not swallowed, while the fault is on
    venue.faults.update({"accept_then_timeout": True})
    with pytest.raises(OrderRejected):
        await port.place(limit_buy(amount="1"))
    venue.faults.update({"accept_then_timeout": False})


@pytest.mark.parametrize("code", sorted(bybit_codes.INSUFFICIENT_FUNDS))
def test_bybit_insufficient_funds_codes_are_read_from_the_table(code: str) -> None:
    """Classified by Bybit's code, whatever class ccxt picked (a plain ExchangeError here)."""
    body = f'bybit {{"retCode":{code},"retMsg":"ab not enough for new order","result":{{}}}}'
    failure = trading_error(ccxt.ExchangeError(body), "bybit")
    assert isinstance(failure, OrderRejected)
    assert failure.error_class is T.INSUFFICIENT_FUNDS
    assert code in failure.detail
