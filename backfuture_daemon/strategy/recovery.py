"""Recovery Mode and take-profit maths (reference/bots.md §2.3 item 4 — a gated add policy, not
martingale): when a group enters recovery, whether an add improves its average enough, and the
take-profit price that always clears fees. A short group mirrors each rule (drawdown is the price
above its average, an add must raise the average, the take profit buys back below break-even, the
stop sits above the average). Pure functions called by `strategy.engine.decide`.
"""

from __future__ import annotations

from decimal import Decimal

from backfuture_daemon.strategy.groups import Group, RecoveryReason
from backfuture_daemon.strategy.params import HUNDRED, DcaParams, MarketRules, Side


def enters_recovery(group: Group, params: DcaParams, bid: Decimal) -> RecoveryReason | None:
    """The first recovery trigger the group meets now (None: none, or recovery is off).

    Drawdown of `bid` (the exit price: the bid for a long, the ask for a short) from the average
    entry; adds used / max adds; the group's committed quote against its share of the margin
    limit (margin_limit / max_active_groups).
    """
    r = params.recovery
    avg = group.average_price
    if not r.enabled or avg is None:
        return None
    if group.direction.adverse_pct(avg, bid) >= r.drawdown_pct:
        return RecoveryReason.DRAWDOWN
    max_adds = group.sizing.max_adds
    if max_adds > 0 and Decimal(group.adds_used) / max_adds >= r.adds_used_ratio:
        return RecoveryReason.ADDS_USED
    budget = params.group_budget
    if budget > 0 and group.committed_quote / budget >= r.margin_used_ratio:
        return RecoveryReason.MARGIN_USED
    return None


def average_after(held: Decimal, cost: Decimal, price: Decimal, amount: Decimal) -> Decimal:
    """Average entry once `amount` more is bought at `price` (held and cost before)."""
    return (cost + price * amount) / (held + amount)


def improving_add(
    held: Decimal,
    cost: Decimal,
    price: Decimal,
    amount: Decimal,
    min_pct: Decimal,
    side: Side = Side.LONG,
) -> Decimal | None:
    """The improvement of the average (percent) if adding `amount` at `price` moves it by at
    least `min_pct` (and strictly) in the position's favour — lower for a long, higher for a
    short — else None."""
    if held <= 0 or amount <= 0:
        return None
    before = cost / held
    after = average_after(held, cost, price, amount)
    if side is Side.LONG:
        gain = (before - after) / before * HUNDRED
    else:
        gain = (after - before) / before * HUNDRED
    return gain if gain > 0 and gain >= min_pct else None


def break_even_price(group: Group, rules: MarketRules) -> Decimal:
    """The closing price that loses nothing after fees (None-safe: needs a position).

    Long: the lowest sell price, at least average·(1+f)/(1−f) with f the worse fee rate, and at
    least what the fees actually paid on the buys require. Short: the highest buy-back price, at
    most average·(1−f)/(1+f) and at most what the sale's proceeds net of its fees allow.
    """
    avg = group.average_price
    assert avg is not None
    f = rules.fee_rate
    if group.side is Side.SHORT:
        by_rate = avg * (1 - f) / (1 + f)
        by_paid = (group.cost - group.entry_fees) / (group.amount * (1 + f))
        return min(by_rate, by_paid)
    by_rate = avg * (1 + f) / (1 - f)
    by_paid = (group.cost + group.entry_fees) / (group.amount * (1 - f))
    return max(by_rate, by_paid)


def take_profit_price(group: Group, params: DcaParams, rules: MarketRules) -> Decimal:
    """take_profit_pct (recovery's while recovering) above the average, rounded up to the tick,
    and strictly above break-even; for a short, below the average, rounded down, and strictly
    below break-even (never under one tick)."""
    avg = group.average_price
    assert avg is not None
    pct = params.recovery.take_profit_pct if group.in_recovery else group.sizing.take_profit_pct
    floor = break_even_price(group, rules)
    if group.side is Side.SHORT:
        price = rules.price_down(min(avg * (1 - pct / HUNDRED), floor))
        if price >= floor:
            price -= rules.price_tick
        return max(price, rules.price_tick)
    price = rules.price_up(max(avg * (1 + pct / HUNDRED), floor))
    if price <= floor:
        price += rules.price_tick
    return price


def stop_loss_hit(group: Group, bid: Decimal) -> bool:
    """The bid fell stop_loss_pct below the average entry (from the average, not the base); for
    a short, `bid` is the ask and the stop sits stop_loss_pct above the average."""
    sl, avg = group.sizing.stop_loss_pct, group.average_price
    if sl is None or avg is None:
        return False
    d = group.direction
    return d.beyond(bid, d.away(avg, sl))


def recovery_overdue(group: Group, params: DcaParams, now: float) -> bool:
    """In recovery longer than max_duration_h (flagged in the status; nothing is sold)."""
    since = group.recovery_since
    if since is None:
        return False
    return Decimal(str(now - since)) > params.recovery.max_duration_h * 3600
