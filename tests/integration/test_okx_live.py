"""A live bot on OKX spot through real ccxt against the in-process sandbox (bots/runner.py with
exchanges/okx_trading.py): it opens, adds, enters Recovery Mode and closes at take profit with
client order ids of letters and digits only; an order accepted whose answer never came is adopted
without a second order; a lost cancel answer is settled by lookup; a 429 without Retry-After
quiets the bot for OKX's 2-second window; and a runner on an empty state directory rebuilds the
same groups from OKX's order and fill history. The sandbox's order audit is the judge.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from backfuture_daemon.bots.intents import id_separator
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.orders import Purpose
from backfuture_daemon.strategy.params import Gate
from tests.integration.connection_test_support import connection_for
from tests.integration.live_bot_support import PAIR, LiveWorld, ledger_matches_exchange, until

pytestmark = pytest.mark.integration
CANARY = "CANARY-okx-live-secret"
_keys = itertools.count()
OKX_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


class OkxWorld(LiveWorld):
    """LiveWorld on an OKX key (passphrase, `read_only,trade`), bots with OKX's client ids."""

    def key(self, exchange: str, *, hf: bool = False, balance: D = D(1000)) -> None:
        n = next(_keys)
        key = SandboxKey(
            exchange="okx",
            api_key=f"0f1e2d3c-4b5a-6978-8a9b-{n:012d}",
            api_secret=f"{CANARY}-{n:06d}",
            passphrase=f"{CANARY}-pass-{n:06d}",
            permissions=frozenset({"read_only", "trade"}),
            ip_whitelist=("127.0.0.1",),
            balances={"USDT": balance},
        )
        self.sandbox.add_key(key)
        self.api_key, self.exchange = key.api_key, "okx"
        self.connection = connection_for(self.sandbox, key)

    def spec(self, *, may_send: bool = True, block: str = "") -> RunnerSpec:
        spec = super().spec(may_send=may_send, block=block)
        return replace(spec, id_sep=id_separator("okx"))


@pytest.fixture
async def live(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[OkxWorld]:
    world = OkxWorld(sandbox, tmp_path)
    try:
        yield world
    finally:
        await world.close()


def one_order_per_id(world: LiveWorld) -> Counter[str]:
    ids = Counter(str(o["client_order_id"]) for o in world.audit())
    assert ids
    assert all(n == 1 for n in ids.values()), ids
    assert all(OKX_ID.match(cid) for cid in ids), ids  # OKX's clOrdId rule
    return ids


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


def resting(r: BotRunner, n: int) -> bool:
    return bool(r.book.groups) and len(r.book.groups[0].open_orders()) == n


async def test_a_live_okx_bot_opens_adds_recovers_and_closes_at_take_profit(
    live: OkxWorld, sandbox: Sandbox
) -> None:
    sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("okx")
    await until(lambda: resting(r, 3), r)
    assert r.intents.prefix().isalnum()
    sandbox.set_market(PAIR, path=[[0, 100], [0.5, 96]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    await until(lambda: r.snapshot().groups[0].mode == "recovery", r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    sandbox.set_market(PAIR, path=[[0, 96], [0.5, 99.5]])  # through the recovery take profit
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = live.audit()
    one_order_per_id(live)
    ledger_matches_exchange(live, r, audit)
    sides = Counter((o["side"], o["status"]) for o in audit)
    assert sides[("buy", "filled")] >= 3  # base, add 1, add 2
    assert sides[("sell", "filled")] >= 1  # the take profit filled at the exchange
    assert CANARY not in repr(r.snapshot().as_status())


async def test_an_accepted_order_whose_answer_never_came_is_adopted(live: OkxWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("okx")
    live.sandbox.faults("okx").update({"accept_then_timeout": True})
    await r.tick()  # the base order is accepted; the answer hangs past the client's timeout
    assert "exchange_unavailable" in r.last_error or "timeout" in r.last_error.lower()
    (unknown,) = r.intents.unsettled()
    assert [o["client_order_id"] for o in live.audit()] == [unknown.client_order_id]
    live.sandbox.faults("okx").update({"accept_then_timeout": False})
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    assert r.intents.intent(unknown.client_order_id).state in ("open", "filled")  # type: ignore[union-attr]
    assert r.book.groups[0].base_price is not None
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


async def test_a_lost_cancel_answer_is_resolved_by_lookup(live: OkxWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("okx")
    await until(lambda: resting(r, 3), r)
    live.sandbox.faults("okx").update({"drop_cancel_answer": True})
    r.set_gate(Gate.STOP)  # resting adds are cancelled, the take profit kept
    await r.tick()
    assert r.needs_reconcile
    live.sandbox.faults("okx").update({"drop_cancel_answer": False})
    await until(lambda: not r.needs_reconcile, r)
    await live.tick(r)
    (g,) = r.book.groups
    assert [o.key.purpose.value for o in g.open_orders()] == ["take_profit"]
    statuses = Counter((o["side"], o["status"]) for o in live.audit())
    assert statuses[("buy", "canceled")] == 2
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


async def test_a_429_without_retry_after_quiets_the_bot_for_okx_s_window(
    live: OkxWorld,
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("okx")
    await until(lambda: resting(r, 3), r)
    book = r.book
    live.sandbox.faults("okx").update({"rate_limit": True})
    r.needs_reconcile = True
    await r.tick()
    assert "rate_limited" in r.last_error
    assert "50011" in r.last_error
    live.sandbox.faults("okx").update({"rate_limit": False})
    live.sandbox.reset_request_counts()
    t0 = time.time()
    while time.time() - t0 < 1.5:  # inside the 2 s window: not one private request
        await live.tick(r)
    private = {p for p in live.sandbox.request_counts("okx") if "/market/" not in p}
    assert not private, private
    assert r.book == book
    await until(lambda: not r.needs_reconcile, r)
    one_order_per_id(live)


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


async def test_an_empty_state_dir_rebuilds_the_same_book_from_okx(live: OkxWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    first = await live.runner("okx")
    await until(lambda: resting(first, 3), first)
    live.sandbox.set_market(PAIR, path=[[0, 100], [0.3, 98]])  # add 1 fills
    await until(lambda: adds(first) == (1,), first)
    await until(lambda: len(first.book.groups[0].open_orders(Purpose.TAKE_PROFIT)) == 1, first)
    live.sandbox.set_market(PAIR, price=98.0)
    for _ in range(3):
        await live.tick(first)
    before = shape(first.book)
    assert before["groups"]
    assert before["committed_quote"] > 0

    rebuilt = await live.runner(fresh_db=True)  # the state directory is gone
    assert rebuilt.needs_rebuild
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
