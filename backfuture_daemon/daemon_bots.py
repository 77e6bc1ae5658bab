"""The trading half of the composition root: market data hub + bot supervisor, kept in step with
the reconcile loop's bot states and the applied config.

Built by daemon.py (and only there). `follow()` watches the loop's snapshot and, when bot states
or the applied revision change, hands each bot's order from reconciler/bot_sync.py to the
supervisor; `join()` adds the bots' books to the snapshot that /status and /metrics read. Live
bots trade through exchanges/live_ports.py on the applied config's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace

from backfuture_daemon.bots.spec import RunnerSpec
from backfuture_daemon.bots.store import BotStore
from backfuture_daemon.bots.supervisor import BotSupervisor
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.models import Connection, Endpoints
from backfuture_daemon.exchanges.live_ports import ConnectionPort, LivePorts
from backfuture_daemon.exchanges.market_data import MarketDataHub, MarketSubscription
from backfuture_daemon.exchanges.market_feeds import FUTURES_MARKET_DATA
from backfuture_daemon.exchanges.port import MarketDataPort, TradingPort
from backfuture_daemon.logs import log_event
from backfuture_daemon.reconciler.bot_sync import bot_orders
from backfuture_daemon.reconciler.loop import Reconciler
from backfuture_daemon.reconciler.state import DaemonSnapshot
from backfuture_daemon.redaction import scrub_text
from backfuture_daemon.strategy.params import MarketRules

log = logging.getLogger("backfuture.bots")
FOLLOW_INTERVAL = 0.2


class BotsWiring:
    def __init__(
        self,
        store: BotStore,
        *,
        clock: Callable[[], float],
        interval: float,
        order_timeout: float = 10.0,
        order_visibility: float = 5.0,
    ) -> None:
        self.hub = MarketDataHub(clock=clock)
        self.live = LivePorts(timeout=order_timeout, clock=clock)
        self.supervisor = BotSupervisor(
            store.db,
            market_data=self._market_data,
            rules=self._rules,
            clock=clock,
            interval=interval,
            release=self._release,
            on_round=self._on_round,
            live_port=self._live_port,
            visibility_window=order_visibility,
        )
        self._state: DesiredState | None = None
        self._where: dict[str, tuple[str, Endpoints | None]] = {}
        self._feeds: dict[str, MarketSubscription] = {}
        self._seen: object = None
        #: each live bot's port (its futures contract rules come from it).
        self._ports: dict[str, ConnectionPort] = {}
        self._stopping: set[str] = set()

    def applied(self, state: DesiredState) -> None:
        """The reconcile loop applied a new revision (called from its on_applied hook)."""
        self._state = state

    # ---- the supervisor's ports ---------------------------------------------------------------

    def _market_data(self, spec: RunnerSpec) -> MarketDataPort:
        exchange, endpoints = self._where[spec.strategy]
        # A futures bot decides (a paper one also fills) on its perpetual's own book where the
        # hub has futures market data (KuCoin); elsewhere on the spot pair's, as before.
        futures = spec.market == "futures" and exchange in FUTURES_MARKET_DATA
        if spec.market == "futures" and not futures:
            why = f"no futures market data for {exchange}: this futures bot reads spot prices"
            log_event(log, logging.WARNING, why, strategy=spec.strategy)
        market = "futures" if futures else "spot"
        feed = self.hub.subscribe(exchange, endpoints, spec.params.pairs, market=market)
        self._feeds[spec.strategy] = feed
        return feed

    def _rules(self, spec: RunnerSpec, pair: str) -> MarketRules | None:
        feed = self._feeds.get(spec.strategy)
        rules = feed.rules(pair) if feed is not None else None
        port = self._ports.get(spec.strategy)
        if spec.mode == "live" and spec.market == "futures":  # sized in whole contracts
            return port.rules(pair, rules) if port is not None else None
        return rules

    def _live_port(self, spec: RunnerSpec) -> TradingPort:
        port = self.live.port(spec.connection, self._connection, market=spec.market,
                              leverage=spec.leverage)  # fmt: skip
        self._ports[spec.strategy] = port
        return port

    def _connection(self, name: str) -> Connection | None:
        state = self._state
        return next((c for c in state.connections if c.name == name), None) if state else None

    def _release(self, feed: MarketDataPort) -> None:
        if isinstance(feed, MarketSubscription):
            feed.close()

    def _on_round(self, feed: MarketDataPort, listener: Callable[[], None]) -> None:
        if isinstance(feed, MarketSubscription):
            feed.on_round(listener)

    # ---- following the reconcile loop ---------------------------------------------------------

    async def follow(self, reconciler: Reconciler, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.sync(reconciler.snapshot())
            except Exception as e:  # a bug here must not stop the daemon; logged, retried
                log_event(log, logging.ERROR, f"bot sync failed: {type(e).__name__}: "
                          f"{scrub_text(str(e))[:300]}")  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FOLLOW_INTERVAL)

    def sync(self, snapshot: DaemonSnapshot) -> None:
        reports = tuple((c.name, c.report) for c in snapshot.connections)
        key = (id(self._state), tuple((b.strategy, b.state) for b in snapshot.bots), reports)
        if key != self._seen:
            self._seen = key
            self._apply(snapshot)
        for name in list(self._stopping):
            runner = self.supervisor.runners.get(name)
            if runner is None or runner.stopped:
                self.supervisor.forget(name)
                if name not in self.supervisor.runners:
                    self._stopping.discard(name)
                    self._where.pop(name, None)
                    self._feeds.pop(name, None)

    def _apply(self, snapshot: DaemonSnapshot) -> None:
        running = {
            name: (r.spec, *self._where[name])
            for name, r in self.supervisor.runners.items()
            if name in self._where
        }
        reports = {c.name: c.report for c in snapshot.connections}
        plan = bot_orders(self._state, snapshot.bots, running, reports)
        for order in plan.orders:
            name = order.spec.strategy
            self._where[name] = (order.exchange, order.endpoints)
            try:
                self.supervisor.apply(order.spec, order.gate)
            except Exception as e:  # one bot's bad spec must not stop the others
                log_event(log, logging.ERROR, f"bot not started: {type(e).__name__}: "
                          f"{scrub_text(str(e))[:300]}", strategy=name)  # fmt: skip
                continue
            if order.gate.value == "stop":
                self._stopping.add(name)
            else:
                self._stopping.discard(name)

    def join(self, snapshot: DaemonSnapshot) -> DaemonSnapshot:
        return replace(snapshot, books=tuple(self.supervisor.snapshot().values()))

    async def shutdown(self, grace: float) -> None:
        await self.supervisor.shutdown(grace)
        await self.live.close()
