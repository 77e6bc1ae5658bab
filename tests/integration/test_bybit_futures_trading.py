"""Live trading on Bybit USDT linear perpetuals behind TradingPort (exchanges/bybit_futures_
trading.BybitFuturesTrading, what venue_ports.futures_port builds for `exchange: bybit`) through
real ccxt against the sandbox's Bybit venue: qty in base rounded down to qtyStep, the account
checks before the first order (unified, isolated margin, one-way mode: refused otherwise,
nothing sent) and set-leverage once per symbol (110043 counts as set), reduce-only exits,
lookups and cancels by orderLinkId, a duplicate orderLinkId adopted, fills with their
orderLinkId, the signed position in base, the unified wallet's USDT, paged lists, and every
failure as OrderRejected / TradingUnavailable with its class.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from typing import Any

import ccxt
import pytest

from backfuture_daemon.exchanges.bybit_futures_trading import BybitFuturesTrading
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
from backfuture_daemon.exchanges.venue_ports import futures_port
from backfuture_daemon.sandbox.audit import account_record
from backfuture_daemon.sandbox.control import parse_command
from backfuture_daemon.strategy.params import MarketRules
from tests.integration.bybit_support import CANARY, FUTURES, BybitVenue, isolate
from tests.integration.venue_support import venue_fixture

pytestmark = pytest.mark.integration
T = TradingErrorClass
PAIR = "BTC/USDT"
CREATE, LEVERAGE = "/v5/order/create", "/v5/position/set-leverage"
Make = Callable[..., tuple[BybitFuturesTrading, str]]
venue = venue_fixture(BybitVenue)
_ids = iter(range(10**6))


def cid() -> str:
    return f"bf{next(_ids):06d}f{int(time.time()) % 10**6:06d}"


def order(
    side: Side, amount: str, price: str | None = None, client_id: str = "", *, exit: bool = False
) -> OrderRequest:
    """An order; `exit`: a take profit / stop (reduce-only, as the runner marks exits)."""
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(PAIR, side, kind, D(amount), client_id or cid(),
                        D(price) if price else None, reduce_only=exit)  # fmt: skip


@pytest.fixture
async def make(venue: BybitVenue) -> AsyncIterator[Make]:
    """`make(leverage=, isolated=, same=api_key, **key)`: the futures port of a new key (1000
    USDT; its account set to isolated margin unless `isolated=False`) and the key's api_key."""
    factory = ClientFactory(timeout=2.0)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    ports: list[BybitFuturesTrading] = []

    async def build(
        *, leverage: int = 3, isolated: bool = True, same: str = "", **key: Any
    ) -> tuple[BybitFuturesTrading, str]:
        key.setdefault("permissions", FUTURES)
        k = venue.keys.find(same) if same else venue.add_key(**key)
        assert k is not None
        if not same:
            k.balances = {"USDT": D(1000)}
        port = futures_port(venue.connection_for(k), ctx, markets, leverage=leverage)
        assert isinstance(port, BybitFuturesTrading)
        ports.append(port)
        if isolated and not same:
            await isolate(port._client)
        return port, k.api_key

    try:
        yield build  # type: ignore[misc]
    finally:
        for port in ports:
            await port.close()
        await markets.close()
        await factory.close()


def set_price(venue: BybitVenue, price: float) -> None:
    engine = venue.venue.engine
    command = parse_command({"symbol": PAIR, "price": price}, engine.catalogue.by_symbol)
    engine.control_market(command, venue.venue.now_ms())


def audit(venue: BybitVenue, api_key: str) -> dict[str, Any]:
    return account_record("bybit", venue.venue.engine.find_account("bybit", api_key))


