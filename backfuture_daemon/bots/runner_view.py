"""What one bot runner shows: its `BotSnapshot` for /status and the metrics.

Called by `BotRunner.snapshot()` (bots/runner.py), which the supervisor calls on every scrape;
reads the runner's book, decision, intents, latest quotes and its count of groups closed outside
the bot (bots/outside.py), changes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from backfuture_daemon.bots.spec import BotSnapshot
from backfuture_daemon.strategy.status import group_status

if TYPE_CHECKING:
    from backfuture_daemon.bots.runner import BotRunner


def runner_snapshot(r: BotRunner) -> BotSnapshot:
    d = r.decision
    now = r.last_tick_at if r.last_tick_at is not None else r.clock()
    return BotSnapshot(
        strategy=r.spec.strategy,
        connection=r.spec.connection,
        mode=r.spec.mode,
        gate=r.gate.value,
        groups=tuple(group_status(g, r.spec.params, now) for g in r.book.groups),
        committed_quote=r.book.committed_quote,
        margin_limit=r.spec.params.margin_limit,
        orders=r.intents.counts(),
        realized_pnl=r.book.realized_pnl,
        closed_groups=r.book.closed_groups,
        skipped=d.skipped if d is not None else (),
        last_tick_at=r.last_tick_at,
        last_error=r.last_error,
        prices=_mids(r),
        orphan_orders=r.orphans,
        hold_reason=r.hold_reason,
        side=r.spec.params.side.value,
        closed_outside=r.outside.closed,
        closed_outside_at=r.outside.last_at,
    )


def _mids(r: BotRunner) -> dict[str, Decimal]:
    mids: dict[str, Decimal] = {}
    for pair in r.pairs():
        q = r.market_data.quote(pair)
        if q is not None and q.bid and q.ask:
            mids[pair] = (q.bid + q.ask) / 2
    return mids
