"""A live bot whose state directory is lost rebuilds its book from the exchange (the exchange is
the truth): a runner on an EMPTY SQLite, same config and key, finds the same groups, committed
quote and open orders from the orders and fills carrying its client-id prefix, then trades on
without reusing a single client order id. Real ccxt against the sandbox, MEXC and KuCoin HF.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from backfuture_daemon.bots.live_rebuild import order_key
from backfuture_daemon.bots.runner import BotRunner
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.orders import OrderKey, Purpose
from tests.integration.live_bot_support import PAIR, LiveWorld, ledger_matches_exchange, live, until

__all__ = ["live"]
pytestmark = pytest.mark.integration


def shape(book: GroupBook) -> dict[str, Any]:
    return {
        "committed_quote": book.committed_quote,
        "realized_pnl": book.realized_pnl,
        "closed_groups": book.closed_groups,
        "groups": [
            (g.id, g.pair, g.base_price, g.amount, g.cost, g.filled_adds,
             sorted((o.key.tag(), o.side.value, o.price, o.amount) for o in g.open_orders()))
            for g in book.groups
        ],
    }  # fmt: skip


@pytest.mark.parametrize(("exchange", "hf"), [("mexc", False), ("kucoin", True)])
async def test_an_empty_state_dir_rebuilds_the_same_book_from_the_exchange(
    live: LiveWorld, exchange: str, hf: bool
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    first = await live.runner(exchange, hf=hf)
    await until(lambda: bool(first.book.groups) and len(first.book.groups[0].open_orders()) == 3,
                first)  # fmt: skip
    live.sandbox.set_market(PAIR, path=[[0, 100], [0.3, 98]])  # add 1 fills
    await until(lambda: first.book.groups[0].filled_adds == (1,), first)
    await until(lambda: len(first.book.groups[0].open_orders(Purpose.TAKE_PROFIT)) == 1, first)
    live.sandbox.set_market(PAIR, price=98.0)
    for _ in range(3):
        await live.tick(first)
    before = shape(first.book)
    assert before["groups"]
    # the first rebuild saw nothing: group ids start at the minute, never at a reusable 1
    assert before["groups"][0][0] >= int(time.time() // 60) - 5
    assert before["committed_quote"] > 0

    rebuilt: BotRunner = await live.runner(fresh_db=True)  # the state directory is gone
    assert rebuilt.needs_rebuild
    assert rebuilt.book == GroupBook()
    await live.tick(rebuilt)
    assert not rebuilt.needs_rebuild
    assert shape(rebuilt.book) == before
    assert rebuilt.book.next_group_id == first.book.next_group_id
    ledger_matches_exchange(live, rebuilt, live.audit())

    # it trades on: the take profit closes the group, the next group takes a new id
    live.sandbox.set_market(PAIR, path=[[0, 98], [0.5, 101]])
    await until(lambda: rebuilt.book.closed_groups == 1, rebuilt)
    await until(lambda: bool(rebuilt.book.groups), rebuilt)
    assert rebuilt.book.groups[0].id == before["groups"][0][0] + 1
    ids = Counter(o["client_order_id"] for o in live.audit())
    assert max(ids.values()) == 1
    ledger_matches_exchange(live, rebuilt, live.audit())


def test_order_keys_parse_only_our_prefix() -> None:
    key = OrderKey(12, Purpose.ADD, 3, 7)
    assert order_key("bfabcdef0123-" + key.tag(), "bfabcdef0123-") == key
    assert order_key("bfzzzzzz0000-" + key.tag(), "bfabcdef0123-") is None
    assert order_key("bfabcdef0123-junk", "bfabcdef0123-") is None
