"""Live bots on OKX USDT swaps (BTC-USDT-SWAP, isolated margin, net mode) through real ccxt
against the sandbox, what only OKX's tests ask: an empty state directory rebuilt from OKX's
order and fill history trades on (the next group takes the next id); a Spot-mode (acctLv 1)
account and a long/short position mode never get an order (each refusal says what to switch).
Every client id is OKX's clOrdId (letters and digits, at most 32). The scenarios every futures
venue shares are run on OKX by test_venues_futures_live.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.exchanges.okx_futures_trading import OkxFuturesTrading
from backfuture_daemon.logs import FIELDS_ATTR
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.futures_live_support import (
    OKX,
    PARAMS,
    FuturesWorld,
    lost_state_directory_is_rebuilt,
    resting,
    shape,
)
from tests.integration.live_bot_support import PAIR, until

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[FuturesWorld]:
    w = FuturesWorld(sandbox, tmp_path, OKX)
    try:
        yield w
    finally:
        await w.close()


async def test_an_empty_state_directory_is_rebuilt_from_okx(world: FuturesWorld) -> None:
    # a budget the group stays clear of Recovery Mode in (a rebuild reads the orders and fills
    # OKX keeps, not whether the lost book had entered recovery)
    world.params = replace(PARAMS, margin_limit=D(3000))
    rebuilt, before = await lost_state_directory_is_rebuilt(world)

    # it trades on: the take profit closes the group, the next one takes the next id
    world.sandbox.set_market(PAIR, path=[[0, 59000], [0.5, 61000]])
    await until(lambda: rebuilt.book.closed_groups == 1, rebuilt)
    await until(lambda: bool(rebuilt.book.groups), rebuilt)
    assert rebuilt.book.groups[0].id == before["groups"][0][0] + 1
    world.one_order_per_id()
    world.ledger(rebuilt)


def rejections(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The errors of the bots' "order rejected" warnings."""
    return [
        str(getattr(m, FIELDS_ATTR, {}).get("error", ""))
        for m in caplog.records
        if m.getMessage() == "order rejected"
    ]


async def test_a_spot_mode_account_never_trades_and_the_bot_says_why(
    world: FuturesWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="backfuture.bots")
    world.sandbox.set_market(PAIR, price=60000.0)
    world.key_options = {"acct_lv": 1}
    r = await world.futures_runner()
    for _ in range(10):
        await world.tick(r)
    assert world.audit() == []
    errors = rejections(caplog)
    assert errors
    assert all("Spot mode (acctLv 1)" in e for e in errors), errors
    assert not r.book.groups or r.book.groups[0].base_price is None


async def test_long_short_position_mode_never_trades_until_switched_to_net(
    world: FuturesWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="backfuture.bots")
    world.sandbox.set_market(PAIR, price=60000.0)
    r = await world.futures_runner()
    r.reject_backoff = 0.2  # a refused pair is tried again soon (30 s in the daemon)
    port = r.port
    assert isinstance(port, OkxFuturesTrading)
    await port._client.privatePostAccountSetPositionMode({"posMode": "long_short_mode"})
    for _ in range(10):
        await world.tick(r)
    assert world.audit() == []
    errors = rejections(caplog)
    assert len(errors) >= 2  # tried again after the backoff, refused again before sending
    assert all("long_short_mode" in e and "net_mode" in e for e in errors), errors
    await port._client.privatePostAccountSetPositionMode({"posMode": "net_mode"})
    await until(lambda: resting(r, 3), r)
    world.one_order_per_id()
    world.ledger(r)


async def test_a_group_in_recovery_mode_is_rebuilt_in_recovery_mode(world: FuturesWorld) -> None:
    # with the default budget the group enters Recovery Mode (margin used) before the state
    # directory is lost: the rebuild reads it back from the resting take profit's price, so the
    # rebuilt bot re-sends nothing (asserted inside) and keeps the recovery take profit
    rebuilt, before = await lost_state_directory_is_rebuilt(world)
    (group,) = rebuilt.book.groups
    assert group.in_recovery
    assert group.recovery_since is not None
    assert shape(rebuilt.book) == before
