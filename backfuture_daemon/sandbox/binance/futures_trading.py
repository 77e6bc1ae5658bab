"""Binance USDⓈ-M orders on the sandbox's matching engine: `POST|GET|DELETE /fapi/v1/order`
(place; query and cancel by orderId or origClientOrderId), `GET /fapi/v1/openOrders`,
`GET /fapi/v1/allOrders` and `GET /fapi/v1/userTrades` (oldest first from startTime, at most
1000 a page, startTime..endTime under 7 days), with Binance's fields and codes: -1121 symbol,
-1100 newClientOrderId (`^[.A-Z:/a-z0-9_-]{1,36}$`), -4116 a client id an open order holds,
-1111 quantity/price precision, -4164 notional under MIN_NOTIONAL, -2019 margin, -2022
reduce-only that would open, -4061 orders without positionSide in hedge mode, -2013 / -2011
unknown order. Orders are `market="futures"` engine orders on the key's Binance account (so the
audit route and the shared order faults see them), sized in base, matched at the perpetual's
price (spot × (1 + basis)); fills open isolated positions at the symbol's leverage.

Mounted by binance/futures.py `routes()`; every handler runs behind gateway.private.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.binance.contracts import BY_ID, MIN_NOTIONAL, STEP, contract_of
from backfuture_daemon.sandbox.binance.futures_account import (
    DEFAULT_LEVERAGE,
    account_of,
    check_margin,
    settings,
)
from backfuture_daemon.sandbox.binance.gateway import Params, err
from backfuture_daemon.sandbox.binance.trading import trade_number
from backfuture_daemon.sandbox.engine import Order, UnknownOrder
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.positions import opening_contracts
from backfuture_daemon.sandbox.quotes import perp_price
from backfuture_daemon.sandbox.venue import json_response, venue_of

_MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."
_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_FIRST_ORDER_ID = 8_000_000_000
WEEK_MS = 7 * 86_400_000


def _decimal(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise err(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite() or value <= 0:
        raise err(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


def _int(params: Params, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise err(-1100, f"Illegal characters found in parameter '{name}'.") from None


def _order(request: web.Request, key: SandboxKey, params: Params) -> Order:
    """Validate a new order as `POST /fapi/v1/order` does; nothing touches the engine yet."""
    venue = venue_of(request)
    c = contract_of(venue, params)
    assert c is not None
    if key.frozen:
        raise err(-2010, "This action is disabled on this account.")
    for name in ("side", "type"):
        if not params.get(name):
            raise err(-1102, _MANDATORY.format(name))
    side, kind = params["side"], params["type"]
    if side not in ("BUY", "SELL"):
        raise err(-1117, "Invalid side.")
    if kind not in ("LIMIT", "MARKET"):
        raise err(-1116, "Invalid orderType.")
    cid = params.get("newClientOrderId") or f"sandbox{venue.next_id()}"
    if not _CLIENT_ID.match(cid):
        raise err(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range "
                  "is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")  # fmt: skip
    quantity, price = _decimal(params, "quantity"), _decimal(params, "price")
    if quantity is None:
        raise err(-1102, _MANDATORY.format("quantity"))
    if kind == "LIMIT":
        if price is None:
            raise err(-1102, _MANDATORY.format("price"))
        if not params.get("timeInForce"):
            raise err(-1102, _MANDATORY.format("timeInForce"))
    if quantity % STEP[c.id] or (price is not None and price % c.price_tick):
        raise err(-1111, "Precision is over the maximum defined for this asset.")
    now = venue.now_ms()
    reference = price if kind == "LIMIT" and price else perp_price(venue.engine.feed, c, now)
    reduce_only = (params.get("reduceOnly") or "false").lower() == "true"
    if quantity * reference < MIN_NOTIONAL and not reduce_only:
        raise err(-4164, f"Order's notional must be no smaller than {MIN_NOTIONAL} (unless you "
                  "choose reduce only).")  # fmt: skip
    s = settings(account_of(venue, key))
    position_side = params.get("positionSide") or "BOTH"
    if (position_side == "BOTH") == s.dual:
        raise err(-4061, "Order's position side does not match user's setting.")
    tif = params.get("timeInForce") or "GTC"
    lev = s.leverage.get(c.id, DEFAULT_LEVERAGE)
    return Order(
        id=str(_FIRST_ORDER_ID + venue.next_id()), client_id=cid, symbol=c.underlying,
        side="buy" if side == "BUY" else "sell", type="limit" if kind == "LIMIT" else "market",
        price=price if kind == "LIMIT" else None, amount=quantity, created_ms=now,
        time_in_force=tif if tif in ("IOC", "FOK") else "GTC", post_only=tif == "GTX",
        market="futures", instrument_id=c.id,
        extra={"type": kind, "timeInForce": tif, "multiplier": c.multiplier,
               "leverage_value": Decimal(lev), "reduceOnly": reduce_only,
               "marginMode": "ISOLATED" if c.id in s.isolated else "CROSSED"},
    )  # fmt: skip


def _status(o: Order) -> str:
    if o.status == "open":
        return "PARTIALLY_FILLED" if o.filled else "NEW"
    if o.status == "filled":
        return "FILLED"
    return "EXPIRED" if o.type == "market" or o.time_in_force in ("IOC", "FOK") else "CANCELED"


def order_json(o: Order) -> dict[str, Any]:
    """A futures order as `GET /fapi/v1/order` shows it."""
    kind = str(o.extra.get("type", "LIMIT"))
    return {
        "orderId": int(o.id), "symbol": o.instrument_id, "status": _status(o),
        "clientOrderId": o.client_id, "price": f"{o.price or 0:f}",
        "avgPrice": f"{o.average or 0:f}", "origQty": f"{o.amount:f}",
        "executedQty": f"{o.filled:f}", "cumQty": f"{o.filled:f}", "cumQuote": f"{o.cost:f}",
        "timeInForce": o.extra.get("timeInForce", "GTC"), "type": kind, "origType": kind,
        "reduceOnly": o.extra.get("reduceOnly") is True, "closePosition": False,
        "side": o.side.upper(), "positionSide": "BOTH", "stopPrice": "0",
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
        "time": o.created_ms, "updateTime": o.updated_ms,
    }  # fmt: skip


async def create_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    order = _order(request, key, params)
    acct = account_of(venue, key)
    held = acct.orders.get(acct.by_client_id.get(order.client_id, ""))
    if held is not None and held.is_open:
        raise err(-4116, "ClientOrderId is duplicated.")
    if order.extra["reduceOnly"] is True:
        pos = acct.futures.positions.get(order.instrument_id)
        if opening_contracts(pos, order.side, order.amount) > 0:
            raise err(-2022, "ReduceOnly Order is rejected.")
    check_margin(venue, key, acct, order)
    venue.engine.place(acct, order, order.created_ms)
    return json_response(order_json(order))


def _find(request: web.Request, key: SandboxKey, params: Params) -> tuple[str, str]:
    """(symbol, order id) a query or cancel names; the id is "" when nothing matches."""
    venue = venue_of(request)
    c = contract_of(venue, params)
    assert c is not None
    acct = account_of(venue, key)
    if params.get("orderId"):
        oid = params["orderId"]
    elif params.get("origClientOrderId"):
        oid = acct.by_client_id.get(params["origClientOrderId"], "")
    else:
        raise err(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were "
                  "empty/null!")  # fmt: skip
    o = acct.orders.get(oid)
    return c.id, oid if o is not None and o.market == "futures" and o.instrument_id == c.id else ""


async def get_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    _, oid = _find(request, key, params)
    try:
        order = venue.engine.get(account_of(venue, key), oid, venue.now_ms())
    except UnknownOrder:
        raise err(-2013, "Order does not exist.") from None
    return json_response(order_json(order))


async def cancel_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    _, oid = _find(request, key, params)
    try:
        order = venue.engine.cancel(account_of(venue, key), oid, venue.now_ms())
    except UnknownOrder:
        raise err(-2011, "Unknown order sent.") from None
    return json_response(order_json(order))


def _orders(
    request: web.Request, key: SandboxKey, params: Params
) -> tuple[str | None, list[Order]]:
    venue = venue_of(request)
    c = contract_of(venue, params, required=False)
    acct = account_of(venue, key)
    symbol = c.id if c else None
    rows = [o for o in acct.orders.values()
            if o.market == "futures" and symbol in (None, o.instrument_id)]  # fmt: skip
    return symbol, sorted(rows, key=lambda o: int(o.id))


async def open_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    _, rows = _orders(request, key, params)
    return json_response([order_json(o) for o in rows if o.is_open])


def _window(params: Params) -> tuple[int | None, int | None, int]:
    start, end = _int(params, "startTime"), _int(params, "endTime")
    if start is not None and end is not None and (end < start or end - start >= WEEK_MS):
        raise err(-1127, "More than 7 days between startTime and endTime.")
    limit = _int(params, "limit")
    return start, end, 500 if limit is None else min(1000, max(1, limit))


async def all_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """Oldest first: from orderId or startTime the oldest `limit`, else the newest `limit`."""
    start, end, limit = _window(params)
    symbol, rows = _orders(request, key, params)
    if symbol is None:
        raise err(-1102, _MANDATORY.format("symbol"))
    from_id = _int(params, "orderId")
    rows = [
        o
        for o in rows
        if (from_id is None or int(o.id) >= from_id)
        and (start is None or o.created_ms >= start)
        and (end is None or o.created_ms <= end)
    ]
    forward = from_id is not None or start is not None
    chosen = rows[:limit] if forward else rows[-limit:]
    return json_response([order_json(o) for o in chosen])


async def user_trades(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """The account's executions on a symbol, oldest first (orderId only: no client id)."""
    start, end, limit = _window(params)
    symbol, orders = _orders(request, key, params)
    if symbol is None:
        raise err(-1102, _MANDATORY.format("symbol"))
    from_id = _int(params, "fromId")
    rows = sorted(
        ((o, f) for o in orders for f in o.fills
         if (from_id is None or trade_number(f) >= from_id)
         and (start is None or f.time_ms >= start) and (end is None or f.time_ms <= end)),
        key=lambda pair: (pair[1].time_ms, trade_number(pair[1])),
    )  # fmt: skip
    forward = from_id is not None or start is not None
    chosen = rows[:limit] if forward else rows[-limit:]
    c = BY_ID[symbol]
    return json_response([
        {"buyer": o.side == "buy", "commission": "0", "commissionAsset": "USDT",
         "id": trade_number(f), "maker": f.maker, "orderId": int(o.id), "price": f"{f.price:f}",
         "qty": f"{f.amount * c.multiplier:f}", "quoteQty": f"{f.cost * c.multiplier:f}",
         "realizedPnl": "0", "side": o.side.upper(), "positionSide": "BOTH", "symbol": symbol,
         "time": f.time_ms}
        for o, f in chosen
    ])  # fmt: skip
