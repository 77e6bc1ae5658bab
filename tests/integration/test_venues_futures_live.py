"""Live futures bots on every futures venue (KuCoin, Binance USDⓈ-M, OKX swap, Bybit linear)
through real ccxt against the sandbox, the same scenarios on each (futures_live_support.py):
a LONG opens, adds and closes at take profit and a SHORT sells, adds above and buys back, their
exits reduce-only and entries not; an accepted order whose answer never came is adopted without
a duplicate; a lost state directory is rebuilt from the exchange; a long liquidated by the
sandbox is closed in the book outside the bot and never traded again. The sandbox's audit is
the judge: one order per client id, every fill in the bot's ledger, positions at the leverage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.futures_live_support import (
    BINANCE,
    BYBIT,
    KUCOIN,
    VENUES,
    FuturesVenue,
    FuturesWorld,
    accepted_order_whose_answer_never_came_is_adopted,
    liquidated_long_is_closed_outside_and_never_traded_again,
    long_opens_adds_and_closes_at_take_profit,
    lost_state_directory_is_rebuilt,
    short_sells_adds_above_and_buys_back,
)

pytestmark = pytest.mark.integration
LIQUIDATING = tuple(v for v in VENUES if v.liquidates)


@pytest.fixture
async def world(
    sandbox: Sandbox, tmp_path: Path, venue: FuturesVenue
) -> AsyncIterator[FuturesWorld]:
    w = FuturesWorld(sandbox, tmp_path, venue)
    try:
        yield w
    finally:
        await w.close()


@pytest.mark.parametrize("venue", VENUES, ids=str)
async def test_a_live_long_opens_adds_and_closes_at_take_profit(world: FuturesWorld) -> None:
    await long_opens_adds_and_closes_at_take_profit(world)


@pytest.mark.parametrize("venue", VENUES, ids=str)
async def test_a_live_short_sells_to_open_adds_above_and_buys_back_reduce_only(
    world: FuturesWorld,
) -> None:
    await short_sells_adds_above_and_buys_back(world)


@pytest.mark.parametrize("venue", VENUES, ids=str)
async def test_an_accepted_order_whose_answer_never_came_is_adopted(world: FuturesWorld) -> None:
    await accepted_order_whose_answer_never_came_is_adopted(world)


# OKX's rebuild (a larger budget, then trading on) is in test_okx_futures_live.py
@pytest.mark.parametrize("venue", [KUCOIN, BINANCE, BYBIT], ids=str)
async def test_a_lost_state_directory_is_rebuilt_from_the_exchange(world: FuturesWorld) -> None:
    await lost_state_directory_is_rebuilt(world)


# KuCoin's positions closed outside are in test_kucoin_futures_outside.py
@pytest.mark.parametrize("venue", LIQUIDATING, ids=str)
async def test_a_liquidated_long_is_closed_outside_the_bot_and_never_traded_again(
    world: FuturesWorld,
) -> None:
    await liquidated_long_is_closed_outside_and_never_traded_again(world)
