"""Which adds a group wants resting now: the next ladder steps, sized and rounded, at most
max_active_adds; in Recovery Mode resized by add_size_multiplier and kept only while each lowers
the average by at least min_avg_improvement_pct (raises it, for a short; or none, if adds_allowed
is none). A long's adds sit below the base fill, a short's above it. Pure; called by
`strategy.engine` (which then diffs them against the resting adds and checks the margin cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backfuture_daemon.strategy.groups import Group
from backfuture_daemon.strategy.orders import Purpose, Skip, SkipReason
from backfuture_daemon.strategy.params import AddsAllowed, DcaParams, MarketRules
from backfuture_daemon.strategy.recovery import improving_add


@dataclass(frozen=True, slots=True)
class WantedAdd:
    step: int
    price: Decimal
    amount: Decimal
    note: str


def wanted_adds(
    g: Group, params: DcaParams, rules: MarketRules
) -> tuple[tuple[WantedAdd, ...], tuple[Skip, ...]]:
    """The adds `g` wants resting (partly filled adds excluded: they keep resting and take a
    slot), and the ones it skips with a reason."""
    if g.base_price is None:
        return (), ()  # adds are measured from the base fill price
    s, rec, d = g.sizing, params.recovery, g.direction
    partial = [o for o in g.open_orders(Purpose.ADD) if o.key.step < g.next_add_step]
    wanted: list[WantedAdd] = []
    skips: list[Skip] = []

    def skip(step: int, why: SkipReason, detail: str) -> None:
        skips.append(Skip(g.pair, Purpose.ADD, step, why, detail, g.id))

    held, cost, step = g.amount, g.cost, g.next_add_step
    if g.in_recovery and rec.adds_allowed is AddsAllowed.NONE:
        if step <= s.max_adds:
            skip(step, SkipReason.RECOVERY_NO_ADDS, "recovery: adds_allowed is none")
        return (), tuple(skips)
    while step <= s.max_adds and len(wanted) + len(partial) < s.max_active_adds:
        price = d.round_away(rules, d.away(g.base_price, s.add_deviation_pct(step)))
        if price <= 0:
            break
        size = s.add_size(step) * (rec.add_size_multiplier if g.in_recovery else 1)
        amount = rules.amount_down(size / price)
        why = rules.below_minimum(amount, price)
        if why:
            skip(step, SkipReason.BELOW_MINIMUM, why)
            step += 1
            continue
        note = f"add {step}"
        if g.in_recovery:
            gain = improving_add(held, cost, price, amount, s.min_avg_improvement_pct, g.side)
            verb = "lower" if d.long else "raise"
            if gain is None:
                skip(
                    step,
                    SkipReason.NO_IMPROVEMENT,
                    f"add {step} at {price} would not {verb} the average by "
                    f"≥ {s.min_avg_improvement_pct} %",
                )
                break
            note = f"recovery add {step}: {verb}s the average by {gain:.4f} %"
        wanted.append(WantedAdd(step, price, amount, note))
        held, cost = held + amount, cost + price * amount
        step += 1
    return tuple(wanted), tuple(skips)
