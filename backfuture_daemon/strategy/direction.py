"""Which way a group trades: the one place long and short differ (reference/bots.md §2).

A long group buys to open and sells to close; its adds sit below the entry, its take profit above
the average. A short group mirrors it: it sells to open (futures), adds above the entry and buys
back below the average. `Direction` answers every such question with explicit branches, so the
long arithmetic is exactly the arithmetic it always was. Used by `groups`, `adds`, `recovery`,
`engine`, `status` and `ladder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backfuture_daemon.strategy.orders import OrderSide
from backfuture_daemon.strategy.params import HUNDRED, MarketRules, Quote, Side


@dataclass(frozen=True, slots=True)
class Direction:
    side: Side

    @property
    def long(self) -> bool:
        return self.side is Side.LONG

    @property
    def sign(self) -> int:
        """+1 long, −1 short: the sign of the position's PnL per unit of price rise."""
        return 1 if self.long else -1

    @property
    def entry(self) -> OrderSide:
        """The side that opens and adds (it commits quote while it rests)."""
        return OrderSide.BUY if self.long else OrderSide.SELL

    @property
    def exit(self) -> OrderSide:
        """The side that closes (take profit, stop loss)."""
        return OrderSide.SELL if self.long else OrderSide.BUY

    def entry_price(self, q: Quote) -> Decimal:
        """The book price an opening order takes: the ask for a buy, the bid for a sell."""
        return q.ask if self.long else q.bid

    def exit_price(self, q: Quote) -> Decimal:
        """The book price a closing order takes: what the position is worth now."""
        return q.bid if self.long else q.ask

    def worse(self, a: Decimal, b: Decimal) -> bool:
        """`a` is strictly worse than `b` for the position: lower for a long, higher for a short."""
        return a < b if self.long else a > b

    def beyond(self, price: Decimal, level: Decimal) -> bool:
        """`price` has reached `level` in the adverse direction (at or below it for a long)."""
        return price <= level if self.long else price >= level

    def away(self, price: Decimal, pct: Decimal) -> Decimal:
        """`pct` percent adverse of `price`: below it for a long, above it for a short."""
        if self.long:
            return price * (1 - pct / HUNDRED)
        return price * (1 + pct / HUNDRED)

    def toward(self, price: Decimal, pct: Decimal) -> Decimal:
        """`pct` percent in the position's favour: above `price` for a long, below for a short."""
        if self.long:
            return price * (1 + pct / HUNDRED)
        return price * (1 - pct / HUNDRED)

    def adverse_pct(self, reference: Decimal, price: Decimal) -> Decimal:
        """How far `price` has moved against the position from `reference`, percent."""
        if self.long:
            return (reference - price) / reference * HUNDRED
        return (price - reference) / reference * HUNDRED

    def round_away(self, rules: MarketRules, price: Decimal) -> Decimal:
        """To the tick, adverse (an add never sits closer than its ladder step)."""
        return rules.price_down(price) if self.long else rules.price_up(price)

    def round_toward(self, rules: MarketRules, price: Decimal) -> Decimal:
        """To the tick, favourable (a take profit never sits closer than its percent)."""
        return rules.price_up(price) if self.long else rules.price_down(price)

    @property
    def adverse_word(self) -> str:
        return "below" if self.long else "above"

    @property
    def favour_word(self) -> str:
        return "above" if self.long else "below"


LONG = Direction(Side.LONG)
SHORT = Direction(Side.SHORT)


def direction(side: Side) -> Direction:
    return LONG if side is Side.LONG else SHORT


__all__ = ["LONG", "SHORT", "Direction", "direction"]
