"""Live KuCoin futures trading behind TradingPort (exchanges/kucoin_futures_trading.py) against
the sandbox's futures port with real ccxt: base amounts <-> whole contracts (XBTUSDTM: 0.001 BTC),
isolated margin at the strategy's leverage on the position, reduce-only take profits, lookups and
cancels by clientOid, fills with their clientOid, the order history, the futures balances, and
every failure raised as OrderRejected / TradingUnavailable with its class.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from backfuture_daemon.exchanges.port import (
    OrderRejected,
    OrderState,
    Side,
    TradingErrorClass,
)
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.params import MarketRules
from tests.integration.connection_test_support import add_key, connection_for
from tests.integration.futures_port_support import KUCOIN, Make, api_key, port_maker

pytestmark = pytest.mark.integration
T = TradingErrorClass
PAIR = "BTC/USDT"
order = KUCOIN.order
cid = KUCOIN.cid


@pytest.fixture
async def make(sandbox: Sandbox) -> AsyncIterator[Make]:
    async with port_maker(sandbox, KUCOIN) as build:
        yield build


async def test_a_limit_order_in_contracts_from_placing_to_cancelling(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=3)
    placed = order(Side.BUY, "0.0059", "59000")  # 5.9 contracts: 5 sent
    sandbox.reset_request_counts()
    ack = await port.place(placed)
    assert sandbox.request_counts("kucoinfutures").get("/api/v1/orders") == 1
    spot = set(sandbox.request_counts("kucoin"))  # the spot host: only the currency list
    assert not {"/api/v1/orders", "/api/v1/hf/orders"} & spot
    assert (ack.client_order_id, ack.pair, ack.side, ack.state) == (
        placed.client_order_id, PAIR, Side.BUY, OrderState.OPEN
    )  # fmt: skip
    assert (ack.amount, ack.filled, ack.price) == (D("0.005"), D(0), D(59000))
    (audit,) = sandbox.orders_of(api_key(port))["orders"]
    assert (audit["market"], audit["instrument_id"], audit["amount"]) == (
        "futures",
        "XBTUSDTM",
        "5",
    )

    found = await port.fetch_order_by_client_id(PAIR, placed.client_order_id)
    assert found is not None
    assert found.order_id == ack.order_id
    assert [o.client_order_id for o in await port.open_orders(PAIR)] == [placed.client_order_id]
    usdt = (await port.balances())["USDT"]
    # order margin: 5 contracts · 0.001 · 59,000 / 3 leverage
    assert usdt.locked == pytest.approx(D("98.33333333"))
    assert usdt.free + usdt.locked == pytest.approx(D(1000))

    cancelled = await port.cancel(PAIR, placed.client_order_id)
    assert cancelled.state is OrderState.CANCELED
    assert await port.open_orders(PAIR) == ()
    assert (await port.balances())["USDT"].free == D(1000)


async def test_isolated_leverage_on_the_position_and_a_reduce_only_take_profit(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=5)
    base = await port.place(order(Side.BUY, "0.002", "60100"))  # marketable: fills at once
    assert base.state is OrderState.FILLED
    assert base.filled == D("0.002")
    (pos,) = sandbox.orders_of(api_key(port))["positions"]
    assert (pos["contracts"], pos["leverage"], pos["entry_price"]) == ("2", "5", "60000")
    assert D(pos["margin"]) == D(24)  # 2 · 0.001 · 60,000 / 5
    sent = sandbox.orders_of(api_key(port))["orders"]
    assert len(sent) == 1

    tp = await port.place(order(Side.SELL, "0.002", "61000", exit=True))
    assert tp.state is OrderState.OPEN
    raw = await port._client.futuresPrivateGetOrdersByClientOid({"clientOid": tp.client_order_id})
    assert (raw["data"]["reduceOnly"], raw["data"]["marginMode"], raw["data"]["leverage"]) == (
        True, "ISOLATED", "5"
    )  # fmt: skip
    usdt = (await port.balances())["USDT"]
    assert usdt.locked == D(24)  # the reduce-only order reserves no margin

    sandbox.set_market(PAIR, price=61500)
    done = await port.fetch_order_by_client_id(PAIR, tp.client_order_id)
    assert done is not None
    assert done.state is OrderState.FILLED
    assert done.filled == D("0.002")
    (pos,) = sandbox.orders_of(api_key(port))["positions"]
    assert (pos["contracts"], D(pos["realised_pnl"])) == ("0", D(2))  # 1,000 · 0.002
    fills = await port.fills_since(PAIR, 0.0)
    assert [(f.side, f.amount, f.price, f.client_order_id) for f in fills] == [
        (Side.BUY, D("0.002"), D(60000), base.client_order_id),
        (Side.SELL, D("0.002"), D(61000), tp.client_order_id),
    ]
    assert all(f.pair == PAIR and f.fee_currency == "USDT" for f in fills)
    assert (await port.balances())["USDT"].free == D(1002)


async def test_a_reduce_only_order_without_a_position_is_refused(make: Make) -> None:
    port = make()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.SELL, "0.001", "70000", exit=True))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "300009" in err.value.detail


async def test_a_short_bot_opens_with_sells_and_closes_reduce_only_with_buys(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=2)
    await port.place(order(Side.SELL, "0.001", "59900"))
    tp = await port.place(order(Side.BUY, "0.001", "59000", exit=True))
    raw = await port._client.futuresPrivateGetOrdersByClientOid({"clientOid": tp.client_order_id})
    assert raw["data"]["reduceOnly"] is True
    (pos,) = sandbox.orders_of(api_key(port))["positions"]
    assert (pos["contracts"], pos["leverage"]) == ("-1", "2")


async def test_amounts_under_one_contract_never_leave(make: Make, sandbox: Sandbox) -> None:
    port = make()
    await port.balances()
    sandbox.reset_request_counts()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.BUY, "0.0009", "50000"))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "less than one contract" in err.value.detail
    assert "0.001" in err.value.detail
    assert "/api/v1/orders" not in sandbox.request_counts("kucoinfutures")


async def test_the_contract_rules_size_in_whole_lots_of_base(make: Make) -> None:
    port = make()
    spot = MarketRules(D("0.01"), D("0.000001"), D("0.000001"), D(1))
    assert port.rules(PAIR, spot) is None  # markets not loaded yet
    await port.balances()
    rules = port.rules(PAIR, spot)
    assert rules is not None
    assert (rules.price_tick, rules.amount_step, rules.min_amount, rules.min_notional) == (
        D("0.1"), D("0.001"), D("0.001"), D(1)
    )  # fmt: skip
    assert (rules.maker_fee, rules.taker_fee) == (D("0.0002"), D("0.0006"))


async def test_the_order_history_lists_active_and_done_orders(make: Make, sandbox: Sandbox) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make()
    filled = await port.place(order(Side.BUY, "0.001", "60100"))
    resting = await port.place(order(Side.BUY, "0.002", "50000"))
    gone = await port.place(order(Side.BUY, "0.001", "49000"))
    await port.cancel(PAIR, gone.client_order_id)
    await asyncio.sleep(0)
    history = await port.orders_since(PAIR, 0.0)
    assert [(a.client_order_id, a.state, a.amount) for a in history] == [
        (filled.client_order_id, OrderState.FILLED, D("0.001")),
        (resting.client_order_id, OrderState.OPEN, D("0.002")),
        (gone.client_order_id, OrderState.CANCELED, D("0.001")),
    ]


async def test_fills_and_order_history_are_read_page_by_page(
    make: Make, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backfuture_daemon.exchanges import kucoin_futures_trading

    monkeypatch.setattr(kucoin_futures_trading, "PAGE", 2)  # 5 orders: three pages each
    sandbox.set_market(PAIR, price=60000)
    port = make()
    placed = [await port.place(order(Side.BUY, "0.001", "60100")) for _ in range(4)]
    placed.append(await port.place(order(Side.BUY, "0.001", "50000")))  # rests
    sandbox.reset_request_counts()
    fills = await port.fills_since(PAIR, 0.0)
    assert [f.client_order_id for f in fills] == [a.client_order_id for a in placed[:4]]
    assert sandbox.request_counts("kucoinfutures")["/api/v1/fills"] == 3  # 2 + 2 + 0
    history = await port.orders_since(PAIR, 0.0)
    assert [a.client_order_id for a in history] == [a.client_order_id for a in placed]


async def test_a_liquidation_cancels_the_reduce_only_take_profit_never_a_flip(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=5)  # liquidation near 60,000 · (1 − 1/5 + 0.004) = 48,240
    await port.place(order(Side.BUY, "0.002", "60100"))
    tp = await port.place(order(Side.SELL, "0.002", "62000", exit=True))
    sandbox.set_market(PAIR, path=[[0, 60000], [0.2, 47000]])
    await asyncio.sleep(0.3)
    assert [o.client_order_id for o in await port.open_orders(PAIR)] == []  # gone with it
    sandbox.set_market(PAIR, path=[[0, 47000], [0.2, 63000]])  # back through the take profit
    await asyncio.sleep(0.3)
    after = await port.fetch_order_by_client_id(PAIR, tp.client_order_id)
    assert after is not None
    assert (after.state, after.filled) == (OrderState.CANCELED, D(0))
    (pos,) = sandbox.orders_of(api_key(port))["positions"]
    assert pos["contracts"] == "0"  # no short out of the take profit
    assert pos["liquidated_at_ms"]
    with pytest.raises(OrderRejected) as err:  # nothing left to reduce
        await port.place(order(Side.SELL, "0.002", "62000", exit=True))
    assert "300009" in err.value.detail


async def test_a_reduce_only_order_fills_only_what_the_position_holds(
    make: Make, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make()
    await port.place(order(Side.BUY, "0.003", "60100"))
    first = await port.place(order(Side.SELL, "0.003", "61000", exit=True))  # reduce-only, rests
    second = await port.place(order(Side.SELL, "0.002", "61500", exit=True))  # reduce-only, rests
    sandbox.set_market(PAIR, path=[[0, 60000], [0.3, 61200], [0.6, 62000]])
    await asyncio.sleep(0.7)
    done = await port.fetch_order_by_client_id(PAIR, first.client_order_id)
    late = await port.fetch_order_by_client_id(PAIR, second.client_order_id)
    assert done is not None
    assert late is not None
    assert (done.state, done.filled) == (OrderState.FILLED, D("0.003"))
    assert (late.state, late.filled) == (OrderState.CANCELED, D(0))  # nothing left to close
    (pos,) = sandbox.orders_of(api_key(port))["positions"]
    assert pos["contracts"] == "0"


async def test_the_daemons_live_ports_trade_futures_per_connection_market_and_leverage(
    sandbox: Sandbox,
) -> None:
    from backfuture_daemon.exchanges.live_ports import LivePorts

    sandbox.set_market(PAIR, price=60000)
    key = add_key(sandbox, "kucoin", permissions=("General", "Spot", "Futures"))
    conn = connection_for(sandbox, key)
    mexc = connection_for(sandbox, add_key(sandbox, "mexc"), name="MEXC Main")
    conns = {conn.name: conn, mexc.name: mexc}
    ports = LivePorts(timeout=1.5)
    try:
        futures = ports.port(conn.name, conns.get, market="futures", leverage=4)
        spot = ports.port(conn.name, conns.get)
        spot_rules = MarketRules(D("0.01"), D("0.000001"))
        assert futures.rules(PAIR, spot_rules) is None  # markets not loaded yet
        ack = await futures.place(order(Side.BUY, "0.002", "60100"))
        assert ack.state is OrderState.FILLED
        rules = futures.rules(PAIR, spot_rules)
        assert rules is not None
        assert rules.amount_step == D("0.001")
        assert spot.rules(PAIR, spot_rules) is spot_rules  # spot sizes by the spot pair
        (pos,) = sandbox.orders_of(key.api_key)["positions"]
        assert pos["leverage"] == "4"
        assert "USDT" in await spot.balances()  # the spot account, through the same connection
        with pytest.raises(OrderRejected) as err:  # MEXC: no futures order path
            await ports.port(mexc.name, conns.get, market="futures").balances()
        assert "no futures trading adapter" in err.value.detail
    finally:
        await ports.close()
