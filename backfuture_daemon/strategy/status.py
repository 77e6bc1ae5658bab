"""Per-group status for /status and metrics: prices, adds, committed quote, take profit, mode
(normal | recovery), recovery reason and whether recovery has lasted past max_duration_h.
Built by `strategy.engine.decide` into `Decision.groups`; read by the bots and telemetry layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backfuture_daemon.strategy.groups import Group
from backfuture_daemon.strategy.orders import Purpose
from backfuture_daemon.strategy.params import DcaParams
from backfuture_daemon.strategy.recovery import recovery_overdue


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """What /status and metrics show per group."""

    group_id: int
    pair: str
    opened_at: float
    base_price: Decimal | None
    average_price: Decimal | None
    amount: Decimal
    filled_adds: int
    committed_quote: Decimal
    take_profit_price: Decimal | None
    mode: str
    recovery_reason: str | None
    recovery_since: float | None
    recovery_overdue: bool
    #: Every add level of the group's ladder (from its base fill), filled or not: for charts.
    add_prices: tuple[Decimal, ...] = ()
    #: long | short (a short's adds sit above its base fill, its take profit below the average).
    side: str = "long"


def group_status(g: Group, params: DcaParams, now: float) -> GroupStatus:
    tp = g.open_orders(Purpose.TAKE_PROFIT)
    return GroupStatus(
        group_id=g.id,
        pair=g.pair,
        opened_at=g.opened_at,
        base_price=g.base_price,
        average_price=g.average_price,
        amount=g.amount,
        filled_adds=g.adds_used,
        committed_quote=g.committed_quote,
        take_profit_price=tp[-1].price if tp else None,
        mode="recovery" if g.in_recovery else "normal",
        recovery_reason=g.recovery_reason.value if g.recovery_reason else None,
        recovery_since=g.recovery_since,
        recovery_overdue=recovery_overdue(g, params, now),
        add_prices=_add_levels(g),
        side=g.side.value,
    )


def _add_levels(g: Group) -> tuple[Decimal, ...]:
    if g.base_price is None:
        return ()
    s = g.sizing
    if g.direction.long:
        return tuple(
            g.base_price * (1 - s.add_deviation_pct(step) / 100)
            for step in range(1, s.max_adds + 1)
        )
    return tuple(
        g.base_price * (1 + s.add_deviation_pct(step) / 100) for step in range(1, s.max_adds + 1)
    )
