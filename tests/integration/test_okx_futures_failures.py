"""What OKX refuses, and how OkxFuturesTrading says it (exchanges/okx_futures_trading.py,
real ccxt against the sandbox's OKX swaps): a Spot-mode account (acctLv 1) and a long/short
position mode refused before anything is sent; reduce-only without a position (51169); amounts
under one lot never sent; a duplicate clOrdId adopted; an accepted order whose answer never came,
a placement 5xx and a lost cancel answer resolved by clOrdId; an unknown id; every class
(51008 insufficient margin, 51121/51000 order_rejected, 50120 auth, 50011 rate limited, 5xx and
50001 unavailable) without a secret; the connection test naming a long/short position mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import ccxt
import pytest

from backfuture_daemon.exchanges.classify import trading_error
from backfuture_daemon.exchanges.okx_trading import per_order_error
from backfuture_daemon.exchanges.port import (
    OrderRejected,
    OrderState,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus
from backfuture_daemon.sandbox.okx.swap_account import settings
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import strategy
from tests.integration.okx_support import (
    CANARY,
    PAIR,
    PASS_CANARY,
    SWAP,
    OkxVenue,
    SwapMake,
    api_key_of,
    swap_order,
    swap_ports,
)
from tests.integration.venue_support import LOOPBACK, cid, step

pytestmark = pytest.mark.integration
T = TradingErrorClass
Make = SwapMake
order = swap_order
api_key = api_key_of


@pytest.fixture
async def make(sandbox: Sandbox) -> AsyncIterator[Make]:
    async with swap_ports(sandbox) as build:
        yield build


async def test_a_spot_mode_account_is_refused_before_anything_is_sent(
    make: Make, sandbox: Sandbox
) -> None:
    port = make(acct_lv=1)
    sandbox.reset_request_counts()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.BUY, "0.01", "50000"))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "Spot mode (acctLv 1)" in err.value.detail
    assert "switch the account mode" in err.value.detail
    counts = sandbox.request_counts("okx")
    assert not {"/api/v5/trade/batch-orders", "/api/v5/trade/order"} & set(counts)
    assert "/api/v5/account/set-leverage" not in counts
    assert sandbox.orders_of(api_key(port))["orders"] == []
    # and OKX itself refuses a swap order in Spot mode (51010: order_rejected, not a key problem)
    with pytest.raises(ccxt.ExchangeError) as raw:
        await port._client.privatePostTradeOrder(
            {"instId": SWAP, "tdMode": "isolated", "side": "buy", "ordType": "limit",
             "px": "50000", "sz": "1", "clOrdId": cid()}
        )  # fmt: skip
    classified = trading_error(per_order_error(raw.value), "okx")
    assert (classified.error_class, "51010" in classified.detail) == (T.ORDER_REJECTED, True)


async def test_long_short_position_mode_is_refused_with_what_to_switch(
    make: Make, sandbox: Sandbox
) -> None:
    port = make()
    await port.balances()
    await port._client.privatePostAccountSetPositionMode({"posMode": "long_short_mode"})
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.BUY, "0.01", "50000"))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "long_short_mode" in err.value.detail
    assert "net_mode" in err.value.detail
    assert sandbox.orders_of(api_key(port))["orders"] == []
    await port._client.privatePostAccountSetPositionMode({"posMode": "net_mode"})
    ack = await port.place(order(Side.BUY, "0.01", "50000"))  # checked again: now it trades
    assert ack.state is OrderState.OPEN
    # OKX refuses a position mode change while a swap order rests (59000)
    with pytest.raises(ccxt.ExchangeError) as busy:
        await port._client.privatePostAccountSetPositionMode({"posMode": "long_short_mode"})
    assert "59000" in str(busy.value)


async def test_a_reduce_only_order_without_a_position_is_refused(make: Make) -> None:
    port = make()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.SELL, "0.01", "70000", exit=True))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "51169" in err.value.detail


async def test_amounts_under_one_lot_never_leave(make: Make, sandbox: Sandbox) -> None:
    port = make()
    await port.balances()
    sandbox.reset_request_counts()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.BUY, "0.00009", "50000"))
    assert err.value.error_class is T.ORDER_REJECTED
    assert "less than one contract" in err.value.detail
    assert "0.0001" in err.value.detail
    assert not {"/api/v5/trade/batch-orders", "/api/v5/trade/order"} & set(
        sandbox.request_counts("okx")
    )


async def test_a_client_id_with_a_dash_is_refused(make: Make) -> None:
    port = make()
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.BUY, "0.01", "55000", client_id="has-a-dash"))
    assert "clOrdId" in err.value.detail


async def test_a_placement_5xx_places_nothing_and_the_lookup_says_so(
    make: Make, sandbox: Sandbox
) -> None:
    port = make()
    await port.place(order(Side.BUY, "0.01", "50000"))  # leverage and account checked
    faults = sandbox.faults("okx")
    faults.update({"placement_5xx": 503})
    refused = order(Side.BUY, "0.01", "51000")
    try:
        with pytest.raises(TradingUnavailable) as err:
            await port.place(refused)
        assert err.value.error_class is T.EXCHANGE_UNAVAILABLE
    finally:
        faults.update({"placement_5xx": 0})
    assert await port.fetch_order_by_client_id(PAIR, refused.client_order_id) is None
    assert (await port.place(refused)).state is OrderState.OPEN  # placed once, now
    ids = [o["client_order_id"] for o in sandbox.orders_of(api_key(port))["orders"]]
    assert ids.count(refused.client_order_id) == 1


async def test_order_rule_codes_are_order_rejected(make: Make) -> None:
    port = make()
    await port.place(order(Side.BUY, "0.01", "50000"))
    for body, code in (
        ({"sz": "1.015"}, "51121"),  # not a multiple of the lot
        ({"tdMode": "cash"}, "51000"),  # a swap trades on margin
        ({"posSide": "long"}, "51000"),  # net mode has no long/short side
    ):
        request = {"instId": SWAP, "tdMode": "isolated", "side": "buy", "ordType": "limit",
                   "px": "50000", "sz": "1", "clOrdId": cid(), **body}  # fmt: skip
        with pytest.raises(ccxt.ExchangeError) as raw:
            await port._client.privatePostTradeOrder(request)
        classified = trading_error(per_order_error(raw.value), "okx")
        assert classified.error_class is T.ORDER_REJECTED, (body, classified)
        assert code in classified.detail


async def test_a_read_only_key_is_auth_rejected_without_its_secrets(
    make: Make, sandbox: Sandbox
) -> None:
    port = make(permissions=("read_only",))
    key = sandbox.keys.find(api_key(port))
    assert key is not None
    with pytest.raises(OrderRejected) as err:
        await port.place(order(Side.BUY, "0.01", "50000"))
    assert err.value.error_class is T.AUTH_REJECTED
    assert "50120" in err.value.detail
    text = f"{err.value} {err.value.detail}"
    for secret in (key.api_key, key.api_secret, key.passphrase or "-", CANARY, PASS_CANARY):
        assert secret not in text


async def test_rate_limited_and_unavailable_are_temporary(make: Make, sandbox: Sandbox) -> None:
    port = make()
    await port.balances()
    faults = sandbox.faults("okx")
    try:
        faults.update({"rate_limit": True})
        with pytest.raises(TradingUnavailable) as limited:
            await port.place(order(Side.BUY, "0.01", "50000"))
        assert limited.value.error_class is T.RATE_LIMITED
        assert limited.value.retry_after == 2.0  # OKX names no wait: one 2 s window
        assert "50011" in limited.value.detail
        faults.update({"rate_limit": False, "http_5xx": 502})
        with pytest.raises(TradingUnavailable) as down:
            await port.open_orders(PAIR)
        assert down.value.error_class is T.EXCHANGE_UNAVAILABLE
        faults.update({"http_5xx": 0, "maintenance": True})
        with pytest.raises(TradingUnavailable) as maintenance:
            await port.position(PAIR)
        assert maintenance.value.error_class is T.EXCHANGE_UNAVAILABLE
        assert "50001" in maintenance.value.detail
    finally:
        faults.update({"rate_limit": False, "http_5xx": 0, "maintenance": False})
    assert await port.open_orders(PAIR) == ()


async def test_the_connection_test_tells_a_long_short_account_to_switch_before_going_live(
    tester: ConnectionTester,
) -> None:
    async with OkxVenue() as venue:
        for mode, told in (("net_mode", False), ("long_short_mode", True)):
            key = venue.add_key()
            settings(venue.venue).pos_modes[key.api_key] = mode
            connection = venue.connection_for(key)
            report = await tester.test(
                connection, [strategy(connection, (PAIR,), "futures")], LOOPBACK
            )
            assert report.status is ConnectionStatus.ONLINE, report.to_dict()
            reason = step(report, "futures").reason
            assert "trades swaps" in reason
            assert ("position mode long_short_mode" in reason) is told, reason
            assert ("switch it on OKX before going live" in reason) is told, reason
