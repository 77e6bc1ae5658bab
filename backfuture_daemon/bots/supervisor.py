"""Runs the bots: one `BotRunner` task per strategy, started, re-gated and stopped as gates change.

The daemon builds one supervisor on the shared database and market data and calls `apply(spec,
gate)` for every bot command the reconciler issues; `shutdown()` drains the runners (each finishes
its tick; resting orders stay, the book is in SQLite). `snapshot()` is what /status and the
metrics read. Paper bots get a `PaperExchange`; live bots the port `live_port` builds.

A change of `market` (spot <-> futures) or `leverage` in git needs a new runner and port, and a
book's groups must never be managed on another venue than the one they were opened on (a spot
group's sell is not a futures reduce-only close; a position's leverage is its own). So while the
book (one per strategy and mode) has open groups on the old venue, the change is HELD: the
runner keeps trading the old venue under CLOSE_ONLY instead of RUN (no new group, no new add;
resting adds stay, take profits and stops are managed; PAUSE and STOP pass as they are), and
/status shows why in `hold_reason`. Once no group is open, the runner leaves (`handover`) and a
runner on the new venue starts on the same book (its group ids continue, so client order ids
never repeat). The venue a book was last saved on is kept (books.BookStore.stored_venue), so a
daemon started after the change holds it the same way. Git changing back cancels the hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal

from backfuture_daemon.bots.books import BookStore, venue
from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.paper import PaperExchange
from backfuture_daemon.bots.paper_sim import PaperFees
from backfuture_daemon.bots.resume import VISIBILITY_WINDOW
from backfuture_daemon.bots.runner import BotRunner, BotSnapshot, RunnerSpec
from backfuture_daemon.exchanges.port import MarketDataPort, TradingPort
from backfuture_daemon.logs import log_event
from backfuture_daemon.strategy.params import Gate, MarketRules

log = logging.getLogger("backfuture.bots")


class BotSupervisor:
    def __init__(
        self,
        db: Database,
        *,
        market_data: Callable[[RunnerSpec], MarketDataPort],
        rules: Callable[[RunnerSpec, str], MarketRules | None],
        clock: Callable[[], float],
        interval: float = 1.0,
        live_port: Callable[[RunnerSpec], TradingPort] | None = None,
        release: Callable[[MarketDataPort], None] | None = None,
        on_round: Callable[[MarketDataPort, Callable[[], None]], None] | None = None,
        slippage_cap: Decimal = Decimal("0.05"),
        visibility_window: float = VISIBILITY_WINDOW,
    ) -> None:
        """`market_data(spec)` gives the bot its quotes (a MarketDataHub subscription); `release`
        is called with it when the bot is forgotten or replaced (to close the subscription);
        `on_round(feed, listener)` registers a runner to be poked when the feed's next round of
        prices lands (so a price crossing is acted on before the runner's interval is over).
        `visibility_window`: seconds a live bot's unanswered client order id must stay absent
        on the exchange before its intent is marked not placed (bots/resume.py)."""
        self._db, self._md, self._rules, self._clock = db, market_data, rules, clock
        self._visibility = visibility_window
        self._interval, self._live_port, self._cap = interval, live_port, slippage_cap
        self._release, self._on_round = release, on_round
        self._feeds: dict[str, MarketDataPort] = {}
        self._runners: dict[str, BotRunner] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        #: strategies whose market/leverage change is held: the spec and gate git asks for.
        self._held: dict[str, tuple[RunnerSpec, Gate]] = {}
        self._closing = False

    @property
    def runners(self) -> Mapping[str, BotRunner]:
        return self._runners

    def apply(self, spec: RunnerSpec, gate: Gate | str) -> None:
        """Bring the bot to `gate` (a `bots.model.Gate` or the engine's `Gate`, same values).

        A new spec replaces the old one in place (sizing changes reach new groups only: each
        group keeps its own). Other pairs or another mode need a new runner (its own market data,
        for a mode its own book): it starts once the old one has finished its tick, so two
        runners never write one book at the same time."""
        gate = Gate(gate.value if isinstance(gate, Gate) else str(gate))
        runner = self._runners.get(spec.strategy)
        spec, gate, held = self._hold(runner, spec, gate)
        after: asyncio.Task[None] | None = None
        if runner is None or _needs_new_runner(runner.spec, spec):
            md = self._md(spec)
            new = self._build(spec, gate, md)  # first: a spec that cannot run leaves the old be
            if runner is not None:
                runner.close()
                after = self._tasks.pop(spec.strategy, None)
                if after is not None and not after.done():
                    self._retiring.add(after)
                    after.add_done_callback(self._retiring.discard)
            old_feed = self._feeds.get(spec.strategy)
            self._feeds[spec.strategy] = md
            if old_feed is not None and self._release is not None:
                self._release(old_feed)
            runner = self._runners[spec.strategy] = new
            if self._on_round is not None:
                self._on_round(md, new.poke)
        else:
            runner.spec = spec
            runner.set_gate(gate)
        runner.venue_hold = held
        task = self._tasks.get(spec.strategy)
        if task is None or task.done():
            if gate is Gate.STOP and runner.stopped:
                return  # stopped and settled: nothing to run
            self._tasks[spec.strategy] = asyncio.create_task(
                self._run(runner, after), name=f"bot:{spec.strategy}"
            )

    def _hold(
        self, runner: BotRunner | None, spec: RunnerSpec, gate: Gate
    ) -> tuple[RunnerSpec, Gate, str]:
        """The spec and gate to run now, and why a market/leverage change is held ("" when it
        is not): see the module's docstring."""
        name, new = spec.strategy, venue(spec)
        if runner is not None and runner.spec.mode == spec.mode:
            old, groups = venue(runner.spec), len(runner.book.groups)
        else:
            store = BookStore(self._db, name, spec.mode)
            old = store.stored_venue() or new
            groups = len(store.load().groups) if old != new else 0
        if old == new or groups == 0:
            self._held.pop(name, None)
            return spec, gate, ""
        self._held[name] = (spec, gate)
        market, leverage = old.split(":")
        reason = (
            f"change of market/leverage to {new} held: {groups} open group(s) on {old} close "
            f"first (no new groups or adds meanwhile)"
        )
        if name not in self._runners or runner is None or not runner.venue_hold:
            log_event(log, "WARNING", "bot venue change held", strategy=name, reason=reason)
        held = replace(spec, market=market, leverage=int(leverage))
        return held, Gate.CLOSE_ONLY if gate is Gate.RUN else gate, reason

    def _build(self, spec: RunnerSpec, gate: Gate, md: MarketDataPort) -> BotRunner:
        port: TradingPort
        if spec.mode == "paper":
            port = PaperExchange(
                self._db,
                spec.strategy,
                md,
                quote=spec.quote_currency,
                start_balance=spec.paper_balance or spec.params.margin_limit,
                fees=lambda pair: _fees(self._rules(spec, pair)),
                slippage_cap=self._cap,
                rules=lambda pair: self._rules(spec, pair),
                clock=self._clock,
                allow_short=spec.market == "futures",  # a short sells first on futures only
                leverage=Decimal(spec.leverage),
            )
        elif self._live_port is not None:
            port = self._live_port(spec)
        else:
            raise ValueError(f"strategy {spec.strategy!r}: live trading is not wired in")
        runner = BotRunner(
            spec,
            self._db,
            port,
            md,
            lambda pair: self._rules(spec, pair),
            self._clock,
            gate=gate,
            interval=self._interval,
        )
        if spec.mode == "live":
            runner.visibility_window = self._visibility
        return runner

    async def _run(self, runner: BotRunner, after: asyncio.Task[None] | None) -> None:
        if after is not None:
            await asyncio.wait([after])  # the runner it replaces finishes its tick first
            runner.reload()
        log_event(log, "INFO", "bot runner started", strategy=runner.spec.strategy,
                  mode=runner.spec.mode, gate=runner.gate.value)  # fmt: skip
        await runner.run()
        log_event(log, "INFO", "bot runner finished", strategy=runner.spec.strategy,
                  gate=runner.gate.value)  # fmt: skip
        name = runner.spec.strategy
        if runner.handover and not self._closing and self._runners.get(name) is runner:
            wanted = self._held.pop(name, None)
            if wanted is not None:  # the old venue holds nothing more: the held change now
                log_event(log, "INFO", "bot venue change applied", strategy=name,
                          market=wanted[0].market, leverage=wanted[0].leverage)  # fmt: skip
                self.apply(*wanted)

    def forget(self, strategy: str) -> None:
        """Drop a bot that finished its STOP (its rows stay in SQLite)."""
        task = self._tasks.get(strategy)
        if task is None or task.done():
            self._tasks.pop(strategy, None)
            self._runners.pop(strategy, None)
            feed = self._feeds.pop(strategy, None)
            if feed is not None and self._release is not None:
                self._release(feed)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Let every runner finish its tick and leave; cancel those still running after `grace`."""
        self._closing = True
        for runner in self._runners.values():
            runner.close()
        tasks = [t for t in (*self._tasks.values(), *self._retiring) if not t.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._tasks.clear()

    def snapshot(self) -> dict[str, BotSnapshot]:
        return {name: r.snapshot() for name, r in sorted(self._runners.items())}


def _needs_new_runner(old: RunnerSpec, new: RunnerSpec) -> bool:
    """Another mode, other pairs or another venue (market, leverage: another port)."""
    return old.mode != new.mode or old.params.pairs != new.params.pairs or venue(old) != venue(new)


def _fees(rules: MarketRules | None) -> PaperFees:
    return PaperFees() if rules is None else PaperFees(rules.maker_fee, rules.taker_fee)
