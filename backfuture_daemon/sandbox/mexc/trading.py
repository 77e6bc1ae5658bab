"""MEXC spot v3 orders on the sandbox's matching engine: place (and `order/test`), query and
cancel by `orderId` or client order id, open orders, all orders and my trades, with MEXC's codes
for bad precision, min notional, insufficient balance and unknown orders (reference §2.2, §5).

Mounted by mexc/spot.py `routes()`; every handler runs behind gateway.private (auth + scope).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from aiohttp import web

from backfuture_daemon.sandbox.catalogue import Instrument
from backfuture_daemon.sandbox.engine import (
    Fill,
    InsufficientFunds,
    Order,
    UnknownOrder,
    decimal_str,
)
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.mexc.gateway import Params, err
from backfuture_daemon.sandbox.mexc.market_data import instrument, int_param
from backfuture_daemon.sandbox.venue import Venue, json_response, venue_of

_TYPES = {"LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"}


def _decimal(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise err(
            700004, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        ) from None
    if not value.is_finite() or value <= 0:
        raise err(
            700004, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def _check_scale(
    inst: Instrument, quantity: Decimal | None, price: Decimal | None, quote: Decimal | None
) -> None:
    """MEXC refuses more decimals than the pair allows with code 400 (as captured in the wild:
    `{"msg":" amount scale is invalid","code":400}` for a quote amount)."""
    if quantity is not None and quantity % inst.amount_tick:
        raise err(400, "quantity scale is invalid")
    if price is not None and price % inst.price_tick:
        raise err(400, "price scale is invalid")
    if quote is not None and quote % inst.price_tick:
        raise err(400, " amount scale is invalid")


def _order_from_params(venue: Venue, params: Params) -> Order:
    inst = instrument(venue, params)
    assert inst is not None
    if not inst.api_tradable:
        raise err(10007, "symbol not support api")
    side = params.get("side", "").upper()
    otype = params.get("type", "").upper()
    if side not in ("BUY", "SELL"):
        raise err(700004, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
    if otype not in _TYPES:
        raise err(700004, "Mandatory parameter 'type' was not sent, was empty/null, or malformed.")
    quantity = _decimal(params, "quantity")
    quote_qty = _decimal(params, "quoteOrderQty")
    price = _decimal(params, "price")
    market = otype == "MARKET"
    if market and quantity is None and quote_qty is None:
        raise err(
            700004, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
        )
    if not market and (quantity is None or price is None):
        missing = "quantity" if quantity is None else "price"
        raise err(
            700004, f"Mandatory parameter '{missing}' was not sent, was empty/null, or malformed."
        )
    _check_scale(inst, quantity, price, quote_qty)
    if quantity is not None and quantity < inst.min_amount:
        raise err(30002, f"The minimum transaction volume cannot be less than :{inst.min_amount}")
    now = venue.now_ms()
    last = venue.engine.last_price(inst.symbol, now)
    cost = quote_qty if quote_qty is not None else (quantity or Decimal(0)) * (price or last)
    if cost < inst.min_cost:
        raise err(30002, f"The minimum transaction volume cannot be less than :{inst.min_cost}USDT")
    tif = {"IMMEDIATE_OR_CANCEL": "IOC", "FILL_OR_KILL": "FOK"}.get(otype, "GTC")
    seq = venue.next_id()
    return Order(
        id=f"C02__{443776347957968896 + seq}",
        client_id=params.get("newClientOrderId") or "",
        symbol=inst.symbol,
        side="buy" if side == "BUY" else "sell",
        type="market" if market else "limit",
        price=None if market else price,
        amount=quantity if quantity is not None else Decimal(0),
        quote_amount=quote_qty if market else None,
        time_in_force=tif,
        post_only=otype == "LIMIT_MAKER",
        created_ms=now,
        instrument_id=inst.base + inst.quote,
        extra={"type": otype},
    )


_STATUS = {"open": "NEW", "filled": "FILLED", "canceled": "CANCELED"}


def order_json(o: Order) -> dict[str, Any]:
    status = _STATUS[o.status]
    if o.status == "open" and o.filled:
        status = "PARTIALLY_FILLED"
    if o.status == "canceled" and o.filled:
        status = "PARTIALLY_CANCELED"
    return {
        "symbol": o.instrument_id,
        "orderId": o.id,
        "orderListId": "-1",
        "clientOrderId": o.client_id or None,
        "price": decimal_str(o.price) if o.price is not None else "0",
        "origQty": decimal_str(o.amount),
        "executedQty": decimal_str(o.filled),
        "cummulativeQuoteQty": decimal_str(o.cost),
        "status": status,
        "timeInForce": None,
        "type": o.extra.get("type", "LIMIT"),
        "side": o.side.upper(),
        "stopPrice": None,
        "icebergQty": None,
        "time": o.created_ms,
        "updateTime": o.updated_ms,
        "isWorking": o.status == "open",
        "origQuoteOrderQty": decimal_str(o.quote_amount) if o.quote_amount is not None else "0",
    }


async def order_test(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    _order_from_params(venue_of(request), params)  # validates only; never reaches the engine
    return json_response({})


async def create_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    order = _order_from_params(venue, params)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    try:
        venue.engine.place(acct, order, order.created_ms)
    except InsufficientFunds:
        raise err(30004, "Insufficient position") from None
    return json_response(
        {
            "symbol": order.instrument_id,
            "orderId": order.id,
            "orderListId": -1,
            "price": decimal_str(order.price) if order.price is not None else "0",
            "origQty": decimal_str(order.amount),
            "type": order.extra["type"],
            "side": order.side.upper(),
            "transactTime": order.created_ms,
        }
    )


def _order_id(venue: Venue, key: SandboxKey, params: Params) -> str:
    instrument(venue, params)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    if params.get("orderId"):
        return params["orderId"]
    client_id = params.get("origClientOrderId")
    if not client_id:
        raise err(
            700004, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    # An unknown client id is an unknown order (-2013 on query, -2011 on cancel), not a 700004.
    return acct.by_client_id.get(client_id, "")


async def get_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    oid = _order_id(venue, key, params)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    try:
        order = venue.engine.get(acct, oid, venue.now_ms())
    except UnknownOrder:
        raise err(-2013, "Order does not exist.") from None
    return json_response(order_json(order))


async def cancel_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    oid = _order_id(venue, key, params)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    try:
        order = venue.engine.cancel(acct, oid, venue.now_ms())
    except UnknownOrder:
        raise err(-2011, "Unknown order sent.") from None
    return json_response({**order_json(order), "origClientOrderId": order.client_id or None})


async def open_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, params, required=False)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    orders = venue.engine.open_orders(acct, venue.now_ms(), inst.symbol if inst else None)
    return json_response([order_json(o) for o in orders])


async def cancel_open_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, params)
    assert inst is not None
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    now = venue.now_ms()
    done = [
        venue.engine.cancel(acct, o.id, now)
        for o in venue.engine.open_orders(acct, now, inst.symbol)
    ]
    return json_response([order_json(o) for o in done])


T = TypeVar("T")


def _window(params: Params) -> tuple[int | None, int | None]:
    return int_param(params, "startTime", None), int_param(params, "endTime", None)


def _inside(t: int, start: int | None, end: int | None) -> bool:
    return (start is None or t >= start) and (end is None or t <= end)


def _page(rows: list[T], start: int | None, limit: int) -> list[T]:
    """`rows` oldest first: from `startTime` on the OLDEST `limit` (so a client pages forward by
    moving startTime past the last row), without it the most recent `limit`."""
    return rows[:limit] if start is not None else rows[-limit:]


async def all_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`GET /api/v3/allOrders`: the symbol's orders (open and done), oldest first; `limit`
    (default 500, at most 1000) from `startTime`, else the most recent."""
    venue = venue_of(request)
    inst = instrument(venue, params)
    assert inst is not None
    limit = min(1000, max(1, int_param(params, "limit", 500) or 500))
    start, end = _window(params)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    rows = [
        o
        for o in acct.orders.values()
        if o.market == "spot" and o.symbol == inst.symbol and _inside(o.created_ms, start, end)
    ]
    rows.sort(key=lambda o: o.created_ms)  # stable: same-ms orders keep their creation order
    return json_response([order_json(o) for o in _page(rows, start, limit)])


