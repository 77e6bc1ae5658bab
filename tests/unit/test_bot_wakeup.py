"""A runner acts on a new market-data round as soon as it lands, not after its interval: the hub
pokes the subscriptions it polled, the runner's wait ends, its next tick fills the crossed add.
The hub polls a hand-written ccxt-shaped fake (prices set by the test); the runners' interval is an
hour, so only the poke can make them tick. Also: a pair's MarketRules are built once per markets
load, and the interval still bounds the wait when no round comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.paper import PaperExchange, PaperFees
from backfuture_daemon.bots.runner import BotRunner
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.strategy.orders import Purpose
from tests.unit.test_bot_runner import PAIR, RULES, spec

HOUR = 3600.0


class FakeVenue:
    """What the fake clients serve: one mid price per pair and the markets dict (replaced on a
    reload, as ccxt's `load_markets` does)."""

    def __init__(self) -> None:
        self.mid = D(100)
        self.markets = self.load()
        self.made = 0

    def load(self) -> dict[str, Any]:
        market = {
            "symbol": PAIR,
            "precision": {"price": float(RULES.price_tick), "amount": float(RULES.amount_step)},
            "limits": {"amount": {"min": None}, "cost": {"min": float(RULES.min_notional)}},
            "maker": float(RULES.maker_fee),
            "taker": float(RULES.taker_fee),
        }
        return {PAIR: market}


class FakeClient:
    """The few ccxt calls the hub makes (public, credential-free), answered from a `FakeVenue`."""

    id = "mexc"

    def __init__(self, venue: FakeVenue) -> None:
        self.venue = venue
        self.markets: dict[str, Any] | None = None

    async def load_markets(self, reload: bool = False, params: Any = None) -> dict[str, Any]:
        self.markets = self.venue.markets
        return self.markets

    def set_markets_from_exchange(self, source: FakeClient) -> FakeClient:
        self.markets = source.markets
        return self

    async def fetch_ticker(self, pair: str) -> dict[str, Any]:
        m = self.venue.mid
        return {"bid": str(m - D("0.01")), "ask": str(m + D("0.01")), "last": str(m)}

    async def fetch_order_book(self, pair: str, limit: int) -> dict[str, Any]:
        m = self.venue.mid
        return {"bids": [[str(m - D("0.01")), "1000"]], "asks": [[str(m + D("0.01")), "1000"]]}

    async def close(self) -> None:
        pass


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.now = 1000.0
        self.venue = FakeVenue()
        self.hub = MarketDataHub(self.make_client, clock=self.clock)
        self.db = Database.in_dir(tmp_path)

    def clock(self) -> float:
        return self.now

    def make_client(self, spec: ClientSpec, _: None) -> FakeClient:
        self.venue.made += 1
        return FakeClient(self.venue)

    def runner(self, interval: float = HOUR) -> BotRunner:
        s = spec()
        sub = self.hub.subscribe("mexc", None, s.params.pairs)
        port = PaperExchange(
            self.db, s.strategy, sub, quote="USDT", start_balance=D(500),
            fees=PaperFees(RULES.maker_fee, RULES.taker_fee), rules=sub.rules, clock=self.clock,
        )  # fmt: skip
        r = BotRunner(s, self.db, port, sub, sub.rules, self.clock, interval=interval)
        sub.on_round(r.poke)
        return r

    async def round(self, mid: str | None = None) -> None:
        self.now += 1
        if mid is not None:
            self.venue.mid = D(mid)
        await self.hub.tick()

    async def close(self) -> None:
        await self.hub.close()
        self.db.close()


async def until(check: Callable[[], bool], what: str) -> None:
    """Let the loop run (no clock involved) until `check()`; a second is far more than enough."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"not reached within ~1 s (interval {HOUR:g} s): {what}")


def resting_adds(r: BotRunner) -> list[int]:
    return [
        o.key.step for g in r.book.groups for o in g.open_orders() if o.key.purpose is Purpose.ADD
    ]


async def test_a_runner_ticks_when_a_round_lands_not_when_its_interval_ends(tmp_path: Path) -> None:
    w = World(tmp_path)
    r = w.runner()
    task = asyncio.create_task(r.run(), name="bot:test")
    try:
        await until(lambda: r.last_tick_at is not None, "first tick")
        assert r.book.groups == ()  # no prices yet: nothing decided
        await w.round()  # prices land: the base order fills
        await until(lambda: bool(r.book.groups), "group opened on the round")
        await w.round()
        await until(lambda: resting_adds(r) == [1, 2], "adds resting")
        (g,) = r.book.groups
        assert g.filled_adds == ()

        ticks_before = r.last_tick_at
        await w.round("98.0")  # through add 1 (98.5), above add 2
        await until(lambda: r.book.groups[0].filled_adds == (1,), "add 1 filled on the round")
        assert r.last_tick_at is not None
        assert ticks_before is not None
        assert r.last_tick_at > ticks_before  # ticked on this round's clock, an hour early
        assert w.hub.rounds == 3
    finally:
        r.close()
        await asyncio.wait_for(task, 1.0)
        await w.close()


async def test_a_round_landing_during_a_tick_is_not_lost(tmp_path: Path) -> None:
    w = World(tmp_path)
    r = w.runner()
    ticks = 0
    tick = r.tick

    async def counted() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 1:
            r.poke()  # as the hub's listener would, while this tick runs
        await tick()

    r.tick = counted  # type: ignore[method-assign]
    task = asyncio.create_task(r.run(), name="bot:test")
    try:
        await until(lambda: ticks >= 2, "a second tick right after the first")
    finally:
        r.close()
        await asyncio.wait_for(task, 1.0)
        await w.close()


async def test_without_rounds_the_interval_still_bounds_the_wait(tmp_path: Path) -> None:
    w = World(tmp_path)
    r = w.runner(interval=0.01)
    ticks = 0
    tick = r.tick

    async def counted() -> None:
        nonlocal ticks
        ticks += 1
        await tick()

    r.tick = counted  # type: ignore[method-assign]
    task = asyncio.create_task(r.run(), name="bot:test")
    try:
        await until(lambda: ticks >= 3, "ticks every interval with no round at all")
    finally:
        r.close()
        await asyncio.wait_for(task, 1.0)
        await w.close()


async def test_a_closed_subscription_pokes_no_more(tmp_path: Path) -> None:
    w = World(tmp_path)
    sub = w.hub.subscribe("mexc", None, [PAIR])
    pokes: list[int] = []
    sub.on_round(lambda: pokes.append(w.hub.rounds))
    await w.round()
    sub.close()
    await w.round()
    assert pokes == [1]
    await w.close()


async def test_rules_are_built_once_per_markets_load(tmp_path: Path) -> None:
    w = World(tmp_path)
    sub = w.hub.subscribe("mexc", None, [PAIR])
    assert sub.rules(PAIR) is None  # markets not loaded yet
    await w.round()
    first = sub.rules(PAIR)
    assert first == RULES
    assert sub.rules(PAIR) is first  # cached: the same object
    assert sub.rules("NOPE/USDT") is None
    # a reload brings a new markets dict: the rules are built again from it
    w.venue.markets = w.venue.load()
    w.venue.markets[PAIR]["precision"]["price"] = 0.1
    client = w.hub._endpoints[next(iter(w.hub._endpoints))].client
    assert client is not None
    client.markets = w.venue.markets
    again = sub.rules(PAIR)
    assert again is not None
    assert again is not first
    assert again.price_tick == D("0.1")
    sub.close()
    await w.close()
