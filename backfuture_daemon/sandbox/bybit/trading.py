"""Bybit v5 spot orders on the shared matching engine, mounted by bybit/account.py behind the
gateway: create (`POST /v5/order/create`), cancel by orderId or orderLinkId, real-time orders
(open ones, or one order by id, which includes the recently closed, as Bybit keeps them), order
history and the execution list, each with Bybit's fields (spot rows carry no `createType` or
`tpslMode`) and retCodes: 170136 / 170137 / 170134 / 170140 order rules, 170131 insufficient
balance, 170141 duplicate orderLinkId, 110001 unknown order, 10001 bad parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

import backfuture_daemon.sandbox.bybit.market_data as md
from backfuture_daemon.sandbox.bybit.gateway import EXCHANGE, Params, err, ok
from backfuture_daemon.sandbox.engine import (
    Account,
    Fill,
    InsufficientFunds,
    Order,
    UnknownOrder,
    decimal_str,
)
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import Venue, venue_of

_FIRST_ORDER_ID = 1_900_000_000_000_000_000
#: orderLinkId: "max 36 characters; numbers, letters (upper and lower cases), dashes and
#: underscores" (docs/v5/order/create-order.mdx).
LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
#: "/v5/order/realtime ... a maximum of recent 500 closed status records are kept" per category.
RECENT_CLOSED = 500
_WEEK_MS = 7 * 86_400_000
#: Bybit's spot quote precision (instruments-info `quotePrecision`), for market buys by value.
_QUOTE_TICK = Decimal("0.00000001")
_STATUS = {"open": "New", "filled": "Filled", "canceled": "Cancelled"}


def new_order_id(venue: Venue) -> str:
    """Bybit's order ids: 19-digit numbers, one sequence for spot and linear."""
    return str(_FIRST_ORDER_ID + venue.next_id())


def _account(venue: Venue, key: SandboxKey) -> Account:
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    return acct


def decimal_param(params: Params, name: str, now: int) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise err(10001, f"params error: {name} is invalid", now) from None
    if not value.is_finite() or value <= 0:
        raise err(10001, f"params error: {name} is invalid", now)
    return value


def _spot_only(params: Params, now: int) -> None:
    category = params.get("category")
    if not category:
        raise err(10001, "Missing some parameters that must be filled in, category.", now)
    if category != "spot":
        raise err(10001, "params error: the sandbox takes spot orders only", now)


