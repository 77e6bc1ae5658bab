"""Live Binance USDⓈ-M trading behind TradingPort (exchanges/binance_futures_trading.py) against
the sandbox's Binance port with real ccxt (`binanceusdm`): base quantities on the LOT_SIZE step
(BTCUSDT 0.001), one-way mode checked and ISOLATED margin + leverage set before the first order
per symbol, reduce-only exits, lookups and cancels by origClientOrderId, fills resolved to their
client ids, the signed position, paged history, balances, and every failure class.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal as D

import ccxt
import pytest

from backfuture_daemon.exchanges import binance_futures_trading
from backfuture_daemon.exchanges.history_paging import DAY_MS, Paging
from backfuture_daemon.exchanges.port import (
    OrderRejected,
    OrderState,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.params import MarketRules
from tests.integration.connection_test_support import connection_for
from tests.integration.futures_port_support import BINANCE, Make, api_key, port_maker

pytestmark = pytest.mark.integration
T = TradingErrorClass
PAIR = "BTC/USDT"
PERMS = ("enableReading", "enableSpotAndMarginTrading", "enableFutures")
order = BINANCE.order
cid = BINANCE.cid


@pytest.fixture
async def make(sandbox: Sandbox) -> AsyncIterator[Make]:
    async with port_maker(sandbox, BINANCE) as build:
        yield build


def counts(sandbox: Sandbox) -> dict[str, int]:
    return sandbox.request_counts("binance")


async def test_a_limit_order_in_base_steps_from_placing_to_cancelling(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=3)
    placed = order(Side.BUY, "0.0059", "59000")  # rounded down to the 0.001 step
    sandbox.reset_request_counts()
    ack = await port.place(placed)
    sent = counts(sandbox)
    assert sent["/fapi/v1/order"] == 2  # the POST and the read-back
    assert (sent["/fapi/v1/positionSide/dual"], sent["/fapi/v1/marginType"],
            sent["/fapi/v1/leverage"]) == (1, 1, 1)  # fmt: skip
    assert "/api/v3/order" not in sent
    assert (ack.client_order_id, ack.pair, ack.side, ack.state) == (
        placed.client_order_id, PAIR, Side.BUY, OrderState.OPEN
    )  # fmt: skip
    assert (ack.amount, ack.filled, ack.price) == (D("0.005"), D(0), D(59000))
    (audit,) = sandbox.orders_of(api_key(port))["orders"]
    assert (audit["market"], audit["instrument_id"], audit["amount"]) == (
        "futures", "BTCUSDT", "0.005"
    )  # fmt: skip
    (risk,) = await port._client.fapiPrivateV2GetPositionRisk({"symbol": "BTCUSDT"})
    assert (risk["marginType"], risk["leverage"], risk["positionSide"]) == (
        "isolated", "3", "BOTH"
    )  # fmt: skip

    found = await port.fetch_order_by_client_id(PAIR, placed.client_order_id)
    assert found is not None
    assert found.order_id == ack.order_id
    assert [o.client_order_id for o in await port.open_orders(PAIR)] == [placed.client_order_id]
    usdt = (await port.balances())["USDT"]
    assert usdt.locked == pytest.approx(D("98.33333333"))  # 0.005 · 59,000 / 3
    assert usdt.free + usdt.locked == pytest.approx(D(1000))

    sandbox.reset_request_counts()
    second = await port.place(order(Side.BUY, "0.001", "58000"))
    assert second.state is OrderState.OPEN
    assert not {"/fapi/v1/positionSide/dual", "/fapi/v1/marginType", "/fapi/v1/leverage"} & set(
        counts(sandbox)
    )  # set once per symbol and port
    cancelled = await port.cancel(PAIR, placed.client_order_id)
    assert cancelled.state is OrderState.CANCELED
    assert [o.client_order_id for o in await port.open_orders(PAIR)] == [second.client_order_id]


async def test_an_already_isolated_symbol_is_no_error_and_a_new_port_sets_its_leverage(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    first = make(leverage=3)
    await first.place(order(Side.BUY, "0.001", "50000"))
    again = make(leverage=5, api_key=api_key(first))  # a restart at another leverage
    with pytest.raises(ccxt.ExchangeError, match="-4046"):  # Binance's answer the second time
        await again._client.fapiPrivatePostMarginType(
            {"symbol": "BTCUSDT", "marginType": "ISOLATED"}
        )
    ack = await again.place(order(Side.BUY, "0.002", "60100"))  # -4046 is success
    assert ack.state is OrderState.FILLED
    (pos,) = sandbox.orders_of(api_key(again))["positions"]
    assert (pos["contracts"], pos["leverage"], D(pos["margin"])) == ("0.002", "5", D(24))


async def test_hedge_mode_is_refused_before_anything_is_sent(make: Make, sandbox: Sandbox) -> None:
    port = make()
    await port._client.fapiPrivatePostPositionSideDual({"dualSidePosition": "true"})
    sandbox.reset_request_counts()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.BUY, "0.001", "50000"))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "Hedge Mode" in err.value.detail
    assert "One-way" in err.value.detail
    assert "/fapi/v1/order" not in counts(sandbox)
    assert "/fapi/v1/marginType" not in counts(sandbox)
    await port._client.fapiPrivatePostPositionSideDual({"dualSidePosition": "false"})
    assert (await port.place(order(Side.BUY, "0.001", "50000"))).state is OrderState.OPEN


async def test_a_reduce_only_take_profit_closes_the_long(make: Make, sandbox: Sandbox) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=5)
    base = await port.place(order(Side.BUY, "0.002", "60100"))  # marketable: fills at once
    assert (base.state, base.filled) == (OrderState.FILLED, D("0.002"))
    assert await port.position(PAIR) == D("0.002")
    tp = await port.place(order(Side.SELL, "0.002", "61000", exit=True))
    raw = await port._client.fapiPrivateGetOrder(
        {"symbol": "BTCUSDT", "origClientOrderId": tp.client_order_id}
    )
    assert raw["reduceOnly"] is True
    assert (await port.balances())["USDT"].locked == D(24)  # the reduce-only order: no margin
    plain = await port._client.fapiPrivateGetOrder(
        {"symbol": "BTCUSDT", "origClientOrderId": base.client_order_id}
    )
    assert plain["reduceOnly"] is False

    sandbox.set_market(PAIR, price=61500)
    done = await port.fetch_order_by_client_id(PAIR, tp.client_order_id)
    assert done is not None
    assert (done.state, done.filled) == (OrderState.FILLED, D("0.002"))
    assert await port.position(PAIR) == D(0)
    fresh = make(api_key=api_key(port))  # no orders seen: client ids are looked up, once
    sandbox.reset_request_counts()
    fills = await fresh.fills_since(PAIR, 0.0)
    assert [(f.side, f.amount, f.price, f.client_order_id) for f in fills] == [
        (Side.BUY, D("0.002"), D(60000), base.client_order_id),
        (Side.SELL, D("0.002"), D(61000), tp.client_order_id),
    ]
    assert counts(sandbox)["/fapi/v1/order"] == 2
    await fresh.fills_since(PAIR, 0.0)
    assert counts(sandbox)["/fapi/v1/order"] == 2  # cached
    assert all(f.pair == PAIR and f.fee_currency == "USDT" for f in fills)
    assert (await port.balances())["USDT"].free == D(1002)


async def test_a_reduce_only_order_without_a_position_is_refused(make: Make) -> None:
    port = make()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.SELL, "0.001", "70000", exit=True))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "-2022" in err.value.detail


async def test_the_position_is_signed_base(make: Make, sandbox: Sandbox) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=2)
    assert await port.position(PAIR) == D(0)
    await port.place(order(Side.BUY, "0.003", "60100"))
    assert await port.position(PAIR) == D("0.003")
    await port.place(order(Side.SELL, "0.005", "59900"))  # flips: 0.002 short
    assert await port.position(PAIR) == D("-0.002")
    await port.place(order(Side.BUY, "0.002", "60100", exit=True))
    assert await port.position(PAIR) == D(0)


async def test_a_short_closes_reduce_only_with_a_buy(make: Make, sandbox: Sandbox) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=2)
    await port.place(order(Side.SELL, "0.001", "59900"))
    tp = await port.place(order(Side.BUY, "0.001", "59000", exit=True))
    raw = await port._client.fapiPrivateGetOrder(
        {"symbol": "BTCUSDT", "origClientOrderId": tp.client_order_id}
    )
    assert (raw["reduceOnly"], raw["side"]) == (True, "BUY")
    (pos,) = sandbox.orders_of(api_key(port))["positions"]
    assert (pos["contracts"], pos["leverage"]) == ("-0.001", "2")


async def test_quantities_under_the_step_never_leave(make: Make, sandbox: Sandbox) -> None:
    port = make()
    await port.balances()
    sandbox.reset_request_counts()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.BUY, "0.0009", "50000"))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "0.001 BTC" in err.value.detail
    assert "/fapi/v1/order" not in counts(sandbox)


async def test_the_contract_rules_size_in_base_steps(make: Make) -> None:
    port = make()
    spot = MarketRules(D("0.01"), D("0.000001"), D("0.000001"), D(1))
    assert port.rules(PAIR, spot) is None  # markets not loaded yet
    await port.balances()
    rules = port.rules(PAIR, spot)
    assert rules is not None
    assert (rules.price_tick, rules.amount_step, rules.min_amount, rules.min_notional) == (
        D("0.1"), D("0.001"), D("0.001"), D(5)
    )  # fmt: skip


async def test_a_placement_5xx_places_nothing(make: Make, sandbox: Sandbox) -> None:
    port = make()
    await port.place(order(Side.BUY, "0.001", "50000"))
    faults = sandbox.faults("binance")
    faults.update({"placement_5xx": 503})
    refused = order(Side.BUY, "0.001", "51000")
    try:
        with pytest.raises(TradingUnavailable) as err:
            await port.place(refused)
        assert err.value.error_class is T.EXCHANGE_UNAVAILABLE
    finally:
        faults.update({"placement_5xx": 0})
    assert await port.fetch_order_by_client_id(PAIR, refused.client_order_id) is None


async def test_notional_and_precision_refusals_are_order_rejected(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make()
    with pytest.raises(OrderRejected) as small:  # 0.001 · 4,000 = 4 USDT < 5
        await port.place(order(Side.BUY, "0.001", "4000"))
    assert (small.value.error_class, "-4164" in small.value.detail) == (T.ORDER_REJECTED, True)
    raw = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
           "quantity": "0.0015", "price": "50000"}  # fmt: skip
    with pytest.raises(OrderRejected) as precision:  # what a caller bypassing the step gets
        await port._call(lambda: port._client.fapiPrivatePostOrder(raw))
    assert precision.value.error_class is T.ORDER_REJECTED
    assert "-1111" in precision.value.detail


async def test_order_history_and_fills_are_read_page_by_page(
    make: Make, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        binance_futures_trading, "PAGING", Paging(limit=2, window_ms=7 * DAY_MS - 1)
    )
    sandbox.set_market(PAIR, price=60000)
    port = make()
    placed = [await port.place(order(Side.BUY, "0.001", "60100")) for _ in range(4)]
    placed.append(await port.place(order(Side.BUY, "0.001", "50000")))  # rests
    gone = await port.place(order(Side.BUY, "0.001", "49000"))
    await port.cancel(PAIR, gone.client_order_id)
    sandbox.reset_request_counts()
    fills = await port.fills_since(PAIR, time.time() - 60)
    assert [f.client_order_id for f in fills] == [a.client_order_id for a in placed[:4]]
    assert counts(sandbox)["/fapi/v1/userTrades"] >= 3  # pages of 2
    history = await port.orders_since(PAIR, time.time() - 60)
    assert [(a.client_order_id, a.state) for a in history] == [
        *((a.client_order_id, OrderState.FILLED) for a in placed[:4]),
        (placed[4].client_order_id, OrderState.OPEN),
        (gone.client_order_id, OrderState.CANCELED),
    ]
    assert counts(sandbox)["/fapi/v1/allOrders"] >= 4


async def test_a_liquidation_leaves_no_position_and_no_take_profit(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=5)  # liquidation near 60,000 · (1 − 1/5 + 0.004) = 48,240
    await port.place(order(Side.BUY, "0.002", "60100"))
    tp = await port.place(order(Side.SELL, "0.002", "62000", exit=True))
    sandbox.set_market(PAIR, path=[[0, 60000], [0.2, 47000]])
    await asyncio.sleep(0.3)
    assert await port.position(PAIR) == D(0)
    assert await port.open_orders(PAIR) == ()
    after = await port.fetch_order_by_client_id(PAIR, tp.client_order_id)
    assert after is not None
    assert (after.state, after.filled) == (OrderState.CANCELED, D(0))
    (pos,) = sandbox.orders_of(api_key(port))["positions"]
    assert pos["liquidated_at_ms"]


def test_internal_errors_are_temporary_and_margin_shortfalls_insufficient_funds() -> None:
    from backfuture_daemon.exchanges.classify import trading_error

    def body(code: int, msg: str) -> ccxt.ExchangeError:
        return ccxt.ExchangeError(f'binanceusdm {{"code":{code},"msg":"{msg}"}}')

    internal = body(-1001, "Internal error; unable to process your request.")
    busy = trading_error(internal, "binanceusdm")
    assert isinstance(busy, TradingUnavailable)
    assert busy.error_class is T.EXCHANGE_UNAVAILABLE
    short = trading_error(body(-2019, "Margin is insufficient."), "binanceusdm")
    assert (type(short), short.error_class) == (OrderRejected, T.INSUFFICIENT_FUNDS)
    limited = trading_error(body(-1003, "Too many requests."), "binanceusdm", retry_after=3.0)
    assert isinstance(limited, TradingUnavailable)
    assert (limited.error_class, limited.retry_after) == (T.RATE_LIMITED, 3.0)


async def test_spot_lookups_never_see_futures_orders(make: Make, sandbox: Sandbox) -> None:
    from backfuture_daemon.exchanges.venue_ports import trading_port

    port = make()
    placed = await port.place(order(Side.BUY, "0.001", "50000"))
    key = sandbox.keys.find(api_key(port))
    assert key is not None
    spot = trading_port(connection_for(sandbox, key), port._ctx, port._markets)
    try:
        assert await spot.fetch_order_by_client_id(PAIR, placed.client_order_id) is None
        assert await spot.open_orders(PAIR) == ()
    finally:
        await spot.close()
    assert await port.fetch_order_by_client_id(PAIR, placed.client_order_id) is not None


async def test_futures_taken_off_the_key_later_is_auth_rejected_not_rate_limited(
    make: Make, sandbox: Sandbox
) -> None:
    port = make()
    await port.place(order(Side.BUY, "0.001", "50000"))  # ccxt has authenticated successfully
    sandbox.update_key(api_key(port), permissions=["enableReading", "enableSpotAndMarginTrading"])
    with pytest.raises(OrderRejected) as err:  # -2015: ccxt may say DDoSProtection (§C.2)
        await port.place(order(Side.BUY, "0.001", "50000"))
    assert err.value.error_class is T.AUTH_REJECTED
