"""Binance spot history on the sandbox's matching engine: `GET /api/v3/myTrades` (the account's
trades on a symbol) and `GET /api/v3/allOrders` (its orders, open and done), with Binance's
paging: `limit` (default 500, at most 1000), oldest first; with `startTime` or `fromId` /
`orderId` the OLDEST `limit` from there (a client pages forward), otherwise the most recent;
`startTime`..`endTime` at most 24 hours (-1127); `fromId` not with a time range and `orderId`
on myTrades not with one (-1128). Trades carry the order id, not the client order id. (Whether
Binance also caps `startTime` alone at 24 hours is not modelled.)

Mounted by binance/spot.py `routes()` behind gateway.private.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from backfuture_daemon.sandbox.binance.gateway import EXCHANGE, Params, err
from backfuture_daemon.sandbox.binance.market_data import instrument
from backfuture_daemon.sandbox.binance.trading import order_json, trade_number
from backfuture_daemon.sandbox.engine import Fill, Order
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import json_response, venue_of

T = TypeVar("T")
DAY_MS = 86_400_000
_COMBINATION = "Combination of optional parameters invalid."


def _int(params: Params, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise err(-1100, f"Illegal characters found in parameter '{name}'.") from None


def _limit(params: Params) -> int:
    limit = _int(params, "limit")
    return 500 if limit is None else min(1000, max(1, limit))


def _range(params: Params) -> tuple[int | None, int | None]:
    start, end = _int(params, "startTime"), _int(params, "endTime")
    if start is not None and end is not None and (end < start or end - start > DAY_MS):
        raise err(-1127, "More than 24 hours between startTime and endTime.")
    return start, end


def _select(
    rows: list[T], stamp: Callable[[T], int], start: int | None, end: int | None,
    forward: bool, limit: int,
) -> list[T]:  # fmt: skip
    """`rows` oldest first, inside the range; the oldest `limit` when paging forward."""
    inside = [r for r in rows if (start is None or stamp(r) >= start)
              and (end is None or stamp(r) <= end)]  # fmt: skip
    return inside[:limit] if forward else inside[-limit:]


def trade_json(o: Order, f: Fill) -> dict[str, Any]:
    return {
        "symbol": o.instrument_id, "id": trade_number(f), "orderId": int(o.id),
        "orderListId": -1, "price": f"{f.price:.8f}", "qty": f"{f.amount:.8f}",
        "quoteQty": f"{f.cost:.8f}", "commission": "0.00000000",
        "commissionAsset": o.symbol.split("/")[1], "time": f.time_ms,
        "isBuyer": o.side == "buy", "isMaker": f.maker, "isBestMatch": True,
    }  # fmt: skip


async def my_trades(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, params)
    assert inst is not None
    start, end = _range(params)
    from_id, order_id = _int(params, "fromId"), params.get("orderId")
    timed = start is not None or end is not None
    if (from_id is not None or order_id) and timed:
        raise err(-1128, _COMBINATION)
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    rows = sorted(
        (
            (o, f)
            for o in acct.orders.values()
            if o.market == "spot" and o.symbol == inst.symbol and order_id in (None, o.id)
            for f in o.fills
            if from_id is None or trade_number(f) >= from_id
        ),
        key=lambda pair: (pair[1].time_ms, trade_number(pair[1])),
    )
    forward = start is not None or from_id is not None
    chosen = _select(rows, lambda pair: pair[1].time_ms, start, end, forward, _limit(params))
    return json_response([trade_json(o, f) for o, f in chosen])


async def all_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, params)
    assert inst is not None
    start, end = _range(params)
    from_order = _int(params, "orderId")
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    rows = sorted(
        (
            o
            for o in acct.orders.values()
            if o.market == "spot" and o.symbol == inst.symbol
            and (from_order is None or int(o.id) >= from_order)
        ),
        key=lambda o: int(o.id),
    )  # fmt: skip
    forward = start is not None or from_order is not None
    chosen = _select(rows, lambda o: o.created_ms, start, end, forward, _limit(params))
    return json_response([order_json(o) for o in chosen])
