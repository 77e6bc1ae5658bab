"""The ladder table: a group's orders for a reference entry price (100), before anything trades.

Per step (0 = base order): deviation %, price, size in quote, cumulative quote, average entry and
take-profit price; plus the total for max_active_groups groups against the margin limit. Exact
decimals, no market rounding. A short ladder mirrors a long one: adds above the entry, take profit
below the average. `backfuture validate` and `plan` print `render()` and put `as_dict()`
rows into `--json` as `strategies[].ladder[]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from backfuture_daemon.strategy.direction import direction
from backfuture_daemon.strategy.params import HUNDRED, ZERO, DcaParams, GroupSizing, Side, dec
from backfuture_daemon.strategy.sizing import Sizing

_CENT = Decimal("0.01")


def _r2(x: Decimal) -> float:
    return float(x.quantize(_CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class LadderRow:
    step: int
    deviation_pct: Decimal
    price: Decimal
    size_quote: Decimal
    cumulative_quote: Decimal
    average_price: Decimal
    take_profit_price: Decimal

    def as_dict(self) -> dict[str, int | float]:
        """JSON row, numbers rounded half-up to 2 decimals (the CLI contract's field names)."""
        return {
            "step": self.step,
            "deviation_pct": _r2(self.deviation_pct),
            "price": _r2(self.price),
            "size_quote": _r2(self.size_quote),
            "cumulative_quote": _r2(self.cumulative_quote),
            "average_price": _r2(self.average_price),
            "take_profit_price": _r2(self.take_profit_price),
        }


@dataclass(frozen=True, slots=True)
class Ladder:
    rows: tuple[LadderRow, ...]
    reference_price: Decimal
    max_active_groups: int
    margin_limit: Decimal
    side: Side = Side.LONG

    @property
    def group_quote(self) -> Decimal:
        """Max funds one group commits (the last row's cumulative quote)."""
        return self.rows[-1].cumulative_quote

    @property
    def total_quote(self) -> Decimal:
        return self.group_quote * self.max_active_groups

    @property
    def fits(self) -> bool:
        return self.total_quote <= self.margin_limit

    def as_dict(self) -> list[dict[str, int | float]]:
        return [r.as_dict() for r in self.rows]

    def render(self) -> str:
        head = ("step", "deviation %", "price", "size", "cumulative", "average", "take profit")
        lines = ["  ".join(f"{h:>11}" for h in head)]
        for r in self.rows:
            d = r.as_dict()
            cells = [str(d["step"])] + [f"{d[k]:.2f}" for k in list(d)[1:]]
            lines.append("  ".join(f"{c:>11}" for c in cells))
        verdict = "within" if self.fits else "ABOVE"
        lines.append(
            f"{self.max_active_groups} group(s) × {_r2(self.group_quote):.2f} = "
            f"{_r2(self.total_quote):.2f} {verdict} the margin limit {_r2(self.margin_limit):.2f}"
        )
        return "\n".join(lines)


def build_ladder(
    sizing: GroupSizing,
    *,
    max_active_groups: int,
    margin_limit: Decimal,
    reference_price: Decimal = HUNDRED,
    side: Side = Side.LONG,
) -> Ladder:
    rows: list[LadderRow] = []
    cumulative = amount = ZERO
    d = direction(side)
    tp = 1 + sizing.take_profit_pct / HUNDRED if d.long else 1 - sizing.take_profit_pct / HUNDRED
    for step in range(sizing.max_adds + 1):
        deviation = sizing.add_deviation_pct(step) if step else ZERO
        size = sizing.add_size(step) if step else sizing.base_order_quote
        price = d.away(reference_price, deviation)
        cumulative += size
        amount += size / price
        average = cumulative / amount
        rows.append(LadderRow(step, deviation, price, size, cumulative, average, average * tp))
    return Ladder(tuple(rows), reference_price, max_active_groups, margin_limit, side)


def ladder_for(params: DcaParams, reference_price: Decimal = HUNDRED) -> Ladder:
    return build_ladder(
        params.sizing,
        max_active_groups=params.max_active_groups,
        margin_limit=params.margin_limit,
        reference_price=reference_price,
        side=params.side,
    )


def ladder_warnings(
    ladder: Ladder,
    *,
    stop_loss_pct: Decimal | None = None,
    taker_fee: Decimal | None = None,
    min_notional: Decimal | None = None,
) -> tuple[str, ...]:
    """What reference/bots.md §2.4 asks `validate` to flag about a ladder (empty: nothing).

    Over the margin limit; an add at or below price zero; a take profit that 2 × the taker fee
    eats; an order under 1.05 × the exchange minimum notional; a stop loss (from the average)
    that fires before the next add could fill.
    """
    out: list[str] = []
    rows = ladder.rows
    d = direction(ladder.side)
    if not ladder.fits:
        out.append(
            f"{ladder.max_active_groups} group(s) × {_r2(ladder.group_quote):.2f} = "
            f"{_r2(ladder.total_quote):.2f} exceeds the margin limit {_r2(ladder.margin_limit):.2f}"
        )
    for r in rows:
        if r.price <= 0:
            out.append(f"add {r.step} lies {_r2(r.deviation_pct):.2f} % below entry: at or below 0")
            break
    tp_pct = abs(rows[0].take_profit_price / rows[0].average_price - 1) * HUNDRED
    if taker_fee is not None and tp_pct <= 2 * taker_fee * HUNDRED:
        out.append(f"take profit {_r2(tp_pct):.2f} % does not clear 2 × the taker fee {taker_fee}")
    if min_notional is not None:
        small = [r.step for r in rows if r.size_quote < min_notional * Decimal("1.05")]
        if small:
            steps = ", ".join(map(str, small))
            out.append(f"step(s) {steps} under 1.05 × the exchange minimum notional {min_notional}")
    if stop_loss_pct is not None:
        for i in range(1, len(rows)):
            before, nxt = rows[i - 1], rows[i]
            if d.beyond(nxt.price, d.away(before.average_price, stop_loss_pct)):
                out.append(
                    f"stop loss {stop_loss_pct} % from the average fires before add {nxt.step} "
                    f"({_r2(nxt.deviation_pct):.2f} % {d.adverse_word} entry) can fill"
                )
                break
    return tuple(out)


def ladder_from_sizing(
    sizing: Sizing, margin_limit: float, reference_price: float = 100, side: Side = Side.LONG
) -> Ladder:
    """For `validate`/`plan`: straight from `Strategy.sizing()`, `Strategy.margin_limit` and
    `Strategy.side`."""
    params = DcaParams.from_sizing(sizing, pairs=(), margin_limit=margin_limit, side=side)
    return ladder_for(params, dec(reference_price))
