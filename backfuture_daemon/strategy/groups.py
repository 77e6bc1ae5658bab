"""The bot's book: groups (deals), their resting orders and fills — immutable values.

Each change returns a new book: `apply` reflects an engine command (a Place rests, a Cancel is
pending until the exchange confirms it with `cancelled`), `fill` applies an execution. The book
computes average entry, adds used, filled cost and committed quote (filled notional of open
positions plus the notional of resting opening orders — buys for a long, sells for a short —
pending cancels included). A short group's `amount` is the base it owes (positive); its `cost` is
the notional it sold. Used by the engine and the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum

from backfuture_daemon.strategy.direction import Direction, direction
from backfuture_daemon.strategy.orders import (
    Cancel,
    OrderCommand,
    OrderKey,
    OrderSide,
    Place,
    Purpose,
)
from backfuture_daemon.strategy.params import ZERO, GroupSizing, Side


class OrderState(Enum):
    OPEN = "open"
    #: a Cancel was issued; the order may still fill until the exchange confirms.
    CANCELLING = "cancelling"


class RecoveryReason(Enum):
    DRAWDOWN = "drawdown"
    ADDS_USED = "adds_used"
    MARGIN_USED = "margin_used"


@dataclass(frozen=True, slots=True)
class RestingOrder:
    key: OrderKey
    side: OrderSide
    price: Decimal | None
    placed_amount: Decimal
    #: what is left to fill.
    amount: Decimal
    state: OrderState = OrderState.OPEN

    @property
    def reserved_quote(self) -> Decimal:
        """Quote a resting buy holds (a long's view; `Group.reserve_of` knows the direction)."""
        if self.side is OrderSide.BUY and self.price is not None:
            return self.price * self.amount
        return ZERO


@dataclass(frozen=True, slots=True)
class Group:
    """One deal on one pair. `cost` is the notional (price × amount) of the position still open
    (base held by a long, base owed by a short); `side` is fixed when the group opens."""

    id: int
    pair: str
    opened_at: float
    sizing: GroupSizing
    base_price: Decimal | None = None
    base_amount: Decimal = ZERO
    amount: Decimal = ZERO
    cost: Decimal = ZERO
    #: fees paid on the buys of the amount still held (quote).
    entry_fees: Decimal = ZERO
    sold_amount: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    filled_adds: tuple[int, ...] = ()
    orders: tuple[RestingOrder, ...] = ()
    serial: int = 0
    recovery_reason: RecoveryReason | None = None
    recovery_since: float | None = None
    side: Side = Side.LONG

    @property
    def direction(self) -> Direction:
        return direction(self.side)

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.amount if self.amount > 0 else None

    @property
    def adds_used(self) -> int:
        return len(self.filled_adds)

    @property
    def next_add_step(self) -> int:
        return (max(self.filled_adds) if self.filled_adds else 0) + 1

    def reserve_of(self, order: RestingOrder) -> Decimal:
        """Quote `order` commits while it rests: an opening order's notional, else nothing."""
        if order.side is self.direction.entry and order.price is not None:
            return order.price * order.amount
        return ZERO

    @property
    def reserved_quote(self) -> Decimal:
        return sum((self.reserve_of(o) for o in self.orders), ZERO)

    @property
    def committed_quote(self) -> Decimal:
        return self.cost + self.reserved_quote

    @property
    def in_recovery(self) -> bool:
        return self.recovery_reason is not None

    @property
    def done(self) -> bool:
        """Closed out (take profit or stop filled) or never opened (the base order is gone)."""
        if self.amount > 0:
            return False
        base_gone = all(o.key.purpose is not Purpose.BASE for o in self.orders)
        return self.sold_amount > 0 or (self.base_price is None and base_gone)

    def open_orders(self, purpose: Purpose | None = None) -> tuple[RestingOrder, ...]:
        return tuple(
            o
            for o in self.orders
            if o.state is OrderState.OPEN and (purpose is None or o.key.purpose is purpose)
        )

    def order(self, key: OrderKey) -> RestingOrder | None:
        return next((o for o in self.orders if o.key == key), None)

    def next_key(self, purpose: Purpose, step: int) -> OrderKey:
        return OrderKey(self.id, purpose, step, self.serial + 1)


@dataclass(frozen=True, slots=True)
class GroupBook:
    """All open groups of one bot, plus what closed groups left behind (PnL, dust)."""

    groups: tuple[Group, ...] = ()
    next_group_id: int = 1
    realized_pnl: Decimal = ZERO
    closed_groups: int = 0
    #: base left unsold by closed groups (below the exchange minimum), per pair; a short's
    #: unbought remainder counts negative.
    dust: tuple[tuple[str, Decimal], ...] = ()

    @property
    def committed_quote(self) -> Decimal:
        return sum((g.committed_quote for g in self.groups), ZERO)

    def group(self, group_id: int) -> Group:
        for g in self.groups:
            if g.id == group_id:
                return g
        raise KeyError(f"no open group {group_id}")

    def group_on(self, pair: str) -> Group | None:
        return next((g for g in self.groups if g.pair == pair), None)

    def open_group(
        self, pair: str, sizing: GroupSizing, now: float, side: Side = Side.LONG
    ) -> tuple[GroupBook, Group]:
        g = Group(id=self.next_group_id, pair=pair, opened_at=now, sizing=sizing, side=side)
        book = replace(self, groups=(*self.groups, g), next_group_id=self.next_group_id + 1)
        return book, g

    def with_group(self, group: Group) -> GroupBook:
        return replace(self, groups=tuple(group if g.id == group.id else g for g in self.groups))

    def apply(self, command: OrderCommand) -> GroupBook:
        """Reflect an engine command: a Place rests, a Cancel waits for the exchange."""
        g = self.group(command.key.group_id)
        if isinstance(command, Place):
            if g.order(command.key) is not None:
                return self
            order = RestingOrder(
                command.key, command.side, command.price, command.amount, command.amount
            )
            g = replace(g, orders=(*g.orders, order), serial=max(g.serial, command.key.serial))
            return self.with_group(g)
        assert isinstance(command, Cancel)
        orders = tuple(
            replace(o, state=OrderState.CANCELLING) if o.key == command.key else o for o in g.orders
        )
        return self.with_group(replace(g, orders=orders))

    def cancelled(self, key: OrderKey) -> GroupBook:
        """The exchange no longer holds the order (cancel confirmed, rejected or expired).
        Confirming an order the book no longer holds changes nothing."""
        if all(g.id != key.group_id for g in self.groups):
            return self
        g = self.group(key.group_id)
        g = replace(g, orders=tuple(o for o in g.orders if o.key != key))
        return self.with_group(g)._settled()

    def fill(self, key: OrderKey, amount: Decimal, price: Decimal, fee_quote: Decimal) -> GroupBook:
        """An execution of `amount` at `price`, paying `fee_quote` (fees converted to quote)."""
        g = self.group(key.group_id)
        o = g.order(key)
        if o is None:
            raise KeyError(f"no resting order {key.tag()} in group {g.id}")
        if amount <= 0 or amount > o.amount:
            raise ValueError(f"fill amount {amount} outside (0, {o.amount}]")
        left = o.amount - amount
        orders = tuple(
            (replace(x, amount=left) if x.key == key else x)
            for x in g.orders
            if x.key != key or left > 0
        )
        g = replace(g, orders=orders)
        g = (
            _bought(g, key, amount, price, fee_quote)
            if o.side is g.direction.entry
            else _sold(g, amount, price, fee_quote)
        )
        return self.with_group(g)._settled()

    def close_dust(self, group_id: int) -> GroupBook:
        """Close a sold group whose remainder is below the exchange minimum (kept as dust)."""
        g = self.group(group_id)
        left = dict(self.dust)
        left[g.pair] = left.get(g.pair, ZERO) + g.direction.sign * g.amount
        g = replace(g, amount=ZERO, cost=ZERO, entry_fees=ZERO)
        book = replace(self.with_group(g), dust=tuple(sorted(left.items())))
        return book._settled()

    def _settled(self) -> GroupBook:
        """Groups that are done and hold no orders leave the book; their PnL stays."""
        gone = [g for g in self.groups if g.done and not g.orders]
        if not gone:
            return self
        return replace(
            self,
            groups=tuple(g for g in self.groups if g not in gone),
            realized_pnl=self.realized_pnl + sum((g.realized_pnl for g in gone), ZERO),
            closed_groups=self.closed_groups + sum(1 for g in gone if g.sold_amount > 0),
        )


def _bought(g: Group, key: OrderKey, amount: Decimal, price: Decimal, fee: Decimal) -> Group:
    """An opening fill (a long's buy, a short's sell): the position and its notional grow."""
    base_price, base_amount = g.base_price, g.base_amount
    if key.purpose is Purpose.BASE:
        base_cost = (base_price or ZERO) * base_amount + price * amount
        base_amount += amount
        base_price = base_cost / base_amount
    adds = g.filled_adds
    if key.purpose is Purpose.ADD and key.step not in adds:
        adds = tuple(sorted((*adds, key.step)))
    return replace(
        g,
        base_price=base_price,
        base_amount=base_amount,
        amount=g.amount + amount,
        cost=g.cost + price * amount,
        entry_fees=g.entry_fees + fee,
        filled_adds=adds,
    )


def _sold(g: Group, amount: Decimal, price: Decimal, fee: Decimal) -> Group:
    """A closing fill (a long's sell, a short's buy-back): PnL is realised on the share closed."""
    # A close can only release what the group holds (a cancelled take profit racing a stop).
    amount = min(amount, g.amount)
    share = amount / g.amount if g.amount > 0 else Decimal(1)
    cost_out = g.cost * share
    fees_out = g.entry_fees * share
    if g.side is Side.LONG:
        pnl = price * amount - fee - cost_out - fees_out
    else:
        pnl = cost_out - price * amount - fee - fees_out
    return replace(
        g,
        amount=g.amount - amount,
        cost=g.cost - cost_out,
        entry_fees=g.entry_fees - fees_out,
        sold_amount=g.sold_amount + amount,
        realized_pnl=g.realized_pnl + pnl,
    )
