"""Order commands: what the engine asks the bot runner to do (Place | Cancel), and skips.

Every Place carries a deterministic `OrderKey` (group, purpose, step, serial) from which the runner
derives the client order id, so a command re-issued after a crash maps to the same exchange order.
Produced by `strategy.engine.decide`; reflected in the book by `strategy.groups.GroupBook.apply`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum


class Purpose(Enum):
    BASE = "base"
    ADD = "add"
    TAKE_PROFIT = "take_profit"
    STOP = "stop"

    @property
    def code(self) -> str:
        """One letter for compact client order ids (MEXC allows 32 characters)."""
        return {"base": "b", "add": "a", "take_profit": "t", "stop": "s"}[self.value]


class OrderSide(Enum):
    BUY = "buy"
    SELL = "sell"


class OrderType(Enum):
    LIMIT = "limit"
    MARKET = "market"


@dataclass(frozen=True, slots=True, order=True)
class OrderKey:
    """Identity of one order: `step` is 0 for the base, the add number for adds, the number of adds
    filled when a take profit was placed; `serial` counts the group's Places, so re-placing the
    same (purpose, step) never reuses a client order id."""

    group_id: int
    purpose: Purpose
    step: int
    serial: int

    def tag(self) -> str:
        """Compact and unique within a bot, e.g. "g12a3n7"; the runner prefixes the bot's id."""
        return f"g{self.group_id}{self.purpose.code}{self.step}n{self.serial}"


@dataclass(frozen=True, slots=True)
class Place:
    key: OrderKey
    pair: str
    side: OrderSide
    type: OrderType
    amount: Decimal
    #: limit price; None for a market order.
    price: Decimal | None
    #: why (for logs and /status), e.g. "recovery add improves the average by 0.42 %".
    note: str = ""

    @property
    def reserved_quote(self) -> Decimal:
        """Quote this order holds while it rests (buys only; a sell reserves base, not quote)."""
        if self.side is OrderSide.BUY and self.price is not None:
            return self.price * self.amount
        return Decimal(0)


@dataclass(frozen=True, slots=True)
class Cancel:
    key: OrderKey
    pair: str
    reason: str = ""


OrderCommand = Place | Cancel


class SkipReason(Enum):
    BELOW_MINIMUM = "below_minimum"
    MARGIN_CAP = "margin_cap"
    MAX_ACTIVE_GROUPS = "max_active_groups"
    NO_QUOTE = "no_quote"
    NO_IMPROVEMENT = "no_improvement"
    RECOVERY_NO_ADDS = "recovery_no_adds"
    PAIR_IN_RECOVERY = "pair_in_recovery"


@dataclass(frozen=True, slots=True)
class Skip:
    """An order the engine wanted but did not send, and why (shown in /status, never retried
    blindly: the next decide re-evaluates it from scratch)."""

    pair: str
    purpose: Purpose
    step: int
    reason: SkipReason
    detail: str
    group_id: int | None = None
