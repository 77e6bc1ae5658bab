"""Positions closed outside the bot (a liquidation, or a hand close on the exchange): a live
futures bot compares the exchange's position of each pair with what its open groups hold, and a
group the exchange no longer backs is closed in the book instead of being managed as a phantom.

When: on every reconcile, after the exchange refused a reduce-only order (KuCoin 300009 "no open
positions"), and every CHECK_INTERVAL seconds. How, per pair whose groups hold base (all on one
side): fills are applied, the position is read, fills are applied again (a fill in between makes
the round inconclusive: looked at again next tick). When the exchange holds less than the book
(nothing, the other side, or a smaller size), the pair is SUSPECT: no Place leaves for it
(bots/runner.py `_held_back`) and the bot waits `visibility_window` seconds (a fill the position
already shows may not be listed yet: a take profit that just filled must be booked as one). Still
short after that, every group on the pair is CLOSED OUTSIDE: its resting orders are cancelled
(their fills applied first; any new fill makes it wait again), the group leaves the book with a
realised loss estimated at the exit-side quote, never worse than its isolated margin (cost /
leverage) plus entry fees, a WARNING is logged, `closed` counts it and `note` (shown in /status as
`last_error`) says what happened. Nothing is ever placed for such a group again; whatever position
the exchange still holds of it is left to the user (named in the note). Called by bots/runner.py.

The closed rows are marked `closed_outside` in SQLite by the same save (bots/books.py), and
`OutsideWatch.restore` reads the count back when a runner starts or reloads: `closed` is the
book's lifetime count (BotSnapshot.closed_outside, /status, the metric
backfuture_bot_positions_closed_outside_total, the alert BotPositionClosedOutside).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from backfuture_daemon.logs import log_event
from backfuture_daemon.strategy.groups import Group
from backfuture_daemon.strategy.orders import Cancel
from backfuture_daemon.strategy.params import Side

if TYPE_CHECKING:
    from backfuture_daemon.bots.books import BookStore
    from backfuture_daemon.bots.runner import BotRunner

log = logging.getLogger("backfuture.bots")
#: seconds between two looks at the positions of a live futures bot holding base.
CHECK_INTERVAL = 5.0
ZERO = Decimal(0)


@runtime_checkable
class PositionReader(Protocol):
    """A trading port that can read a futures position (exchanges/live_ports.ConnectionPort)."""

    def position(self, pair: str) -> Awaitable[Decimal | None]: ...


@dataclass(slots=True)
class OutsideWatch:
    """One runner's watch: when to look next, suspect pairs (since when), what was closed
    (`closed` groups ever, the last at `last_at`, the runner's clock)."""

    due: float = 0.0
    suspects: dict[str, float] = field(default_factory=dict)
    closed: int = 0
    note: str = ""
    last_at: float | None = None

    def restore(self, books: BookStore) -> None:
        """The count (and last time) as SQLite keeps it: at start, and after another runner of
        this bot wrote the book."""
        self.closed, self.last_at = books.closed_outside()


def _signed(g: Group) -> Decimal:
    return g.amount if g.side is Side.LONG else -g.amount


def _estimate(runner: BotRunner, g: Group) -> Decimal:
    """The group's realised loss (or gain): marked at the exit-side quote, floored at its
    isolated margin plus entry fees (what a liquidation takes)."""
    floor = -(g.cost / max(runner.spec.leverage, 1)) - g.entry_fees
    q = runner.market_data.quote(g.pair)
    price = (q.bid if g.side is Side.LONG else q.ask) if q is not None else None
    if price is None or g.amount <= 0:
        return floor
    value = price * g.amount
    marked = (value - g.cost if g.side is Side.LONG else g.cost - value) - g.entry_fees
    return max(marked, floor)


async def watch_positions(runner: BotRunner, now: float) -> None:
    """Look at the positions when due (see the module's docstring)."""
    port = runner.port
    watch = runner.outside
    if runner.spec.mode != "live" or runner.spec.market != "futures" or now < watch.due:
        return
    if not isinstance(port, PositionReader):
        return
    watch.due = now + CHECK_INTERVAL
    for pair in sorted({g.pair for g in runner.book.groups if g.amount > 0}):
        groups = [g for g in runner.book.groups if g.pair == pair and g.amount > 0]
        if len({g.side for g in groups}) != 1:
            continue  # a long and a short on one one-way position: not comparable
        before = runner.book
        held = await port.position(pair)
        await runner.collect_fills([pair])
        if held is None:
            watch.suspects.pop(pair, None)
            continue
        if runner.book != before:
            watch.due = now  # inconclusive: a fill landed meanwhile (a suspect stays one)
            continue
        book_net = sum((_signed(g) for g in groups), ZERO)
        ours = held if (held > 0) == (book_net > 0) else ZERO
        if abs(ours) >= abs(book_net):
            watch.suspects.pop(pair, None)
            continue
        since = watch.suspects.setdefault(pair, now)
        if since == now:
            log_event(log, "WARNING", "futures position smaller than the book: holding the "
                      "pair's orders while confirming", strategy=runner.spec.strategy, pair=pair,
                      book=str(book_net), exchange=str(held))  # fmt: skip
        if now - since < runner.visibility_window:
            watch.due = min(watch.due, since + runner.visibility_window)
            continue
        await _close_outside(runner, pair, groups, held, now)


async def _close_outside(
    runner: BotRunner, pair: str, groups: list[Group], held: Decimal, now: float
) -> None:
    """Cancel the groups' resting orders, then close the groups in the book (see the module)."""
    watch = runner.outside
    for g in groups:
        for o in g.orders:
            await runner.cancel(Cancel(o.key, pair, "position closed outside the bot"))
    book = runner.book
    current = [x for x in book.groups if x.id in {g.id for g in groups}]
    if [(x.id, x.amount) for x in current] != [(g.id, g.amount) for g in groups]:
        watch.due = now  # a fill came with the cancels: the book moved, look again
        return
    if any(x.orders for x in current):
        watch.due = now  # a cancel is not confirmed yet
        return
    pnl = sum((x.realized_pnl + _estimate(runner, x) for x in current), ZERO)
    gone = {x.id for x in current}
    closed = replace(
        book,
        groups=tuple(x for x in book.groups if x.id not in gone),
        realized_pnl=book.realized_pnl + pnl,
        closed_groups=book.closed_groups + len(current),
    )
    runner.books.save(closed, now, book, outside=gone)
    runner.adopt(closed)
    watch.suspects.pop(pair, None)
    watch.closed += len(current)
    watch.last_at = now
    left = f"; the exchange still holds {held} of it: left to you" if held else ""
    watch.note = (
        f"position_closed_outside: {pair} group(s) {', '.join(str(i) for i in sorted(gone))} "
        f"closed outside the bot (liquidated or closed by hand), realised {pnl} "
        f"{runner.spec.quote_currency} (estimated){left}; {watch.closed} so far"
    )[:300]
    log_event(log, "WARNING", "bot group closed outside the bot (liquidated or closed by hand)",
              strategy=runner.spec.strategy, pair=pair, groups=sorted(gone),
              realized_pnl=str(pnl), exchange_position=str(held),
              closed_outside=watch.closed)  # fmt: skip


__all__ = ["CHECK_INTERVAL", "OutsideWatch", "PositionReader", "watch_positions"]
