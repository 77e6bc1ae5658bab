"""Positions of linear USDT perpetuals in isolated margin, one book per sandbox account: fills
open, add to, reduce, close or flip a position; margin is locked at entry/leverage; the mark is
the underlying's price; a position whose mark crosses its liquidation price is closed and loses
its margin. Exchange-neutral numbers; kucoin/futures.py renders them as KuCoin does.

The engine (engine.py) feeds fills in and asks for liquidations on every look at an account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backfuture_daemon.sandbox.engine import Account

ZERO = Decimal(0)
#: KuCoin's maintenance margin rate for the sandbox's contracts ("maintainMargin" in the list)
MAINT_RATE = Decimal("0.004")


@dataclass(slots=True)
class Position:
    instrument_id: str  #: the venue's contract id (XBTUSDTM)
    symbol: str  #: the underlying spot symbol whose price is the mark
    multiplier: Decimal  #: base amount of one contract
    leverage: Decimal = Decimal(1)
    qty: Decimal = ZERO  #: signed contracts: > 0 long, < 0 short
    entry: Decimal = ZERO  #: average entry price
    margin: Decimal = ZERO  #: isolated margin locked (initial margin of the open quantity)
    realised: Decimal = ZERO  #: realised PnL of this contract (closes and liquidations)
    opened_ms: int = 0
    checked_ms: int = 0  #: liquidation looked at up to here
    liquidations: list[int] = field(default_factory=list)  #: times it was liquidated

    @property
    def is_open(self) -> bool:
        return self.qty != 0

    @property
    def cost(self) -> Decimal:
        """Signed entry value (posCost): negative for a short."""
        return self.entry * self.qty * self.multiplier

    def unrealised(self, mark: Decimal) -> Decimal:
        return (mark - self.entry) * self.qty * self.multiplier

    def maintenance(self) -> Decimal:
        return abs(self.cost) * MAINT_RATE

    def bankrupt_price(self) -> Decimal | None:
        """Where the loss equals the margin."""
        if not self.qty:
            return None
        return self.entry - self.margin / (self.qty * self.multiplier)

    def liquidation_price(self) -> Decimal | None:
        """Where the loss leaves only the maintenance margin."""
        if not self.qty:
            return None
        return self.entry - (self.margin - self.maintenance()) / (self.qty * self.multiplier)

    def fill(
        self, side: str, contracts: Decimal, price: Decimal, leverage: Decimal, t: int
    ) -> None:
        """Apply one fill: same direction adds (averaging the entry), the other way reduces and
        realises PnL, and what exceeds the position opens the opposite side."""
        delta = contracts if side == "buy" else -contracts
        if not self.qty or (self.qty > 0) == (delta > 0):
            self._add(delta, price, leverage, t)
            return
        closing = min(abs(delta), abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.realised += (price - self.entry) * closing * self.multiplier * direction
        self.margin -= self.margin * closing / abs(self.qty)
        self.qty -= closing * direction
        if not self.qty:
            self.entry = self.margin = ZERO
        rest = abs(delta) - closing
        if rest:
            self._add(rest if delta > 0 else -rest, price, leverage, t)

    def _add(self, delta: Decimal, price: Decimal, leverage: Decimal, t: int) -> None:
        if not self.qty:
            self.leverage, self.opened_ms, self.checked_ms = leverage, t, t
        size = abs(self.qty) + abs(delta)
        self.entry = (self.entry * abs(self.qty) + price * abs(delta)) / size
        self.margin += abs(delta) * self.multiplier * price / self.leverage
        self.qty += delta

    def liquidate(self, t: int) -> None:
        """Closed by the exchange: the isolated margin is lost."""
        self.realised -= self.margin
        self.qty = self.entry = self.margin = ZERO
        self.liquidations.append(t)


@dataclass(slots=True)
class PositionBook:
    """One account's perpetual positions by contract id."""

    positions: dict[str, Position] = field(default_factory=dict)

    def get(self, instrument_id: str, symbol: str, multiplier: Decimal) -> Position:
        pos = self.positions.get(instrument_id)
        if pos is None:
            pos = self.positions[instrument_id] = Position(instrument_id, symbol, multiplier)
        return pos

    def open(self) -> list[Position]:
        return [p for p in self.positions.values() if p.is_open]

    def realised(self) -> Decimal:
        return sum((p.realised for p in self.positions.values()), ZERO)

    def margin(self) -> Decimal:
        return sum((p.margin for p in self.positions.values()), ZERO)


def opening_contracts(pos: Position | None, side: str, contracts: Decimal) -> Decimal:
    """How much of an order would open exposure (the rest only reduces the position)."""
    if pos is None or not pos.qty or (pos.qty > 0) == (side == "buy"):
        return contracts
    return max(ZERO, contracts - abs(pos.qty))


def closable(pos: Position | None, side: str) -> Decimal:
    """How many contracts an order on `side` can close (what a reduce-only order may fill)."""
    if pos is None or not pos.qty or (pos.qty > 0) == (side == "buy"):
        return ZERO
    return abs(pos.qty)


def order_margin(acct: Account) -> Decimal:
    """Margin held by the account's resting futures orders: the part of each that would open or
    add to a position (opening_contracts), × the contract's multiplier (1 where the venue sizes
    in base), at the order's price and leverage. One account belongs to one exchange."""
    total = ZERO
    for oid in acct.open_ids:
        o = acct.orders[oid]
        multiplier = o.extra.get("multiplier", Decimal(1))
        leverage = o.extra.get("leverage_value")
        if o.market != "futures" or o.price is None or not isinstance(leverage, Decimal):
            continue
        assert isinstance(multiplier, Decimal)
        pos = acct.futures.positions.get(o.instrument_id)
        opening = opening_contracts(pos, o.side, o.amount - o.filled)
        total += opening * multiplier * o.price / leverage
    return total
