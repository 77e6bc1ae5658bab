"""The book as plain data and back: `book_to_data(book)` gives dicts, lists, str, int, float and
None only (decimals as exact strings), ready for json or a SQLite text column; `book_from_data`
rebuilds the identical book. Pure (no json, no I/O: the caller serialises). Used by the bots layer
to persist a bot's book (paper and live) and by its restart path. A short group carries
`"side": "short"` and its book is written as version 2, which a daemon that predates short
refuses rather than misreading it as long; a book of long groups keeps version 1 and its exact
shape (a group without the key is long).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backfuture_daemon.strategy.groups import (
    Group,
    GroupBook,
    OrderState,
    RecoveryReason,
    RestingOrder,
)
from backfuture_daemon.strategy.orders import OrderKey, OrderSide, Purpose
from backfuture_daemon.strategy.params import GroupSizing, Side

#: bump when the shape changes; `book_from_data` refuses other versions.
VERSION = 1
#: a book holding a short group (a version-1 reader would take it for long).
SHORT_VERSION = 2

_SIZING_DECIMALS = (
    "base_order_quote",
    "add_order_quote",
    "step_pct",
    "step_scale",
    "volume_scale",
    "take_profit_pct",
    "min_avg_improvement_pct",
)
_GROUP_DECIMALS = ("base_amount", "amount", "cost", "entry_fees", "sold_amount", "realized_pnl")


def _s(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _d(x: Any) -> Decimal | None:
    return None if x is None else Decimal(str(x))


def _dd(x: Any) -> Decimal:
    return Decimal(str(x))


def book_to_data(book: GroupBook) -> dict[str, Any]:
    short = any(g.side is not Side.LONG for g in book.groups)
    return {
        "version": SHORT_VERSION if short else VERSION,
        "next_group_id": book.next_group_id,
        "realized_pnl": str(book.realized_pnl),
        "closed_groups": book.closed_groups,
        "dust": [[pair, str(amount)] for pair, amount in book.dust],
        "groups": [_group_to_data(g) for g in book.groups],
    }


def book_from_data(data: dict[str, Any]) -> GroupBook:
    if data.get("version") not in (VERSION, SHORT_VERSION):
        raise ValueError(
            f"book data version {data.get('version')!r}, expected {VERSION} or {SHORT_VERSION}"
        )
    return GroupBook(
        groups=tuple(_group_from_data(g) for g in data["groups"]),
        next_group_id=int(data["next_group_id"]),
        realized_pnl=_dd(data["realized_pnl"]),
        closed_groups=int(data["closed_groups"]),
        dust=tuple((str(pair), _dd(amount)) for pair, amount in data["dust"]),
    )


def _group_to_data(g: Group) -> dict[str, Any]:
    s = g.sizing
    sizing: dict[str, Any] = {k: str(getattr(s, k)) for k in _SIZING_DECIMALS}
    sizing.update(
        max_adds=s.max_adds, max_active_adds=s.max_active_adds, stop_loss_pct=_s(s.stop_loss_pct)
    )
    out: dict[str, Any] = {
        "id": g.id,
        "pair": g.pair,
        "opened_at": g.opened_at,
        "sizing": sizing,
        "base_price": _s(g.base_price),
        "filled_adds": list(g.filled_adds),
        "orders": [_order_to_data(o) for o in g.orders],
        "serial": g.serial,
        "recovery_reason": g.recovery_reason.value if g.recovery_reason else None,
        "recovery_since": g.recovery_since,
    }
    out.update({k: str(getattr(g, k)) for k in _GROUP_DECIMALS})
    if g.side is not Side.LONG:
        out["side"] = g.side.value
    return out


def _group_from_data(d: dict[str, Any]) -> Group:
    s = d["sizing"]
    sizing = GroupSizing(
        **{k: _dd(s[k]) for k in _SIZING_DECIMALS},
        max_adds=int(s["max_adds"]),
        max_active_adds=int(s["max_active_adds"]),
        stop_loss_pct=_d(s["stop_loss_pct"]),
    )
    reason = d["recovery_reason"]
    since = d["recovery_since"]
    return Group(
        id=int(d["id"]),
        pair=str(d["pair"]),
        opened_at=float(d["opened_at"]),
        sizing=sizing,
        base_price=_d(d["base_price"]),
        filled_adds=tuple(int(i) for i in d["filled_adds"]),
        orders=tuple(_order_from_data(o) for o in d["orders"]),
        serial=int(d["serial"]),
        recovery_reason=None if reason is None else RecoveryReason(reason),
        recovery_since=None if since is None else float(since),
        side=Side(str(d.get("side", Side.LONG.value))),
        **{k: _dd(d[k]) for k in _GROUP_DECIMALS},
    )


def _order_to_data(o: RestingOrder) -> dict[str, Any]:
    return {
        "key": [o.key.group_id, o.key.purpose.value, o.key.step, o.key.serial],
        "side": o.side.value,
        "price": _s(o.price),
        "placed_amount": str(o.placed_amount),
        "amount": str(o.amount),
        "state": o.state.value,
    }


def _order_from_data(d: dict[str, Any]) -> RestingOrder:
    group_id, purpose, step, serial = d["key"]
    return RestingOrder(
        key=OrderKey(int(group_id), Purpose(purpose), int(step), int(serial)),
        side=OrderSide(d["side"]),
        price=_d(d["price"]),
        placed_amount=_dd(d["placed_amount"]),
        amount=_dd(d["amount"]),
        state=OrderState(d["state"]),
    )
