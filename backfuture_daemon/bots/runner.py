"""One bot at work: every tick read the shared quotes, ask the pure engine, send what it decides.

A tick applies new fills, calls `strategy.engine.decide` on the bot's book, commits the resulting
book together with the intents of every Place (bots/intents.py: before anything is sent), sends
the commands to the `TradingPort` (the paper exchange or a live adapter alike) and applies the
answers. Started, gated and stopped by bots/supervisor.py; the gate comes from the reconciler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from backfuture_daemon.bots.books import BookStore, venue
from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.intents import IntentLog
from backfuture_daemon.bots.live_guard import is_exit, live_epoch, refusal
from backfuture_daemon.bots.live_send import live_checks
from backfuture_daemon.bots.outside import OutsideWatch, watch_positions
from backfuture_daemon.bots.resume import VISIBILITY_WINDOW
from backfuture_daemon.bots.resume import reconcile as reconcile_book
from backfuture_daemon.bots.runner_fills import apply_fill
from backfuture_daemon.bots.runner_view import runner_snapshot
from backfuture_daemon.bots.spec import BotSnapshot, RunnerSpec
from backfuture_daemon.exchanges.port import (
    MarketDataPort,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TradingErrorClass,
    TradingPort,
    TradingUnavailable,
)
from backfuture_daemon.logs import log_event
from backfuture_daemon.strategy.engine import Decision, decide
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.orders import Cancel, OrderCommand, OrderKey, Place
from backfuture_daemon.strategy.params import Gate, MarketRules, Quote

__all__ = ["BotRunner", "BotSnapshot", "RunnerSpec"]

log = logging.getLogger("backfuture.bots")

_GONE = (OrderState.CANCELED, OrderState.REJECTED)


class BotRunner:
    def __init__(
        self,
        spec: RunnerSpec,
        db: Database,
        port: TradingPort,
        market_data: MarketDataPort,
        rules: Callable[[str], MarketRules | None],
        clock: Callable[[], float],
        *,
        gate: Gate = Gate.RUN,
        interval: float = 1.0,
        reject_backoff: float = 30.0,
    ) -> None:
        self.spec, self.port, self.market_data = spec, port, market_data
        self.rules_of, self.clock = rules, clock  #: rules_of: the pair's exchange rules
        self.interval = interval
        #: seconds without new Places on a pair after the exchange refused one there.
        self.reject_backoff = reject_backoff
        self._refused_until: dict[str, float] = {}
        #: the exchange's last refusal per pair, shown in last_error until an order there passes.
        self._refusals: dict[str, str] = {}
        self.gate = gate
        self._db = db
        self.books = BookStore(db, spec.strategy, spec.mode, venue(spec))
        epoch = live_epoch(spec) if spec.mode == "live" else self.books.epoch()
        self.intents = IntentLog(db, spec.strategy, spec.mode, clock, limit=spec.id_limit,
                                 epoch=epoch, sep=spec.id_sep)  # fmt: skip
        self.book: GroupBook = self.books.load()
        #: a live bot without a book in SQLite rebuilds it from the exchange first
        #: (bots/live_rebuild.py): a new state directory must not forget what rests there.
        self.needs_rebuild = spec.mode == "live" and not self.books.exists()
        self.decision: Decision | None = None
        self.last_tick_at: float | None = None
        self.last_error = ""
        #: reconcile the book with the port before the next decide (start, after PAUSE, after a
        #: temporary failure whose outcome is unknown).
        self.needs_reconcile = True
        #: seconds a placed order may take to become visible to a lookup (bots/resume.py); the
        #: paper exchange answers in-process, so it shows every accepted order at once.
        self.visibility_window = VISIBILITY_WINDOW if spec.mode == "live" else 0.0
        #: open orders with this bot's prefix but no intent, as the last reconcile saw them.
        self.orphans: tuple[str, ...] = ()
        #: why buys are held by the bot itself (insufficient funds), and until when.
        self._funds_hold = ""
        self.hold_until = 0.0
        #: a market/leverage change held while this book's groups live on the old venue
        #: (bots/supervisor.py); once none is open the runner leaves (`handover`) for the new one.
        self.venue_hold = ""
        self.handover = False
        #: live futures: positions closed outside the bot (bots/outside.py).
        self.outside = OutsideWatch()
        self.outside.restore(self.books)  # the count survives a restart
        self._quiet_until = 0.0  # the exchange asked us to wait (Retry-After)
        self.stopped = False
        self._wake = asyncio.Event()
        self._closing = False

    @property
    def hold_reason(self) -> str:
        """What /status shows as held: a held venue change first, else the funds hold."""
        return self.venue_hold or self._funds_hold

    @hold_reason.setter
    def hold_reason(self, reason: str) -> None:
        self._funds_hold = reason

    # ---- the loop ------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the book again from SQLite (another runner of this bot wrote it last)."""
        self.book = self.books.load()
        self.outside.restore(self.books)
        self.needs_reconcile = True

    def set_gate(self, gate: Gate) -> None:
        if gate is not self.gate:
            self.gate = gate
            self.stopped = False
            self._wake.set()

    def close(self) -> None:
        """Finish the current tick, then leave the loop (shutdown: orders stay as they are)."""
        self._closing = True
        self._wake.set()

    def poke(self) -> None:
        """Fresh market data has landed (the hub's round listener): tick now, not at the end of
        the interval. A poke during a tick makes the next tick start right after it."""
        self._wake.set()

    async def run(self) -> None:
        """Tick, then wait for a poke (new market-data round, gate change, close) or at most
        `interval` seconds, whichever comes first."""
        while not self._closing:
            self._wake.clear()  # before the tick: a round landing during it is not lost
            try:
                await self.tick()
            except Exception as e:  # a bug in one tick must not end the bot: log, retry later
                self.needs_reconcile = True
                self.last_error = f"internal error: {type(e).__name__}"
                log_event(log, "ERROR", "bot tick crashed", strategy=self.spec.strategy,
                          error=repr(e)[:200])  # fmt: skip
            if self.gate is Gate.STOP and self.stopped:
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def tick(self) -> None:
        """One pass; errors of the exchange are kept in `last_error`, never raised."""
        now = self.clock()
        self.last_tick_at = now
        if self.gate is Gate.PAUSE:
            self.needs_reconcile = True
            return
        if now < self._quiet_until:
            return  # the exchange asked for a pause (429 Retry-After): no request at all
        try:
            if self.needs_reconcile and not await self.reconcile():
                return  # an order's outcome is still unknown: send nothing until it is
            await self.collect_fills(self.pairs())
            # let every runner a round woke book its fills before any of them decides and sends
            # (a paper port never suspends: one bot's tick would hold up the next bot's fills)
            await asyncio.sleep(0)
            await watch_positions(self, now)
            if self.venue_hold and not self.book.groups:
                self.handover = True  # the old venue holds nothing more: the new runner takes over
                self.close()
                return
            await self._decide_and_send(now)
            # a group closed outside, or an order the exchange refuses (e.g. the account's margin
            # or position mode), stays in view until it is resolved
            self.last_error = (self.outside.note or "; ".join(self._refusals.values()))[:200]
        except (OrderRejected, TradingUnavailable) as e:
            self.needs_reconcile = True
            self.last_error = f"{e.error_class}: {e.detail}"[:200]
            if isinstance(e, TradingUnavailable) and e.retry_after:
                self._quiet_until = self.clock() + min(float(e.retry_after), 300.0)
            log_event(
                log,
                "WARNING",
                "bot tick failed",
                strategy=self.spec.strategy,
                error=self.last_error,
            )
        if self.gate is Gate.STOP and not self.needs_reconcile:
            # A kept take profit is still watched (it can fill and its PnL must be booked);
            # the runner is done once nothing of the bot rests at the exchange.
            self.stopped = not any(g.orders for g in self.book.groups)

    async def _decide_and_send(self, now: float) -> None:
        quotes = self._quotes()
        decision = decide(self.spec.params, self.book, quotes, self.gate, now)
        self.decision = decision
        commands, book = self._held_back(decision.commands, decision.book, now)
        commands, book = await live_checks(self, commands, book, now)
        self._log_changes(book)
        if book != self.book or commands:
            requests = [(c, self._request(c)) for c in commands if isinstance(c, Place)]
            with self._db.transaction():
                for place, request in requests:
                    self.intents.write(place.key, request)
                self.books.save(book, now, self.book)
            self.adopt(book)
        filled_pairs: set[str] = set()
        for command in commands:
            if isinstance(command, Place):
                if await self._place(command):
                    filled_pairs.add(command.pair)
            else:
                await self.cancel(command)
        if filled_pairs:
            await self.collect_fills(sorted(filled_pairs))

    def save_book(self, book: GroupBook, now: float) -> None:
        """Write `book` whole (the rebuild) and take it as the bot's book."""
        self.books.save(book, now)
        self.book = book

    def adopt(self, book: GroupBook) -> None:
        """Take `book` (already saved) as the bot's book; log the groups it closed."""
        if book.closed_groups > self.book.closed_groups:
            open_now = {g.id for g in book.groups}
            pnl = str(book.realized_pnl - self.book.realized_pnl)
            for g in self.book.groups:
                if g.id not in open_now:
                    log_event(log, "INFO", "bot group closed", strategy=self.spec.strategy,
                              mode=self.spec.mode, pair=g.pair, group=g.id,
                              realized_pnl=pnl)  # fmt: skip
        self.book = book

    def _log_changes(self, book: GroupBook) -> None:
        before = {g.id: g for g in self.book.groups}
        for g in book.groups:
            old = before.get(g.id)
            if old is None:
                log_event(log, "INFO", "bot group opened", strategy=self.spec.strategy,
                          mode=self.spec.mode, pair=g.pair, group=g.id)  # fmt: skip
            elif g.recovery_reason is not None and old.recovery_reason is None:
                log_event(log, "INFO", "bot group entered recovery", strategy=self.spec.strategy,
                          mode=self.spec.mode, pair=g.pair, group=g.id,
                          reason=g.recovery_reason.value)  # fmt: skip

    # ---- sending -------------------------------------------------------------------------

    def _held_back(
        self, commands: tuple[OrderCommand, ...], book: GroupBook, now: float
    ) -> tuple[tuple[OrderCommand, ...], GroupBook]:
        """Drop new Places on a pair whose last order was refused less than `reject_backoff`
        ago (e.g. insufficient_funds): the engine would ask again every tick, the exchange would
        refuse again, and every refusal is an intent row."""
        held = {pair for pair, until in self._refused_until.items() if until > now}
        held.update(self.outside.suspects)  # the position may be gone: nothing leaves
        if not held:
            return commands, book
        kept: list[OrderCommand] = []
        for c in commands:
            if isinstance(c, Place) and c.pair in held:
                book = book.cancelled(c.key)
            else:
                kept.append(c)
        return tuple(kept), book

    def _request(self, place: Place) -> OrderRequest:
        """The order to send: an exit (take profit, stop loss) is reduce-only by its purpose,
        whatever the strategy's side is now (a group keeps the side it opened on)."""
        return OrderRequest(
            place.pair,
            Side(place.side.value),
            OrderType(place.type.value),
            place.amount,
            self.intents.client_id(place.key),
            place.price,
            reduce_only=is_exit(place.key),
        )

    async def _place(self, place: Place) -> bool:
        """Send one Place (its intent is committed); True when it filled at once."""
        request = self._request(place)
        why = refusal(self.spec)  # the spec may have changed while an earlier send awaited
        if why is not None:
            self.intents.failed(
                request.client_order_id, OrderRejected(TradingErrorClass.AUTH_REJECTED, why)
            )
            self.forget(place.key)
            return False
        try:  # the intent was committed with the book, before this send
            ack = await self.intents.send(self.port, request, in_process=self._in_process())
        except OrderRejected as e:
            error = f"{e.error_class}: {e.detail}"
            log_event(log, "WARNING", "order rejected", strategy=self.spec.strategy,
                      client_order_id=request.client_order_id, error=error)  # fmt: skip
            self._refused_until[place.pair] = self.clock() + self.reject_backoff
            self._refusals[place.pair] = f"{error} ({place.pair})"
            if request.reduce_only:  # "no position to close"? the position is looked at now
                self.outside.due = 0.0
            self.forget(place.key)
            return False
        except TradingUnavailable:
            self.needs_reconcile = True  # the outcome is unknown until a lookup
            raise
        self._refusals.pop(place.pair, None)
        return ack.state is OrderState.FILLED or ack.filled > 0

    async def cancel(self, cancel: Cancel) -> None:
        cid = self.intents.client_id(cancel.key)
        with self._port_writes():
            try:
                ack = await self.port.cancel(cancel.pair, cid)
            except OrderRejected:
                # Refused: already done (filled, or cancelled by the exchange, e.g. a reduce-only
                # order after a liquidation) or never there: the lookup tells which.
                found = await self.port.fetch_order_by_client_id(cancel.pair, cid)
                if found is None:
                    self.intents.lost(cid)
                    self.forget(cancel.key)
                    return
                ack = found
            self.intents.answered(ack)
            await self.collect_fills([cancel.pair])  # a fill before the cancel counts first
            if ack.state in _GONE:
                self.forget(cancel.key)

    def _in_process(self) -> bool:
        """The port keeps its ledger in our database and never suspends (the paper exchange)."""
        return getattr(self.port, "in_process", False) is True

    @contextmanager
    def _port_writes(self) -> Iterator[None]:
        """One commit for a port call and the runner's writes about it, when the port writes to
        our database in-process (paper: ~5 commits per fill tick instead of ~10). A live port
        talks to the network: nothing is held open across its awaits. Intents are never written
        in here: each is committed before its send (`_decide_and_send`)."""
        if not self._in_process():
            yield
            return
        try:
            with self._db.transaction():
                yield
        except BaseException:
            if not self._db.in_transaction:  # rolled back: the book in memory follows SQLite
                self.book = self.books.load()
            raise

    def forget(self, key: OrderKey) -> None:
        """The exchange does not hold this order (rejected, cancelled, never arrived)."""
        try:
            book = self.book.cancelled(key)
        except KeyError:
            return
        if book != self.book:
            self.books.save(book, self.clock(), self.book)
            self.adopt(book)

    # ---- fills and reconciliation -----------------------------------------------------------

    async def collect_fills(self, pairs: list[str]) -> None:
        for pair in pairs:
            with self._port_writes():  # paper: the settlement and its booking, one commit
                since = self.intents.last_fill_at(pair)
                for fill in await self.port.fills_since(pair, since):
                    apply_fill(self, fill)

    async def reconcile(self) -> bool:
        """Make the book agree with the port (bots/resume.py); False while an order's outcome
        is unknown (looked up again next tick, nothing else sent meanwhile)."""
        done = await reconcile_book(self)
        self.needs_reconcile = not done
        return done

    # ---- inputs and outputs ----------------------------------------------------------------

    def pairs(self) -> list[str]:
        pairs = dict.fromkeys(self.spec.params.pairs)
        pairs.update(dict.fromkeys(g.pair for g in self.book.groups))
        return list(pairs)

    def _quotes(self) -> dict[str, Quote]:
        quotes: dict[str, Quote] = {}
        for pair in self.pairs():
            q, rules = self.market_data.quote(pair), self.rules_of(pair)
            if q is None or rules is None or not q.bid or not q.ask:
                continue
            quotes[pair] = Quote(q.bid, q.ask, rules)
        return quotes

    def snapshot(self) -> BotSnapshot:
        return runner_snapshot(self)