async def raw_order(port: BybitFuturesTrading, link_id: str) -> dict[str, Any]:
    answer = await port._client.privateGetV5OrderRealtime(
        {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": link_id}
    )
    (row,) = answer["result"]["list"]
    return dict(row)


async def test_a_limit_order_in_base_from_placing_to_cancelling(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    port, key = await make(leverage=3)
    placed = order(Side.BUY, "0.0059", "59000")  # rounded down to the qtyStep: 0.005
    venue.reset_counts()
    ack = await port.place(placed)
    counts = venue.counts()
    assert (counts.get(CREATE), counts.get(LEVERAGE), counts.get("/v5/account/info")) == (1, 1, 1)
    assert (ack.client_order_id, ack.pair, ack.side, ack.state) == (
        placed.client_order_id, PAIR, Side.BUY, OrderState.OPEN
    )  # fmt: skip
    assert (ack.amount, ack.filled, ack.price) == (D("0.005"), D(0), D(59000))
    (sent,) = audit(venue, key)["orders"]
    assert (sent["market"], sent["instrument_id"], sent["amount"]) == (
        "futures",
        "BTCUSDT",
        "0.005",
    )
    row = await raw_order(port, placed.client_order_id)
    assert (row["positionIdx"], row["reduceOnly"], row["qty"]) == (0, False, "0.005")

    found = await port.fetch_order_by_client_id(PAIR, placed.client_order_id)
    assert found is not None
    assert found.order_id == ack.order_id
    assert [o.client_order_id for o in await port.open_orders(PAIR)] == [placed.client_order_id]
    usdt = (await port.balances())["USDT"]
    assert usdt.locked == pytest.approx(D("98.33333333"))  # order IM: 0.005 · 59,000 / 3
    assert usdt.free + usdt.locked == pytest.approx(D(1000))

    venue.reset_counts()
    cancelled = await port.cancel(PAIR, placed.client_order_id)
    assert cancelled.state is OrderState.CANCELED
    assert await port.open_orders(PAIR) == ()
    assert (await port.balances())["USDT"].free == D(1000)
    assert LEVERAGE not in venue.counts()
    with pytest.raises(OrderRejected) as again:  # 110001: cancelled already, nothing open
        await port.cancel(PAIR, "never-placed-1")
    assert again.value.error_class is T.ORDER_REJECTED


async def test_isolated_leverage_on_the_position_and_a_reduce_only_take_profit(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    port, key = await make(leverage=5)
    base = await port.place(order(Side.BUY, "0.002", "60100"))  # marketable: fills at once
    assert (base.state, base.filled) == (OrderState.FILLED, D("0.002"))
    (pos,) = audit(venue, key)["positions"]
    assert (pos["contracts"], pos["leverage"], pos["entry_price"]) == ("0.002", "5", "60000")
    assert D(pos["margin"]) == D(24)  # 0.002 · 60,000 / 5
    assert await port.position(PAIR) == D("0.002")

    tp = await port.place(order(Side.SELL, "0.002", "61000", exit=True))
    assert tp.state is OrderState.OPEN
    row = await raw_order(port, tp.client_order_id)
    assert (row["reduceOnly"], row["positionIdx"]) == (True, 0)
    listed = await port._client.privateGetV5PositionList(
        {"category": "linear", "symbol": "BTCUSDT"}
    )
    (held,) = listed["result"]["list"]
    assert (held["side"], held["size"], held["leverage"]) == ("Buy", "0.002", "5")
    usdt = (await port.balances())["USDT"]
    assert usdt.locked == D(24)  # the reduce-only order holds no margin of its own

    set_price(venue, 61500)
    done = await port.fetch_order_by_client_id(PAIR, tp.client_order_id)
    assert done is not None
    assert (done.state, done.filled) == (OrderState.FILLED, D("0.002"))
    assert await port.position(PAIR) == 0
    fills = await port.fills_since(PAIR, 0.0)
    assert [(f.side, f.amount, f.price, f.client_order_id) for f in fills] == [
        (Side.BUY, D("0.002"), D(60000), base.client_order_id),
        (Side.SELL, D("0.002"), D(61000), tp.client_order_id),
    ]
    assert all(f.pair == PAIR and f.fee_currency == "USDT" for f in fills)
    usdt = (await port.balances())["USDT"]
    assert (usdt.free, usdt.locked) == (D(1002), D(0))  # + 1,000 · 0.002 realised


async def test_leverage_is_set_once_and_not_modified_counts_as_set(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    port, key = await make(leverage=4)
    await port.place(order(Side.BUY, "0.001", "50000"))
    venue.reset_counts()
    await port.place(order(Side.BUY, "0.001", "50000"))
    assert LEVERAGE not in venue.counts()  # once per symbol and port
    same = {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "4", "sellLeverage": "4"}
    with pytest.raises(ccxt.BadRequest, match="110043"):  # what the venue answers now
        await port._client.privatePostV5PositionSetLeverage(same)
    # another port on the same key at the same leverage is answered 110043 and trades on
    again, _ = await make(leverage=4, same=key)
    venue.reset_counts()
    placed = await again.place(order(Side.BUY, "0.001", "50000"))
    assert placed.state is OrderState.OPEN
    assert venue.counts().get(LEVERAGE) == 1
    assert [o["status"] for o in audit(venue, key)["orders"]] == ["open"] * 3
    # a third at another leverage sets it: its position opens at 6
    other, _ = await make(leverage=6, same=key)
    await other.place(order(Side.BUY, "0.001", "60100"))
    (pos,) = audit(venue, key)["positions"]
    assert pos["leverage"] == "6"


async def test_an_account_in_the_wrong_mode_is_refused_before_anything_is_sent(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    cross, _ = await make(isolated=False)  # a new unified account: REGULAR_MARGIN (cross)
    venue.reset_counts()
    with pytest.raises(OrderRejected) as refused:
        await cross.place(order(Side.BUY, "0.001", "59000"))
    assert refused.value.error_class is T.ORDER_REJECTED
    assert "REGULAR_MARGIN" in refused.value.detail
    assert "Isolated Margin" in refused.value.detail
    assert CREATE not in venue.counts()
    assert LEVERAGE not in venue.counts()
    # Bybit has no per-symbol isolated mode on a unified account (classic accounts only)
    with pytest.raises(ccxt.ExchangeError, match="100028"):
        await cross._client.privatePostV5PositionSwitchIsolated(
            {"category": "linear", "symbol": "BTCUSDT", "tradeMode": 1,
             "buyLeverage": "3", "sellLeverage": "3"}
        )  # fmt: skip

    hedged, _ = await make()
    await hedged._client.privatePostV5PositionSwitchMode(
        {"category": "linear", "coin": "USDT", "mode": 3}
    )
    venue.reset_counts()
    with pytest.raises(OrderRejected) as refused:
        await hedged.place(order(Side.BUY, "0.001", "59000"))
    assert "hedge mode" in refused.value.detail
    assert CREATE not in venue.counts()
    # one-way again: it trades (the refusal is not remembered)
    await hedged._client.privatePostV5PositionSwitchMode(
        {"category": "linear", "coin": "USDT", "mode": 0}
    )
    assert (await hedged.place(order(Side.BUY, "0.001", "59000"))).state is OrderState.OPEN


async def test_a_reduce_only_order_that_would_open_or_grow_the_position_is_refused(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    port, key = await make()
    with pytest.raises(OrderRejected) as refused:
        await port.place(order(Side.SELL, "0.001", "70000", exit=True))
    assert refused.value.error_class is T.ORDER_REJECTED
    assert "110017" in refused.value.detail
    await port.place(order(Side.BUY, "0.001", "60100"))
    with pytest.raises(OrderRejected) as refused:  # a reduce-only buy on a long
        await port.place(order(Side.BUY, "0.001", "50000", exit=True))
    assert "110017" in refused.value.detail
    # a plain sell on a long is not reduce-only: it is sent as a normal order
    plain = await port.place(order(Side.SELL, "0.001", "70000"))
    assert (await raw_order(port, plain.client_order_id))["reduceOnly"] is False
    assert len(audit(venue, key)["orders"]) == 2


async def test_a_short_opens_with_sells_and_closes_reduce_only_with_buys(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    port, key = await make(leverage=2)
    await port.place(order(Side.SELL, "0.003", None))  # market sell
    assert await port.position(PAIR) == D("-0.003")
    tp = await port.place(order(Side.BUY, "0.003", "59000", exit=True))
    assert (await raw_order(port, tp.client_order_id))["reduceOnly"] is True
    (pos,) = audit(venue, key)["positions"]
    assert (pos["contracts"], pos["leverage"]) == ("-0.003", "2")
    set_price(venue, 58500)
    assert await port.position(PAIR) == 0
    assert (await port.balances())["USDT"].free == D(1003)  # 1,000 · 0.003


async def test_the_position_is_signed_base_none_long_flipped_flat(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    port, _ = await make()
    assert await port.position(PAIR) == 0
    await port.place(order(Side.BUY, "0.004", None))
    assert await port.position(PAIR) == D("0.004")
    await port.place(order(Side.SELL, "0.006", None))
    assert await port.position(PAIR) == D("-0.002")
    await port.place(order(Side.BUY, "0.002", None))
    assert await port.position(PAIR) == 0


async def test_amounts_under_the_minimum_never_leave_and_rules_are_in_base(
    make: Make, venue: BybitVenue
) -> None:
    port, _ = await make()
    spot = MarketRules(D("0.01"), D("0.000001"), D("0.000001"), D(1))
    assert port.rules(PAIR, spot) is None  # markets not loaded yet
    await port.balances()
    rules = port.rules(PAIR, spot)
    assert rules is not None
    assert (rules.price_tick, rules.amount_step, rules.min_amount, rules.min_notional) == (
        D("0.01"), D("0.001"), D("0.001"), D(5)
    )  # fmt: skip
    venue.reset_counts()
    with pytest.raises(OrderRejected) as refused:
        await port.place(order(Side.BUY, "0.0009", "50000"))
    assert refused.value.error_class is T.ORDER_REJECTED
    assert "0.001" in refused.value.detail
    assert CREATE not in venue.counts()


async def test_each_failure_has_its_class(make: Make, venue: BybitVenue) -> None:
    set_price(venue, 60000)
    port, _ = await make(leverage=3)
    cases = {
        T.INSUFFICIENT_FUNDS: (order(Side.BUY, "0.1", "59000"), "110007"),  # 1,966 IM of 1,000
        T.ORDER_REJECTED: (order(Side.BUY, "0.001", "4000"), "110094"),  # 4 USDT notional
    }
    for error_class, (request, code) in cases.items():
        with pytest.raises(OrderRejected) as refused:
            await port.place(request)
        assert refused.value.error_class is error_class
        assert code in refused.value.detail
    with pytest.raises(OrderRejected) as refused:  # over maxOrderQty (1190)
        await port.place(order(Side.BUY, "2000", "1"))
    assert (refused.value.error_class, "10001" in refused.value.detail) == (T.ORDER_REJECTED, True)
    read_only, _ = await make(permissions=("ContractTrade.Position",))
    with pytest.raises(OrderRejected) as refused:
        await read_only.place(order(Side.BUY, "0.001", "59000"))
    assert refused.value.error_class is T.AUTH_REJECTED
    assert "10005" in refused.value.detail

    venue.faults.update({"rate_limit": True, "retry_after_s": 3})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.place(order(Side.BUY, "0.001", "59000"))
    assert unavailable.value.error_class is T.RATE_LIMITED
    assert unavailable.value.retry_after is not None
    assert 2.0 < unavailable.value.retry_after <= 3.0
    venue.faults.update({"rate_limit": False, "maintenance": True})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.position(PAIR)
    assert unavailable.value.error_class is T.EXCHANGE_UNAVAILABLE
    assert "10016" in unavailable.value.detail
    venue.faults.update({"maintenance": False, "http_5xx": 502})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.balances()
    assert unavailable.value.error_class is T.EXCHANGE_UNAVAILABLE
    venue.faults.update({"http_5xx": 0})
    assert CANARY not in str(refused.value) + str(unavailable.value)


async def test_a_lost_answer_and_a_duplicate_order_link_id_make_one_order(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    port, key = await make()
    request = order(Side.BUY, "0.001", "59000")
    await port.balances()  # the account checks pass before the fault
    venue.faults.update({"accept_then_timeout": True, "hang_seconds": 10})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.place(request)  # accepted; the answer never comes
    assert unavailable.value.error_class is T.EXCHANGE_UNAVAILABLE
    venue.faults.update({"accept_then_timeout": False})
    found = await port.fetch_order_by_client_id(PAIR, request.client_order_id)
    assert found is not None
    with pytest.raises(ccxt.InvalidOrder, match="110072"):  # what Bybit says to a second one
        await port._client.privatePostV5OrderCreate(
            {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
             "qty": "0.001", "price": "59000", "orderLinkId": request.client_order_id}
        )  # fmt: skip
    again = await port.place(request)  # the caller re-sends the same id: adopted
    assert again.order_id == found.order_id
    ids = Counter(o["client_order_id"] for o in audit(venue, key)["orders"])
    assert ids == {request.client_order_id: 1}
    assert await port.fetch_order_by_client_id(PAIR, "never-placed-2") is None

    venue.faults.update({"drop_cancel_answer": True})
    with pytest.raises(TradingUnavailable):
        await port.cancel(PAIR, request.client_order_id)  # done; the answer is lost
    venue.faults.update({"drop_cancel_answer": False})
    after = await port.cancel(PAIR, request.client_order_id)  # 110001: its final state
    assert after.state is OrderState.CANCELED


async def test_orders_and_fills_are_read_across_pages(make: Make, venue: BybitVenue) -> None:
    set_price(venue, 60000)
    port, _ = await make(leverage=10)
    since = time.time() - 1
    resting = [order(Side.BUY, "0.001", str(50000 + i)) for i in range(53)]
    for request in resting:
        await port.place(request)
    for i in range(51):  # 102 fills: over one page of 100 executions
        await port.place(order(Side.BUY if i % 2 == 0 else Side.SELL, "0.001", None))
        await port.place(order(Side.SELL if i % 2 == 0 else Side.BUY, "0.001", None))
    venue.reset_counts()
    assert len(await port.open_orders(PAIR)) == 53
    assert venue.counts()["/v5/order/realtime"] == 2  # 50 + 3
    orders = await port.orders_since(PAIR, since)
    assert len(orders) == 53 + 102
    assert len({o.client_order_id for o in orders}) == 155
    fills = await port.fills_since(PAIR, since)
    assert len(fills) == 102
    assert venue.counts()["/v5/execution/list"] == 2
    assert all(f.client_order_id for f in fills)
    assert [f.timestamp for f in fills] == sorted(f.timestamp for f in fills)


async def test_a_placement_answered_5xx_placed_nothing_and_the_audit_shows_linear_orders(
    make: Make, venue: BybitVenue
) -> None:
    set_price(venue, 60000)
    port, key = await make()
    request = order(Side.BUY, "0.001", "59000")
    await port.balances()
    venue.faults.update({"placement_5xx": 502})
    with pytest.raises(TradingUnavailable) as unavailable:
        await port.place(request)
    assert unavailable.value.error_class is T.EXCHANGE_UNAVAILABLE
    venue.faults.update({"placement_5xx": 0})
    assert audit(venue, key)["orders"] == []  # refused at the gateway: nothing placed
    assert await port.fetch_order_by_client_id(PAIR, request.client_order_id) is None
    placed = await port.place(request)  # the same id, sent again, is placed once
    (sent,) = audit(venue, key)["orders"]
    assert (sent["client_order_id"], sent["order_id"]) == (request.client_order_id, placed.order_id)
    assert (sent["market"], sent["instrument_id"], sent["amount"]) == (
        "futures",
        "BTCUSDT",
        "0.001",
    )