def trade_json(o: Order, f: Fill) -> dict[str, Any]:
    return {
        "symbol": o.instrument_id,
        "id": f.trade_id,
        "orderId": o.id,
        "orderListId": -1,
        "price": decimal_str(f.price),
        "qty": decimal_str(f.amount),
        "quoteQty": decimal_str(f.cost),
        "commission": "0",
        "commissionAsset": o.symbol.split("/")[1],
        "time": f.time_ms,
        "isBuyer": o.side == "buy",
        "isMaker": f.maker,
        "isBestMatch": True,
        "isSelfTrade": False,
        "clientOrderId": o.client_id or None,
    }


async def my_trades(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`GET /api/v3/myTrades`: the symbol's fills (optionally of one `orderId`), oldest first;
    `limit` (default and at most 100) from `startTime`, else the most recent."""
    venue = venue_of(request)
    inst = instrument(venue, params)
    assert inst is not None
    limit = min(100, max(1, int_param(params, "limit", 100) or 100))
    start, end = _window(params)
    order_id = params.get("orderId")
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    rows = sorted(
        (
            (f, o)
            for o in acct.orders.values()
            if o.market == "spot" and o.symbol == inst.symbol and order_id in (None, o.id)
            for f in o.fills
            if _inside(f.time_ms, start, end)
        ),
        key=lambda pair: (pair[0].time_ms, pair[0].trade_id),
    )
    return json_response([trade_json(o, f) for f, o in _page(rows, start, limit)])
