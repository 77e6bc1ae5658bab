"""The ladder table: a group's orders for a reference entry price (100), before anything trades.

Per step (0 = base order): deviation %, price, size in quote, cumulative quote, average entry and
take-profit price; plus the total for max_active_groups groups against the margin limit. Exact
decimals, no market rounding. `backfuture validate` and `plan` print `render()` and put `as_dict()`
rows into `--json` as `strategies[].ladder[]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from backfuture_daemon.strategy.params import HUNDRED, ZERO, DcaParams, GroupSizing, dec
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
) -> Ladder:
    rows: list[LadderRow] = []
    cumulative = amount = ZERO
    tp = 1 + sizing.take_profit_pct / HUNDRED
    for step in range(sizing.max_adds + 1):
        deviation = sizing.add_deviation_pct(step) if step else ZERO
        size = sizing.add_size(step) if step else sizing.base_order_quote
        price = reference_price * (1 - deviation / HUNDRED)
        cumulative += size
        amount += size / price
        average = cumulative / amount
        rows.append(LadderRow(step, deviation, price, size, cumulative, average, average * tp))
    return Ladder(tuple(rows), reference_price, max_active_groups, margin_limit)


def ladder_for(params: DcaParams, reference_price: Decimal = HUNDRED) -> Ladder:
    return build_ladder(
        params.sizing,
        max_active_groups=params.max_active_groups,
        margin_limit=params.margin_limit,
        reference_price=reference_price,
    )


def ladder_from_sizing(sizing: Sizing, margin_limit: float, reference_price: float = 100) -> Ladder:
    """For `validate`/`plan`: straight from `Strategy.sizing()` and `Strategy.margin_limit`."""
    params = DcaParams.from_sizing(sizing, pairs=(), margin_limit=margin_limit)
    return ladder_for(params, dec(reference_price))
