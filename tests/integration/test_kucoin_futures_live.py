"""A live bot on KuCoin futures (XBTUSDTM, isolated margin, whole contracts of 0.001 BTC)
through real ccxt against the sandbox, what only KuCoin's tests ask: the funds check asks for
margin (notional / leverage) only, and a lost state directory of a SHORT is rebuilt as a short.
The scenarios every futures venue shares (long, short, adopted order, rebuild) are run on KuCoin
by test_venues_futures_live.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.params import Side
from tests.integration.futures_live_support import (
    LEVERAGE,
    PARAMS,
    FuturesWorld,
    lost_state_directory_is_rebuilt,
)
from tests.integration.live_bot_support import PAIR, until

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[FuturesWorld]:
    w = FuturesWorld(sandbox, tmp_path)  # KuCoin's
    try:
        yield w
    finally:
        await w.close()


async def test_the_funds_check_asks_for_margin_not_notional(world: FuturesWorld) -> None:
    world.sandbox.set_market(PAIR, price=60000.0)
    world.leverage = 1
    held = await world.futures_runner(balance=D(100))  # 1x: 150 USDT notional > 100 free
    for _ in range(3):
        await world.tick(held)
    assert world.audit() == []
    assert held.snapshot().hold_reason.startswith("insufficient_funds")

    world.leverage = LEVERAGE
    r = await world.futures_runner(balance=D(100), state="second")  # 3x: ~40 USDT margin fits
    await until(lambda: bool(r.book.groups) and r.book.groups[0].base_price is not None, r)
    assert r.snapshot().hold_reason == ""
    (pos,) = world.sandbox.orders_of(world.api_key)["positions"]
    assert pos["leverage"] == "3"


async def test_a_lost_state_directory_of_a_short_is_rebuilt_as_a_short(
    world: FuturesWorld,
) -> None:
    world.params = replace(PARAMS, side=Side.SHORT)
    rebuilt, _ = await lost_state_directory_is_rebuilt(world, add_price=61000.0)
    assert [g.side for g in rebuilt.book.groups] == [Side.SHORT]