def _int(params: Params, name: str, default: int | None, low: int, high: int, now: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        if default is None:
            raise err(10001, f"params error: {name} is required", now)
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise err(10001, f"params error: {name} is invalid", now) from None
    if not low <= value <= high:
        raise err(10001, f"params error: {name} is invalid", now)
    return value


def _order_from(venue: Venue, acct: Account, params: Params, now: int) -> Order:
    """Validate one create-order request in Bybit's order: parameters, then the pair's rules."""
    _spot_only(params, now)
    inst = md.spot_instrument(venue, str(params.get("symbol") or ""), "spot")
    if inst is None:
        raise err(10001, "params error: symbol is required", now)
    side, kind = str(params.get("side", "")), str(params.get("orderType", ""))
    if side not in ("Buy", "Sell") or kind not in ("Limit", "Market"):
        raise err(10001, "params error: side or orderType is invalid", now)
    link_id = str(params.get("orderLinkId") or "")
    if link_id and not LINK_ID.match(link_id):
        raise err(10001, "params error: orderLinkId is invalid", now)
    qty, price = decimal_param(params, "qty", now), decimal_param(params, "price", now)
    if qty is None or (kind == "Limit" and price is None):
        raise err(10001, "params error: qty and (for Limit) price are required", now)
    # A spot market Buy counts qty in the quote coin unless marketUnit says baseCoin (§3).
    unit = str(params.get("marketUnit") or "")
    if unit not in ("", "baseCoin", "quoteCoin"):
        raise err(10001, "params error: marketUnit is invalid", now)
    by_value = kind == "Market" and (unit == "quoteCoin" or (not unit and side == "Buy"))
    last = venue.engine.last_price(inst.symbol, now)
    if by_value:
        if qty < inst.min_cost:
            raise err(170140, "Order value exceeded lower limit.", now)
        if qty % _QUOTE_TICK:
            raise err(170148, "Market order amount decimal too long.", now)
    else:
        if qty < inst.min_amount:
            raise err(170136, "Order quantity exceeded lower limit.", now)
        if qty % inst.amount_tick:
            raise err(170137, "Order quantity has too many decimals.", now)
        if price is not None and price % inst.price_tick:
            raise err(170134, "Order price has too many decimals.", now)
        if qty * (price if price is not None else last) < inst.min_cost:
            raise err(170140, "Order value exceeded lower limit.", now)
    if not inst.api_tradable:
        raise err(170130, "Data sent for paramter '%s' is not valid.", now)
    if link_id and link_id in acct.by_client_id:
        raise err(170141, "Duplicate clientOrderId", now)
    tif = str(params.get("timeInForce") or ("IOC" if kind == "Market" else "GTC"))
    if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
        raise err(10001, "params error: timeInForce is invalid", now)
    return Order(
        id=new_order_id(venue), client_id=link_id, symbol=inst.symbol,
        side="buy" if side == "Buy" else "sell", type="limit" if kind == "Limit" else "market",
        price=price if kind == "Limit" else None, amount=Decimal(0) if by_value else qty,
        quote_amount=qty if by_value else None, created_ms=now, instrument_id=md.bybit_id(inst),
        time_in_force="GTC" if tif == "PostOnly" else tif, post_only=tif == "PostOnly",
        extra={"qty": decimal_str(qty), "timeInForce": tif,
               "marketUnit": ("quoteCoin" if by_value else "baseCoin") if kind == "Market" else ""},
    )  # fmt: skip


async def create_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    acct = _account(venue, key)
    order = _order_from(venue, acct, params, now)
    try:
        venue.engine.place(acct, order, now)
    except InsufficientFunds:
        raise err(170131, "Insufficient balance.", now) from None
    return ok({"orderId": order.id, "orderLinkId": order.client_id}, now)


def order_json(o: Order) -> dict[str, Any]:
    """One spot order as `GET /v5/order/realtime` and `/v5/order/history` list it."""
    status = _STATUS[o.status]
    qty = str(o.extra.get("qty", decimal_str(o.amount)))
    leaves = qty if o.is_open else "0"
    leaves_value = decimal_str(o.amount * o.price) if o.is_open and o.price else "0"
    return {
        "orderId": o.id, "orderLinkId": o.client_id, "blockTradeId": "",
        "symbol": o.instrument_id, "price": decimal_str(o.price) if o.price else "0",
        "qty": qty, "side": "Buy" if o.side == "buy" else "Sell", "isLeverage": "0",
        "positionIdx": 0, "orderStatus": status,
        "cancelType": "CancelByUser" if o.status == "canceled" else "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": decimal_str(o.average) if o.average is not None else "",
        "leavesQty": leaves, "leavesValue": leaves_value, "cumExecQty": decimal_str(o.filled),
        "cumExecValue": decimal_str(o.cost), "cumExecFee": "0", "cumFeeDetail": {},
        "timeInForce": str(o.extra.get("timeInForce", o.time_in_force)),
        "orderType": "Limit" if o.type == "limit" else "Market", "stopOrderType": "",
        "orderIv": "", "marketUnit": str(o.extra.get("marketUnit", "")),
        "triggerPrice": "0.00", "takeProfit": "0.00", "stopLoss": "0.00", "tpTriggerBy": "",
        "slTriggerBy": "", "triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "",
        "reduceOnly": False, "closeOnTrigger": False, "placeType": "", "smpType": "None",
        "smpGroup": 0, "smpOrderId": "", "tpLimitPrice": "0", "slLimitPrice": "0",
        "createdTime": str(o.created_ms), "updatedTime": str(o.updated_ms or o.created_ms),
    }  # fmt: skip


def _symbol(venue: Venue, params: Params) -> str | None:
    inst = md.spot_instrument(venue, str(params.get("symbol") or ""), "spot")
    return inst.symbol if inst else None


def _orders(acct: Account, symbol: str | None, market: str) -> Iterable[Order]:
    return (o for o in acct.orders.values() if o.market == market and symbol in (None, o.symbol))


def _recent_closed(acct: Account, symbol: str | None, market: str) -> list[Order]:
    closed = [o for o in acct.orders.values() if o.market == market and not o.is_open]
    closed.sort(key=lambda o: (o.updated_ms, o.id), reverse=True)
    return [o for o in closed[:RECENT_CLOSED] if symbol in (None, o.symbol)]


def by_id(acct: Account, params: Params) -> str | None:
    """The order id named by `orderId` (wins) or `orderLinkId`; "" when unknown; None: neither."""
    order_id, link_id = str(params.get("orderId") or ""), str(params.get("orderLinkId") or "")
    if order_id:
        return order_id if order_id in acct.orders else ""
    if link_id:
        return acct.by_client_id.get(link_id, "")
    return None


#: `limit` of order lists (default, most) and of the execution list
ORDER_LIMIT, EXECUTION_LIMIT = (20, 50), (50, 100)


def page(
    venue: Venue,
    params: Params,
    rows: list[dict[str, Any]],
    limits: tuple[int, int],
    category: str = "spot",
) -> web.Response:
    """One page of `rows` (`limit`: `limits` = (default, most)) from `cursor` (an offset the
    sandbox hands out; opaque to clients); `nextPageCursor` is "" on the last page, which ends
    ccxt's pagination."""
    now = venue.now_ms()
    limit = _int(params, "limit", limits[0], 1, limits[1], now)
    start = _int(params, "cursor", 0, 0, 10**9, now)
    chosen = rows[start : start + limit]
    more = start + limit < len(rows)
    return ok(
        {"category": category, "list": chosen,
         "nextPageCursor": str(start + limit) if more else ""},
        now,
    )  # fmt: skip


def realtime_orders(
    acct: Account, params: Params, symbol: str | None, market: str, now: int
) -> list[Order]:
    """`GET /v5/order/realtime`: open orders, newest first; `openOnly=1` the recently closed;
    by `orderId` / `orderLinkId` the one order open or recently closed (openOnly ignored)."""
    wanted = by_id(acct, params)
    recent = _recent_closed(acct, symbol, market)
    if wanted is not None:
        order = acct.orders.get(wanted) if wanted else None
        kept = order is not None and order.market == market
        kept = kept and order is not None and (order.is_open or wanted in {o.id for o in recent})
        return [order] if order is not None and kept and symbol in (None, order.symbol) else []
    if str(params.get("openOnly") or "0") in ("1", "2"):
        return recent
    return [o for o in reversed(list(_orders(acct, symbol, market))) if o.is_open]


async def realtime(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    _spot_only(params, now)
    symbol = _symbol(venue, params)
    rows = realtime_orders(_account(venue, key), params, symbol, "spot", now)
    return page(venue, params, [order_json(o) for o in rows], ORDER_LIMIT)


def _window(params: Params, now: int) -> tuple[int, int]:
    """Bybit's time window: at most 7 days; only `startTime` -> the 7 days after it; only
    `endTime` -> the 7 days before it; neither -> the last 7 days."""
    start = _int(params, "startTime", -1, 0, 10**15, now)
    end = _int(params, "endTime", -1, 0, 10**15, now)
    if start >= 0 and end >= 0:
        if end < start or end - start > _WEEK_MS:
            raise err(10001, "params error: The time range must be within 7 days", now)
        return start, end
    if start >= 0:
        return start, start + _WEEK_MS
    if end >= 0:
        return end - _WEEK_MS, end
    return now - _WEEK_MS, now


def history_orders(
    acct: Account, params: Params, symbol: str | None, market: str, now: int
) -> list[Order]:
    """`GET /v5/order/history`: orders no longer open, newest first, created inside the window
    (by `orderId` / `orderLinkId`: that order, whenever it was created)."""
    start, end = _window(params, now)
    wanted = by_id(acct, params)
    done = [o for o in _orders(acct, symbol, market) if not o.is_open]
    if wanted is not None:
        return [o for o in done if o.id == wanted]
    return [o for o in reversed(done) if start <= o.created_ms <= end]


async def history(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    _spot_only(params, now)
    symbol = _symbol(venue, params)
    rows = history_orders(_account(venue, key), params, symbol, "spot", now)
    return page(venue, params, [order_json(o) for o in rows], ORDER_LIMIT)


def execution_json(o: Order, f: Fill, seq: int) -> dict[str, Any]:
    """One fill as `GET /v5/execution/list` shows it (spot: no createType; the fee coin in
    `feeCurrency`; the sandbox charges no fee)."""
    base, quote = o.symbol.split("/")
    return {
        "symbol": o.instrument_id, "orderId": o.id, "orderLinkId": o.client_id,
        "side": "Buy" if o.side == "buy" else "Sell",
        "orderPrice": decimal_str(o.price) if o.price else "0",
        "orderQty": str(o.extra.get("qty", decimal_str(o.amount))), "leavesQty": "0",
        "orderType": "Limit" if o.type == "limit" else "Market", "stopOrderType": "",
        "execFee": "0", "execFeeV2": "", "execId": f.trade_id, "execPrice": decimal_str(f.price),
        "execQty": decimal_str(f.amount), "execType": "Trade", "execValue": decimal_str(f.cost),
        "execTime": str(f.time_ms), "feeCurrency": base if o.side == "buy" else quote,
        "isMaker": f.maker, "feeRate": "0", "tradeIv": "", "markIv": "", "markPrice": "",
        "indexPrice": "", "underlyingPrice": "", "blockTradeId": "", "closedSize": "",
        "seq": seq, "extraFees": "",
    }  # fmt: skip


def executed(
    acct: Account, params: Params, symbol: str | None, market: str, now: int
) -> list[tuple[Fill, Order]]:
    """`GET /v5/execution/list`: the account's fills inside the window, newest first."""
    start, end = _window(params, now)
    exec_type = params.get("execType")
    wanted = by_id(acct, params)
    fills = [
        (f, o)
        for o in _orders(acct, symbol, market)
        if wanted is None or o.id == wanted
        for f in o.fills
        if start <= f.time_ms <= end and exec_type in (None, "", "Trade")
    ]
    fills.sort(key=lambda pair: (pair[0].time_ms, pair[0].trade_id), reverse=True)
    return fills


async def executions(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    _spot_only(params, now)
    symbol = _symbol(venue, params)
    fills = executed(_account(venue, key), params, symbol, "spot", now)
    rows = [execution_json(o, f, int(f.trade_id, 16) % 10**9) for f, o in fills]
    return page(venue, params, rows, EXECUTION_LIMIT)


async def cancel(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`POST /v5/order/cancel` by `orderId` or `orderLinkId`: an unknown order, or one already
    filled or cancelled, is 110001."""
    venue = venue_of(request)
    now = venue.now_ms()
    _spot_only(params, now)
    symbol = _symbol(venue, params)
    if symbol is None:
        raise err(10001, "params error: symbol is required", now)
    acct = _account(venue, key)
    wanted = by_id(acct, params)
    if wanted is None:
        raise err(10001, "params error: orderId or orderLinkId is required", now)
    found = acct.orders.get(wanted)
    try:
        if found is None or found.symbol != symbol or found.market != "spot":
            raise UnknownOrder(wanted)
        order = venue.engine.cancel(acct, wanted, now)
    except UnknownOrder:
        raise err(110001, "Order does not exist.", now) from None
    return ok({"orderId": order.id, "orderLinkId": order.client_id}, now)
