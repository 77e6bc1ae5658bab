"""Live spot bots on OKX and Bybit through real ccxt against the in-process sandbox, the same
scenarios on each: a table of the two venues (their keys, client id rules, fault switches), one
`SpotWorld` that makes the venue's keys, and the scenarios (open, add, recover and close; an
accepted order adopted; a lost cancel answer; an empty state directory rebuilt) that
test_spot_venues_live.py runs on each venue. The sandbox's audit is the judge.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal as D
from pathlib import Path

from backfuture_daemon.bots.intents import id_separator
from backfuture_daemon.bots.runner import BotRunner, RunnerSpec
from backfuture_daemon.exchanges.bybit_trading import BybitTrading
from backfuture_daemon.exchanges.okx_trading import OkxTrading
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.orders import Purpose
from backfuture_daemon.strategy.params import Gate
from tests.integration.connection_test_support import connection_for
from tests.integration.live_bot_support import PAIR, LiveWorld, ledger_matches_exchange, until
from tests.integration.test_live_rebuild import shape

_keys = itertools.count()


@dataclass(frozen=True)
class SpotVenue:
    """What a live spot bot sees differently on one venue (the rest is the same)."""

    name: str  # the sandbox's exchange, endpoints and fault switches
    canary: str  # in each key's secret: never in a bot's status or error
    make_key: Callable[[int, D], SandboxKey]  # (n, USDT balance)
    port_class: type[CcxtTrading]
    client_id: re.Pattern[str] | None = None  # the venue's rule for client ids
    instrument_id: str | None = None  # what the audit names the pair

    def __str__(self) -> str:
        return self.name


OKX_CANARY = "CANARY-okx-live-secret"
BYBIT_CANARY = "CANARY-bybit-live-secret"
OKX = SpotVenue(
    name="okx",
    canary=OKX_CANARY,
    make_key=lambda n, balance: SandboxKey(
        exchange="okx",
        api_key=f"0f1e2d3c-4b5a-6978-8a9b-{n:012d}",
        api_secret=f"{OKX_CANARY}-{n:06d}",
        passphrase=f"{OKX_CANARY}-pass-{n:06d}",
        permissions=frozenset({"read_only", "trade"}),
        ip_whitelist=("127.0.0.1",),
        balances={"USDT": balance},
    ),
    port_class=OkxTrading,
    client_id=re.compile(r"^[A-Za-z0-9]{1,32}$"),  # OKX's clOrdId rule
)
BYBIT = SpotVenue(
    name="bybit",
    canary=BYBIT_CANARY,
    make_key=lambda n, balance: SandboxKey(  # `Spot.SpotTrade`, IP-bound to loopback
        exchange="bybit",
        api_key=f"BYBITlive{n:06d}key",
        api_secret=f"{BYBIT_CANARY}-{n:06d}",
        permissions=frozenset({"Spot.SpotTrade"}),
        ip_whitelist=("127.0.0.1",),
        balances={"USDT": balance},
    ),
    port_class=BybitTrading,
    instrument_id="BTCUSDT",
)
VENUES = (OKX, BYBIT)


class SpotWorld(LiveWorld):
    """LiveWorld whose keys are the venue's, its bots making the venue's client ids."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path, venue: SpotVenue) -> None:
        super().__init__(sandbox, tmp_path)
        self.venue = venue

    def key(self, exchange: str, *, hf: bool = False, balance: D = D(1000)) -> None:
        assert exchange == self.venue.name
        key = self.venue.make_key(next(_keys), balance)
        self.sandbox.add_key(key)
        self.api_key, self.exchange = key.api_key, exchange
        self.connection = connection_for(self.sandbox, key)

    def spec(self, *, may_send: bool = True, block: str = "") -> RunnerSpec:
        spec = super().spec(may_send=may_send, block=block)
        return replace(spec, id_sep=id_separator(self.venue.name))

    def one_order_per_id(self) -> Counter[str]:
        ids = Counter(str(o["client_order_id"]) for o in self.audit())
        assert ids
        assert all(n == 1 for n in ids.values()), ids
        rule = self.venue.client_id
        assert rule is None or all(rule.match(cid) for cid in ids), ids
        return ids


def adds(r: BotRunner) -> tuple[int, ...]:
    return r.book.groups[0].filled_adds if r.book.groups else ()


def resting(r: BotRunner, n: int) -> bool:
    return bool(r.book.groups) and len(r.book.groups[0].open_orders()) == n


