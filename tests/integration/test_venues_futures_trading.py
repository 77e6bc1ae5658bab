"""The futures trading ports of KuCoin, Binance USDⓈ-M and OKX swaps (futures_port_support.py)
against the sandbox with real ccxt, the same cases on each: a known client id placed again
returns the existing order; an accepted order whose answer never came is found by its client id
and never placed twice; a lost cancel answer is settled by lookup; an unknown client id is none
and cancelling it is rejected; insufficient margin is insufficient_funds at the leverage; a key
without futures is auth_rejected, its failure carrying no secret; rate limited and unavailable
are temporary. Each venue's own cases are in its test_*_futures_trading.py /
test_okx_futures_failures.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from backfuture_daemon.exchanges.port import (
    OrderRejected,
    OrderState,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.futures_port_support import (
    PAIR,
    VENUES,
    Make,
    PortVenue,
    api_key,
    port_maker,
)

pytestmark = pytest.mark.integration
T = TradingErrorClass
KEYED = [v for v in VENUES if v.no_futures is not None]  # OKX's: test_okx_futures_failures.py


@pytest.fixture
async def make(sandbox: Sandbox, venue: PortVenue) -> AsyncIterator[Make]:
    async with port_maker(sandbox, venue) as build:
        yield build


@pytest.mark.parametrize("venue", VENUES, ids=str)
async def test_a_known_client_id_placed_again_returns_the_existing_order(
    make: Make, sandbox: Sandbox, venue: PortVenue
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make()
    first = venue.order(Side.BUY, venue.lot, "55000")
    ack = await port.place(first)
    again = await port.place(first)  # the venue says "duplicated": the order exists
    assert (again.order_id, again.client_order_id) == (ack.order_id, first.client_order_id)
    assert len(sandbox.orders_of(api_key(port))["orders"]) == 1


@pytest.mark.parametrize("venue", VENUES, ids=str)
async def test_accept_then_timeout_is_found_by_its_client_id_and_never_placed_twice(
    make: Make, sandbox: Sandbox, venue: PortVenue
) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make()
    if venue.first_order_sets_up:
        await port.place(venue.order(Side.BUY, venue.lot, "50000"))  # margin and leverage set
    else:
        await port.balances()
    before = len(sandbox.orders_of(api_key(port))["orders"])
    faults = sandbox.faults(venue.faults)
    faults.update({"accept_then_timeout": True, "hang_seconds": 5})
    lost = venue.order(Side.BUY, venue.lot, "55000")
    try:
        with pytest.raises(TradingUnavailable) as err:
            await port.place(lost)
        assert err.value.error_class is T.EXCHANGE_UNAVAILABLE
    finally:
        faults.update({"accept_then_timeout": False})
    found = await port.fetch_order_by_client_id(PAIR, lost.client_order_id)
    assert found is not None
    assert found.state is OrderState.OPEN
    assert (await port.place(lost)).order_id == found.order_id  # never a second order
    assert len(sandbox.orders_of(api_key(port))["orders"]) == before + 1


@pytest.mark.parametrize("venue", VENUES, ids=str)
async def test_a_lost_cancel_answer_then_the_lookup_shows_it_cancelled(
    make: Make, sandbox: Sandbox, venue: PortVenue
) -> None:
    port = make()
    placed = await port.place(venue.order(Side.BUY, venue.lot, "40000"))
    faults = sandbox.faults(venue.cancel_faults)
    faults.update({"drop_cancel_answer": True, "hang_seconds": 5})
    try:
        with pytest.raises(TradingUnavailable):
            await port.cancel(PAIR, placed.client_order_id)
    finally:
        faults.update({"drop_cancel_answer": False})
    after = await port.fetch_order_by_client_id(PAIR, placed.client_order_id)
    assert after is not None
    assert after.state is OrderState.CANCELED
    if venue.cancel_again_answers:  # OKX 51400: its final state answers
        assert (await port.cancel(PAIR, placed.client_order_id)).state is OrderState.CANCELED


@pytest.mark.parametrize("venue", VENUES, ids=str)
async def test_unknown_client_id_is_none_and_cancelling_it_is_rejected(
    make: Make, venue: PortVenue
) -> None:
    port = make()
    assert await port.fetch_order_by_client_id(PAIR, venue.cid()) is None
    with pytest.raises(OrderRejected) as err:
        await port.cancel(PAIR, venue.cid())
    assert err.value.error_class is T.ORDER_REJECTED
    if venue.id_limit:
        too_long = "x" * (venue.id_limit + 1)
        with pytest.raises(OrderRejected):  # never sent
            await port.place(venue.order(Side.BUY, venue.lot, "50000", too_long))


@pytest.mark.parametrize("venue", VENUES, ids=str)
async def test_insufficient_margin(make: Make, sandbox: Sandbox, venue: PortVenue) -> None:
    sandbox.set_market(PAIR, price=60000)
    port = make(leverage=2)
    with pytest.raises(OrderRejected) as err:  # 0.05 BTC · 59,000 / 2 = 1,475 > 1,000
        await port.place(venue.order(Side.BUY, "0.05", "59000"))
    assert err.value.error_class is T.INSUFFICIENT_FUNDS
    assert venue.margin_code in err.value.detail
    ack = await port.place(venue.order(Side.BUY, "0.03", "59000"))  # 885 of margin fits
    assert ack.state is OrderState.OPEN


@pytest.mark.parametrize("venue", KEYED, ids=str)
async def test_a_key_without_futures_is_auth_rejected(make: Make, venue: PortVenue) -> None:
    port = make(permissions=venue.no_futures)
    with pytest.raises(OrderRejected) as err:
        await port.place(venue.order(Side.BUY, venue.lot, "50000"))
    assert err.value.error_class is T.AUTH_REJECTED


@pytest.mark.parametrize("venue", KEYED, ids=str)
async def test_failures_never_carry_the_key_or_secret(
    make: Make, sandbox: Sandbox, venue: PortVenue
) -> None:
    port = make(permissions=venue.read_only)
    key = sandbox.keys.find(api_key(port))
    assert key is not None
    with pytest.raises(OrderRejected) as err:
        await port.place(venue.order(Side.BUY, venue.lot, "50000"))
    text = f"{err.value} {err.value.detail}"
    for secret in (key.api_key, key.api_secret, key.passphrase):
        assert not secret or secret not in text


@pytest.mark.parametrize("venue", KEYED, ids=str)
async def test_rate_limited_and_unavailable_are_temporary(
    make: Make, sandbox: Sandbox, venue: PortVenue
) -> None:
    port = make()
    await port.balances()
    faults = sandbox.faults(venue.faults)
    faults.update({"rate_limit": True, "retry_after_s": 7})
    try:
        with pytest.raises(TradingUnavailable) as limited:
            await port.place(venue.order(Side.BUY, venue.lot, "50000"))
        assert limited.value.error_class is T.RATE_LIMITED
        assert limited.value.retry_after == 7
        faults.update({"rate_limit": False, "http_5xx": 502})
        with pytest.raises(TradingUnavailable) as down:
            await port.open_orders(PAIR)
        assert down.value.error_class is T.EXCHANGE_UNAVAILABLE
    finally:
        faults.update({"rate_limit": False, "http_5xx": 0})
    await asyncio.sleep(venue.rate_limit_pause)  # Binance bans an IP ignoring Retry-After (418)
    assert await port.open_orders(PAIR) == ()
