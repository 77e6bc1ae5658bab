"""The paper exchange's arithmetic, pure: fee rates, walking an order book, and the checks a live
venue makes before it accepts an order (precision, minimum amount and notional).

Used by bots/paper.py on every placement; no I/O, so each rule is tested on its own numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backfuture_daemon.exchanges.port import (
    OrderRejected,
    OrderRequest,
    OrderType,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.strategy.params import MarketRules

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PaperFees:
    """Fee rates as fractions of the cost (0.001 = 0.1 %), charged in the quote currency."""

    maker: Decimal = Decimal("0.001")
    taker: Decimal = Decimal("0.001")


#: 0.1 % maker and taker, when the market's own rates are not known.
DEFAULT_FEES = PaperFees()


def split_pair(pair: str) -> tuple[str, str]:
    base, _, quote = pair.partition("/")
    if not base or not quote:
        raise OrderRejected(TradingErrorClass.ORDER_REJECTED, f"bad pair {pair!r}")
    return base, quote.split(":")[0]


def walk_book(
    levels: tuple[tuple[Decimal, Decimal], ...], amount: Decimal, cap: Decimal, side: Side
) -> Decimal:
    """VWAP of `amount` taken from `levels` (best first). A book too thin for the amount fills the
    rest at its last level; the price is capped `cap` (fraction) away from the best level, as
    freqtrade's dry-run does."""
    if not levels:
        raise TradingUnavailable(TradingErrorClass.EXCHANGE_UNAVAILABLE, "empty order book")
    left, cost = amount, ZERO
    for price, size in levels:
        take = min(left, size)
        cost += take * price
        left -= take
        if left <= 0:
            break
    if left > 0:
        cost += left * levels[-1][0]
    vwap = cost / amount
    best = levels[0][0]
    if side is Side.BUY:
        return min(vwap, best * (1 + cap))
    return max(vwap, best * (1 - cap))


def order_problem(order: OrderRequest, rules: MarketRules, reference: Decimal | None) -> str | None:
    """Why a live venue would refuse this order (None: it would take it). `reference` prices a
    market order's notional (the best opposite price)."""
    if order.amount % rules.amount_step:
        return f"amount {order.amount} is not a multiple of the step {rules.amount_step}"
    if order.type is OrderType.LIMIT and order.price is not None and order.price % rules.price_tick:
        return f"price {order.price} is not a multiple of the tick {rules.price_tick}"
    price = order.price if order.type is OrderType.LIMIT else reference
    if price is None:
        return None
    return rules.below_minimum(order.amount, price)