async def opens_adds_recovers_and_closes_at_take_profit(world: SpotWorld) -> BotRunner:
    venue = world.venue
    world.sandbox.set_market(PAIR, price=100.0)
    r = await world.runner(venue.name)
    assert isinstance(r.port, venue.port_class)
    await until(lambda: resting(r, 3), r)
    rule = venue.client_id
    assert rule is None or rule.match(r.intents.prefix())
    world.sandbox.set_market(PAIR, path=[[0, 100], [0.5, 96]])  # through add 1 and add 2
    await until(lambda: adds(r) == (1, 2), r)
    await until(lambda: r.snapshot().groups[0].mode == "recovery", r)
    assert r.snapshot().committed_quote <= r.spec.params.margin_limit
    world.sandbox.set_market(PAIR, path=[[0, 96], [0.5, 99.5]])  # through the recovery TP
    await until(lambda: r.book.closed_groups >= 1, r)
    assert r.book.realized_pnl > 0

    audit = world.audit()
    world.one_order_per_id()
    if venue.instrument_id is not None:
        assert all(o["instrument_id"] == venue.instrument_id for o in audit)
    ledger_matches_exchange(world, r, audit)
    sides = Counter((o["side"], o["status"]) for o in audit)
    assert sides[("buy", "filled")] >= 3  # base, add 1, add 2
    assert sides[("sell", "filled")] >= 1  # the take profit filled at the exchange
    for text in (r.last_error, repr(r.snapshot().as_status())):
        assert venue.canary not in text
    return r


async def accepted_order_whose_answer_never_came_is_adopted(world: SpotWorld) -> BotRunner:
    world.sandbox.set_market(PAIR, price=100.0)
    r = await world.runner(world.venue.name)
    faults = world.sandbox.faults(world.venue.name)
    faults.update({"accept_then_timeout": True})
    await r.tick()  # the base order is accepted; the answer hangs past the client's timeout
    assert "exchange_unavailable" in r.last_error or "timeout" in r.last_error.lower()
    (unknown,) = r.intents.unsettled()
    assert [o["client_order_id"] for o in world.audit()] == [unknown.client_order_id]
    faults.update({"accept_then_timeout": False})
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    intent = r.intents.intent(unknown.client_order_id)
    assert intent is not None
    assert intent.state in ("open", "filled")
    assert r.book.groups[0].base_price is not None
    world.one_order_per_id()
    ledger_matches_exchange(world, r, world.audit())
    return r


async def lost_cancel_answer_is_resolved_by_lookup(world: SpotWorld) -> BotRunner:
    world.sandbox.set_market(PAIR, price=100.0)
    r = await world.runner(world.venue.name)
    await until(lambda: resting(r, 3), r)
    faults = world.sandbox.faults(world.venue.name)
    faults.update({"drop_cancel_answer": True})
    r.set_gate(Gate.STOP)  # resting adds are cancelled, the take profit kept
    await r.tick()
    assert r.needs_reconcile
    faults.update({"drop_cancel_answer": False})
    await until(lambda: not r.needs_reconcile, r)
    await world.tick(r)
    (g,) = r.book.groups
    assert [o.key.purpose.value for o in g.open_orders()] == ["take_profit"]
    statuses = Counter((o["side"], o["status"]) for o in world.audit())
    assert statuses[("buy", "canceled")] == 2
    world.one_order_per_id()
    ledger_matches_exchange(world, r, world.audit())
    return r


async def empty_state_dir_rebuilds_the_same_book(world: SpotWorld) -> BotRunner:
    """A runner on an empty state directory rebuilds the same groups from the venue's orders
    and fills, then trades on: the next group takes the next id."""
    world.sandbox.set_market(PAIR, price=100.0)
    first = await world.runner(world.venue.name)
    await until(lambda: resting(first, 3), first)
    world.sandbox.set_market(PAIR, path=[[0, 100], [0.3, 98]])  # add 1 fills
    await until(lambda: adds(first) == (1,), first)
    await until(lambda: len(first.book.groups[0].open_orders(Purpose.TAKE_PROFIT)) == 1, first)
    world.sandbox.set_market(PAIR, price=98.0)
    for _ in range(3):
        await world.tick(first)
    before = shape(first.book)
    assert before["groups"]
    assert before["committed_quote"] > 0

    rebuilt = await world.runner(fresh_db=True)  # the state directory is gone
    assert rebuilt.needs_rebuild
    assert rebuilt.book == GroupBook()
    await world.tick(rebuilt)
    assert not rebuilt.needs_rebuild
    assert shape(rebuilt.book) == before
    assert rebuilt.book.next_group_id == first.book.next_group_id
    ledger_matches_exchange(world, rebuilt, world.audit())

    # it trades on: the take profit closes the group, the next group takes a new id
    world.sandbox.set_market(PAIR, path=[[0, 98], [0.5, 101]])
    await until(lambda: rebuilt.book.closed_groups == 1, rebuilt)
    await until(lambda: bool(rebuilt.book.groups), rebuilt)
    assert rebuilt.book.groups[0].id == before["groups"][0][0] + 1
    world.one_order_per_id()
    ledger_matches_exchange(world, rebuilt, world.audit())
    return rebuilt
