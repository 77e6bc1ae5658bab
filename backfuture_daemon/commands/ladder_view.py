"""Each strategy's ladder as `backfuture validate` and `backfuture plan` show it: a compact table
under the strategy (entry at 100) and the `strategies[].ladder[]` JSON rows.

Formatting only: the numbers come from strategy.ladder (`ladder_from_sizing`, `ladder_warnings`);
nothing here needs keys, so `validate --no-decrypt` shows ladders too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from backfuture_daemon.strategy.ladder import Ladder, ladder_from_sizing, ladder_warnings
from backfuture_daemon.strategy.params import Side

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Strategy

REFERENCE_PRICE = 100
_HEAD = ("step", "dev %", "price", "size", "cumulative", "average", "take profit")
_FIELDS = (
    "deviation_pct",
    "price",
    "size_quote",
    "cumulative_quote",
    "average_price",
    "take_profit_price",
)


@dataclass(frozen=True, slots=True)
class StrategyLadder:
    """One strategy's ladder; `ladder` is None when its sizing cannot be laid out (`problem`)."""

    name: str
    quote: str
    ladder: Ladder | None
    warnings: tuple[str, ...] = ()
    problem: str = ""


def strategy_ladder(s: Strategy) -> StrategyLadder:
    try:
        side = Side(s.side)
        ladder = ladder_from_sizing(s.sizing(), s.margin_limit, REFERENCE_PRICE, side)
        stop = Decimal(str(s.stop_loss_pct)) if s.stop_loss_pct is not None else None
        warnings = ladder_warnings(ladder, stop_loss_pct=stop)
    except ArithmeticError as e:  # an add at price 0: validation forbids it, never a crash here
        return StrategyLadder(s.name, s.quote, None, problem=type(e).__name__)
    return StrategyLadder(s.name, s.quote, ladder, warnings)


def _money(x: Decimal) -> str:
    """Half-up to cents, as the ladder's JSON rows round (Decimal's own format rounds half-even)."""
    return f"{x.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def total_line(sl: StrategyLadder) -> str:
    """`2 group(s) × 141.88 = 283.75 USDT, within margin_limit 500.00 USDT`."""
    lad = sl.ladder
    if lad is None:
        return f"no ladder: the sizing cannot be laid out ({sl.problem})"
    verdict = "within" if lad.fits else "ABOVE"
    return (
        f"{lad.max_active_groups} group(s) × {_money(lad.group_quote)} = "
        f"{_money(lad.total_quote)} {sl.quote}, {verdict} margin_limit "
        f"{_money(lad.margin_limit)} {sl.quote}"
    )


def table_lines(ladder: Ladder) -> list[str]:
    """Header plus one row per step, columns only as wide as their widest cell."""
    rows: list[tuple[str, ...]] = [_HEAD]
    for row in ladder.as_dict():
        rows.append((str(row["step"]), *(f"{row[k]:.2f}" for k in _FIELDS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    return ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]


def render(sl: StrategyLadder, indent: str = "      ", *, named: bool = False) -> list[str]:
    """The lines shown under a strategy: a title (`named`: with the strategy's name), the table,
    the total against the margin limit, any warnings."""
    name = f'"{sl.name}": ' if named else ""
    if sl.ladder is None:
        return [f"{indent}{name}{total_line(sl)}"]
    side = " (short: adds above the entry)" if sl.ladder.side is Side.SHORT else ""
    lines = [f"{indent}{name}ladder for an entry at {REFERENCE_PRICE}{side} (sizes in {sl.quote}):"]
    lines += [f"{indent}  {line}" for line in table_lines(sl.ladder)]
    lines.append(f"{indent}  {total_line(sl)}")
    lines += [f"{indent}  warning: {w}" for w in sl.warnings]
    return lines


def as_json(sl: StrategyLadder) -> dict[str, Any]:
    """`ladder` rows (step 0 = base order) and `ladder_total` against the margin limit."""
    lad = sl.ladder
    if lad is None:
        return {"ladder": [], "ladder_total": None, "ladder_warnings": [sl.problem]}
    return {
        "ladder": lad.as_dict(),
        "ladder_total": {
            "reference_price": REFERENCE_PRICE,
            "max_active_groups": lad.max_active_groups,
            "group_quote": float(_money(lad.group_quote)),
            "total_quote": float(_money(lad.total_quote)),
            "margin_limit": float(_money(lad.margin_limit)),
            "fits": lad.fits,
        },
        "ladder_warnings": list(sl.warnings),
    }
