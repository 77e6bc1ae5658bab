"""OKX's order lists on the sandbox, mounted by okx/account.py behind the gateway: open orders
(`GET /api/v5/trade/orders-pending`), fills (`trade/fills`, last 3 days; `fills-history`,
3 months) and completed orders (`orders-history`, 7 days; `orders-history-archive`, 3 months).
As OKX answers them: newest first, at most `limit` (1-100, default 100) rows, paged with `after`
/ `before` (billId for fills, ordId for orders) and `begin` / `end` (ms; fill `ts`, order
`cTime`); `instType` required where OKX requires it; a canceled order without a fill stays in
the history for 2 hours only. Each fill names its order's `clOrdId`. `instType` SPOT lists spot
orders, SWAP the swaps' (sizes in contracts), none (where OKX allows it) both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from backfuture_daemon.sandbox.engine import Fill, Order, decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.okx.gateway import PrivateHandler, fail, ok
from backfuture_daemon.sandbox.okx.market_data import is_swap, spot_instrument, swap_contract
from backfuture_daemon.sandbox.okx.trading import account_of, order_json
from backfuture_daemon.sandbox.venue import venue_of

DAY_MS = 86_400_000
#: OKX keeps a canceled order that never filled in its history for 2 hours.
UNFILLED_CANCELED_MS = 2 * 3_600_000
INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"})
Query = Mapping[str, str]
R = TypeVar("R")


def _int(q: Query, name: str) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise fail("51000", f"Parameter {name} error", 200) from None


def _limit(q: Query) -> int:
    limit = _int(q, "limit")
    if limit is None:
        return 100
    if not 1 <= limit <= 100:
        raise fail("51000", "Parameter limit error", 200)
    return limit


#: the engine's market of each instType the sandbox trades (others list nothing).
_MARKETS = {"SPOT": "spot", "SWAP": "futures"}


def _market(q: Query, required: bool) -> str | None:
    """Which market `instType` asks for: spot, futures (SWAP), "" for a type the sandbox
    never trades, None for every type (no instType where OKX allows that)."""
    inst_type = q.get("instType")
    if not inst_type:
        if required:
            raise fail("50014", "Parameter instType can not be empty.")
        return None
    if inst_type not in INST_TYPES:
        raise fail("51000", "Parameter instType error", 200)
    return _MARKETS.get(inst_type, "")


def _page(rows: Iterable[R], cursor: Callable[[R], int], stamp: Callable[[R], int],
          q: Query) -> list[R]:  # fmt: skip
    """Newest first within begin/end; `after`: older than that cursor; `before`: newer (the
    `limit` closest to it)."""
    after, before = _int(q, "after"), _int(q, "before")
    begin, end = _int(q, "begin"), _int(q, "end")
    kept = [
        r
        for r in rows
        if (after is None or cursor(r) < after)
        and (before is None or cursor(r) > before)
        and (begin is None or stamp(r) >= begin)
        and (end is None or stamp(r) <= end)
    ]
    kept.sort(key=cursor, reverse=True)
    limit = _limit(q)
    return kept[-limit:] if before is not None and after is None else kept[:limit]


def bill_id(f: Fill) -> int:
    """A fill's billId: its engine trade id read as a number (increases with every fill)."""
    return int(f.trade_id, 16)


def fill_json(o: Order, f: Fill) -> dict[str, Any]:
    """One execution as `GET /api/v5/trade/fills` shows it (fee 0: the sandbox charges none);
    a swap's `fillSz` in contracts, its fee in USDT."""
    base, quote = o.symbol.split("/")
    swap = o.market == "futures"
    return {
        "instType": "SWAP" if swap else "SPOT", "instId": o.instrument_id,
        "tradeId": f.trade_id, "ordId": o.id, "clOrdId": o.client_id, "billId": str(bill_id(f)),
        "subType": "1" if o.side == "buy" else "2", "tag": "", "fillPx": decimal_str(f.price),
        "fillSz": decimal_str(f.amount), "fillIdxPx": "", "fillPnl": "0", "fillPxVol": "",
        "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "", "fillMarkPx": "", "side": o.side,
        "posSide": "net", "execType": "M" if f.maker else "T",
        "feeCcy": quote if swap or o.side == "sell" else base, "fee": "0", "ts": str(f.time_ms),
        "fillTime": str(f.time_ms), "feeRate": "0", "tradeQuoteCcy": quote,
    }  # fmt: skip


def _orders(request: web.Request, key: SandboxKey, market: str | None) -> tuple[list[Order], int]:
    """The key's orders on `market` (None: all), of `instId` / `ordId` when given, and the
    venue's now."""
    venue = venue_of(request)
    q = request.query
    acct = account_of(venue, key)
    inst_id = q.get("instId")
    if inst_id:
        (swap_contract if is_swap(inst_id) else spot_instrument)(venue, inst_id)
    order_id = q.get("ordId")
    orders = [
        o
        for o in acct.orders.values()
        if market in (None, o.market)
        and (not inst_id or o.instrument_id == inst_id)
        and (not order_id or o.id == order_id)
    ]
    return orders, venue.now_ms()


def fills(days: int, *, inst_type_required: bool) -> PrivateHandler:
    """`GET /api/v5/trade/fills` (3 days) or `fills-history` (3 months, instType required)."""

    async def handler(request: web.Request, key: SandboxKey) -> web.Response:
        q = request.query
        orders, now = _orders(request, key, _market(q, inst_type_required))
        rows = [(o, f) for o in orders for f in o.fills if f.time_ms >= now - days * DAY_MS]
        page = _page(rows, lambda r: bill_id(r[1]), lambda r: r[1].time_ms, q)
        return ok([fill_json(o, f) for o, f in page])

    return handler


def _listed(o: Order, now: int) -> bool:
    if o.is_open:
        return False
    return o.status == "filled" or bool(o.filled) or o.updated_ms >= now - UNFILLED_CANCELED_MS


async def orders_pending(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v5/trade/orders-pending`: open orders (live, partially filled), newest first."""
    q = request.query
    orders, _ = _orders(request, key, _market(q, False))
    rows = [o for o in orders if o.is_open]
    return ok([order_json(o) for o in _page(rows, lambda o: int(o.id), lambda o: o.created_ms, q)])


def orders_history(days: int) -> PrivateHandler:
    """`GET /api/v5/trade/orders-history` (7 days) or `-archive` (3 months): completed orders;
    `state` filled / canceled, `ordType` filters."""

    async def handler(request: web.Request, key: SandboxKey) -> web.Response:
        q = request.query
        market = _market(q, True)
        state, ord_type = q.get("state"), q.get("ordType")
        if state not in (None, "", "filled", "canceled", "mmp_canceled"):
            raise fail("51000", "Parameter state error", 200)
        orders, now = _orders(request, key, market)
        rows = [
            o
            for o in orders
            if _listed(o, now)
            and o.created_ms >= now - days * DAY_MS
            and (not state or o.status == state)
            and (not ord_type or str(o.extra.get("ordType", o.type)) in ord_type.split(","))
        ]
        page = _page(rows, lambda o: int(o.id), lambda o: o.created_ms, q)
        return ok([order_json(o) for o in page])

    return handler
