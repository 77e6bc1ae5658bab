"""Values read from exchange answers, shared by every live trading port (spot and futures):
`dec` (a number, 0 when missing or not finite), `STATES` (ccxt's unified order status -> our
`OrderState`), `ccxt_ack` and `ccxt_fill` (a ccxt unified order / trade as an `OrderAck` /
`Fill`, amounts times a lot)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from backfuture_daemon.exchanges.port import Fill, OrderAck, OrderState, Side

#: ccxt's unified order status -> the port's state (anything else: still open).
STATES = {
    "open": OrderState.OPEN,
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "cancelled": OrderState.CANCELED,
    "expired": OrderState.CANCELED,
    "rejected": OrderState.REJECTED,
}


def dec(value: object) -> Decimal:
    """A number from an exchange answer; 0 for anything missing, empty or not finite."""
    if value is None or isinstance(value, bool):
        return Decimal(0)
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return d if d.is_finite() else Decimal(0)


def seconds(stamp: object) -> float | None:
    """A ccxt timestamp (epoch ms) in epoch seconds; None when there is none."""
    return float(stamp) / 1000.0 if isinstance(stamp, int | float) else None


def ccxt_ack(raw: dict[str, Any], pair: str, cid: str, lot: Decimal = Decimal(1)) -> OrderAck:
    """A ccxt unified order as an `OrderAck` on `pair`; amounts times `lot` (a contract's base
    size; 1 on spot); `cid` when the order names no client id of its own."""
    price, average = raw.get("price"), raw.get("average")
    amount, filled = dec(raw.get("amount")), dec(raw.get("filled"))
    if lot != 1:
        amount, filled = amount * lot, filled * lot
    return OrderAck(
        client_order_id=str(raw.get("clientOrderId") or cid),
        order_id=str(raw.get("id") or ""),
        pair=pair,
        side=Side(str(raw.get("side") or "buy").lower()),
        state=STATES.get(str(raw.get("status")), OrderState.OPEN),
        amount=amount,
        filled=filled,
        price=dec(price) if price else None,
        average_price=dec(average) if average else None,
        timestamp=seconds(raw.get("timestamp")),
    )


def ccxt_fill(
    raw: dict[str, Any],
    pair: str,
    cid: object,
    since: float,
    lot: Decimal = Decimal(1),
    fee_currency: str = "",
) -> Fill:
    """A ccxt unified trade as a `Fill` on `pair` of the order `cid`; the amount times `lot`;
    `fee_currency` when the trade names none; `since` when it has no time."""
    info = raw.get("info") or {}
    fee = raw.get("fee") or {}
    amount = dec(raw.get("amount"))
    stamp = seconds(raw.get("timestamp"))
    return Fill(
        trade_id=str(raw.get("id") or info.get("tradeId") or ""),
        order_id=str(raw.get("order") or info.get("orderId") or ""),
        client_order_id=str(cid) if cid else None,
        pair=pair,
        side=Side(str(raw.get("side") or "buy").lower()),
        price=dec(raw.get("price")),
        amount=amount * lot if lot != 1 else amount,
        fee=dec(fee.get("cost")),
        fee_currency=str(fee.get("currency") or fee_currency),
        timestamp=since if stamp is None else stamp,
    )
