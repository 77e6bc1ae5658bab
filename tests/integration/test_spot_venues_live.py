"""A live spot bot on OKX and on Bybit through real ccxt against the in-process sandbox, the
same scenarios on each (spot_live_support.py): it opens, adds, enters Recovery Mode and closes
at take profit with the venue's client ids; an order accepted whose answer never came is
adopted, never placed twice; a lost cancel answer is settled by lookup; a runner on an empty
state directory rebuilds the same groups from the venue's order and fill history and trades
on. The venues' own cases (rate limits, a placement 5xx) are in test_okx_live.py and
test_bybit_live.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.spot_live_support import (
    VENUES,
    SpotVenue,
    SpotWorld,
    accepted_order_whose_answer_never_came_is_adopted,
    empty_state_dir_rebuilds_the_same_book,
    lost_cancel_answer_is_resolved_by_lookup,
    opens_adds_recovers_and_closes_at_take_profit,
)

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("venue", VENUES, ids=str)]


@pytest.fixture
async def live(sandbox: Sandbox, tmp_path: Path, venue: SpotVenue) -> AsyncIterator[SpotWorld]:
    world = SpotWorld(sandbox, tmp_path, venue)
    try:
        yield world
    finally:
        await world.close()


async def test_a_live_bot_opens_adds_recovers_and_closes_at_take_profit(live: SpotWorld) -> None:
    await opens_adds_recovers_and_closes_at_take_profit(live)


async def test_an_accepted_order_whose_answer_never_came_is_adopted(live: SpotWorld) -> None:
    await accepted_order_whose_answer_never_came_is_adopted(live)


async def test_a_lost_cancel_answer_is_resolved_by_lookup(live: SpotWorld) -> None:
    await lost_cancel_answer_is_resolved_by_lookup(live)


async def test_an_empty_state_dir_rebuilds_the_same_book(live: SpotWorld) -> None:
    await empty_state_dir_rebuilds_the_same_book(live)
