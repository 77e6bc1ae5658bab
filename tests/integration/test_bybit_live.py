"""A live bot on Bybit spot through real ccxt against the in-process sandbox (its Bybit venue on
the shared matching engine): it opens, adds, enters Recovery Mode and closes at take profit; an
order accepted whose answer never came is adopted, never placed twice; a placement answered 5xx
is looked up, then re-decided under a new id; a lost cancel answer is resolved by lookup; a UID
rate limit (10006) quiets it until the reset time; and a runner on an EMPTY state directory
rebuilds the same groups from Bybit's orders and executions. The sandbox's audit
(`Sandbox.orders_of`, what `GET /__sandbox/orders` serves) is the judge: one exchange order per
orderLinkId, every fill in the bot's ledger once. Helpers from live_bot_support.py.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.bots.runner import BotRunner
from backfuture_daemon.exchanges.bybit_trading import BybitTrading
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.orders import Purpose
from backfuture_daemon.strategy.params import Gate
from tests.integration.connection_test_support import connection_for
from tests.integration.live_bot_support import PAIR, LiveWorld, ledger_matches_exchange, until
from tests.integration.test_live_rebuild import shape

pytestmark = pytest.mark.integration
CANARY = "CANARY-bybit-live-secret"
_keys = itertools.count()


class BybitWorld(LiveWorld):
    """LiveWorld whose keys are Bybit keys (`Spot.SpotTrade`, IP-bound to loopback)."""

    def key(self, exchange: str, *, hf: bool = False, balance: D = D(1000)) -> None:
        assert exchange == "bybit"
        n = next(_keys)
        key = SandboxKey(exchange="bybit", api_key=f"BYBITlive{n:06d}key",
                         api_secret=f"{CANARY}-{n:06d}", permissions=frozenset({"Spot.SpotTrade"}),
                         ip_whitelist=("127.0.0.1",), balances={"USDT": balance})  # fmt: skip
        self.sandbox.add_key(key)
        self.api_key, self.exchange = key.api_key, "bybit"
        self.connection = connection_for(self.sandbox, key)


@pytest.fixture
async def live(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[BybitWorld]:
    world = BybitWorld(sandbox, tmp_path)
    try:
        yield world
    finally:
        await world.close()


def one_order_per_id(world: LiveWorld) -> Counter[str]:
    ids = Counter(str(o["client_order_id"]) for o in world.audit())
    assert ids
    assert max(ids.values()) == 1, ids
    return ids


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


async def three_open(live: BybitWorld, r: BotRunner) -> None:
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)


async def test_a_live_bot_opens_adds_recovers_and_closes_at_take_profit(
    live: BybitWorld, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("bybit")
    assert isinstance(r.port, BybitTrading)
    await three_open(live, r)
    sandbox.set_market(PAIR, path=[[0, 100], [0.5, 96]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    await until(lambda: r.snapshot().groups[0].mode == "recovery", r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    sandbox.set_market(PAIR, path=[[0, 96], [0.5, 99.5]])  # through the recovery take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = live.audit()
    one_order_per_id(live)
    assert all(o["instrument_id"] == "BTCUSDT" for o in audit)
    ledger_matches_exchange(live, r, audit)
    sides = Counter((o["side"], o["status"]) for o in audit)
    assert sides[("sell", "filled")] >= 1  # the take profit filled at the exchange
    assert sides[("buy", "filled")] >= 3  # base, add 1, add 2
    for text in (r.last_error, str(r.snapshot().as_status())):
        assert CANARY not in text


async def test_an_accepted_order_whose_answer_never_came_is_adopted(live: BybitWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("bybit")
    live.sandbox.faults("bybit").update({"accept_then_timeout": True})
    await r.tick()  # the base order is accepted; the answer hangs past the client's timeout
    assert "exchange_unavailable" in r.last_error or "timeout" in r.last_error.lower()
    (unknown,) = r.intents.unsettled()
    assert [o["client_order_id"] for o in live.audit()] == [unknown.client_order_id]
    live.sandbox.faults("bybit").update({"accept_then_timeout": False})
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    assert r.intents.intent(unknown.client_order_id).state in ("open", "filled")  # type: ignore[union-attr]
    assert r.book.groups[0].base_price is not None
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


async def test_a_placement_5xx_is_looked_up_then_re_decided_under_a_new_id(
    live: BybitWorld,
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("bybit")
    r.visibility_window = 1.0
    faults = live.sandbox.faults("bybit")
    faults.update({"placement_5xx": 502})  # the gateway answers 502; the order is not placed
    await r.tick()
    assert "exchange_unavailable" in r.last_error
    (unknown,) = r.intents.unsettled()
    for _ in range(3):  # lookups by orderLinkId are served; nothing found, nothing sent
        await live.tick(r)
    assert live.audit() == []
    assert r.intents.intent(unknown.client_order_id).state == "unknown"  # type: ignore[union-attr]
    faults.update({"placement_5xx": 0})
    await asyncio.sleep(1.0)
    await until(lambda: bool(live.audit()), r)
    assert r.intents.intent(unknown.client_order_id).state == "lost"  # type: ignore[union-attr]
    (placed,) = live.audit()  # exactly one exchange order, under the re-decided intent's id
    assert placed["client_order_id"] != unknown.client_order_id
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


async def test_a_lost_cancel_answer_is_resolved_by_lookup(live: BybitWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("bybit")
    await three_open(live, r)
    live.sandbox.faults("bybit").update({"drop_cancel_answer": True})
    r.set_gate(Gate.STOP)  # resting adds are cancelled, the take profit kept
    await r.tick()
    assert r.needs_reconcile
    live.sandbox.faults("bybit").update({"drop_cancel_answer": False})
    await until(lambda: not r.needs_reconcile, r)
    await live.tick(r)
    (g,) = r.book.groups
    assert [o.key.purpose.value for o in g.open_orders()] == ["take_profit"]
    statuses = Counter((o["side"], o["status"]) for o in live.audit())
    assert statuses[("buy", "canceled")] == 2
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


async def test_a_uid_rate_limit_quiets_the_bot_until_the_reset(live: BybitWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("bybit")
    await three_open(live, r)
    book = r.book
    live.sandbox.faults("bybit").update({"rate_limit": True, "retry_after_s": 2})
    r.needs_reconcile = True
    await r.tick()
    assert "rate_limited" in r.last_error
    assert "10006" in r.last_error
    live.sandbox.faults("bybit").update({"rate_limit": False})
    live.sandbox.reset_request_counts()
    t0 = time.time()
    while time.time() - t0 < 1.2:  # before the reset time: not one signed request
        await live.tick(r)
    public = ("/v5/market/tickers", "/v5/market/orderbook", "/v5/market/time")
    signed = {p for p in live.sandbox.request_counts("bybit") if p not in public}
    assert not signed, signed
    assert r.book == book
    await until(lambda: not r.needs_reconcile, r)
    assert r.book.groups[0].id == book.groups[0].id
    one_order_per_id(live)


async def test_an_empty_state_dir_rebuilds_the_same_book_from_bybit(live: BybitWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    first = await live.runner("bybit")
    await three_open(live, first)
    live.sandbox.set_market(PAIR, path=[[0, 100], [0.3, 98]])  # add 1 fills
    await until(lambda: first.book.groups[0].filled_adds == (1,), first)
    await until(lambda: len(first.book.groups[0].open_orders(Purpose.TAKE_PROFIT)) == 1, first)
    live.sandbox.set_market(PAIR, price=98.0)
    for _ in range(3):
        await live.tick(first)
    before = shape(first.book)
    assert before["groups"]
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
    one_order_per_id(live)
    ledger_matches_exchange(live, rebuilt, live.audit())
