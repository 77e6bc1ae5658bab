"""Binance spot orders on the sandbox's matching engine: the order test (validated, never
matched), place, query and cancel by `orderId` or client order id, and open orders, with
Binance's codes and bodies (-1013 filter failures, -2010 rejections, -2011/-2013 unknown order).

Mounted by binance/spot.py `routes()`; every handler runs behind gateway.private (auth + flag).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.binance.gateway import EXCHANGE, Params, err
from backfuture_daemon.sandbox.binance.market_data import instrument
from backfuture_daemon.sandbox.engine import Fill, InsufficientFunds, Order, UnknownOrder
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import Venue, json_response, venue_of

_MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."
_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_FIRST_ORDER_ID = 4_000_000_000
_STATUS = {"open": "NEW", "filled": "FILLED", "canceled": "CANCELED"}


def _positive(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise err(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite() or value <= 0:
        raise err(-1013, f"Invalid {name}.")
    return value


def trade_number(f: Fill) -> int:
    """A fill's Binance trade id: a 64-bit integer as Binance's (the engine's hex id, reduced
    below 2^53 so every JSON parser reads it exactly)."""
    return int(f.trade_id, 16) % 10**12


def _q(value: Decimal | None) -> str:
    return f"{value or Decimal(0):.8f}"


def order_from_params(venue: Venue, key: SandboxKey, params: Params) -> Order:
    """Validate an order as `POST /api/v3/order` does (symbol, side, type, sizes, filters,
    client id) and build it; nothing touches the engine yet."""
    inst = instrument(venue, params)
    assert inst is not None
    if key.frozen:
        raise err(-2010, "This action is disabled on this account.")
    if not inst.api_tradable:
        raise err(-2010, "This symbol is not permitted for this account.")
    for name in ("side", "type"):
        if not params.get(name):
            raise err(-1102, _MANDATORY.format(name))
    side, kind = params["side"], params["type"]
    if side not in ("BUY", "SELL"):
        raise err(
            -1100, "Illegal characters found in parameter 'side'; legal range is 'BUY', 'SELL'."
        )
    client_id = params.get("newClientOrderId", "")
    if client_id and not _CLIENT_ID.match(client_id):
        raise err(
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; "
            "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )
    quantity, quote_qty = _positive(params, "quantity"), _positive(params, "quoteOrderQty")
    price = _positive(params, "price")
    now = venue.now_ms()
    if kind == "MARKET":
        if quantity is None and quote_qty is None:
            raise err(
                -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            )
        last = venue.engine.last_price(inst.symbol, now)
        notional = quote_qty if quote_qty is not None else (quantity or Decimal(0)) * last
    elif kind in ("LIMIT", "LIMIT_MAKER"):
        for name, value in (("quantity", quantity), ("price", price)):
            if value is None:
                raise err(-1102, _MANDATORY.format(name))
        if kind == "LIMIT" and not params.get("timeInForce"):
            raise err(-1102, _MANDATORY.format("timeInForce"))
        assert quantity is not None
        assert price is not None
        if price % inst.price_tick:
            raise err(-1013, "Filter failure: PRICE_FILTER")
        notional = quantity * price
    else:
        raise err(-1116, "Invalid orderType.")
    if quantity is not None and (quantity < inst.min_amount or quantity % inst.amount_tick):
        raise err(-1013, "Filter failure: LOT_SIZE")
    if notional < inst.min_cost:
        raise err(-1013, "Filter failure: NOTIONAL")
    market = kind == "MARKET"
    tif = params.get("timeInForce", "GTC")
    return Order(
        id=str(_FIRST_ORDER_ID + venue.next_id()),
        client_id=client_id,
        symbol=inst.symbol,
        side="buy" if side == "BUY" else "sell",
        type="market" if market else "limit",
        price=None if market else price,
        amount=quantity if quantity is not None else Decimal(0),
        quote_amount=quote_qty if market else None,
        time_in_force=tif if tif in ("IOC", "FOK") else "GTC",
        post_only=kind == "LIMIT_MAKER",
        created_ms=now,
        instrument_id=inst.base + inst.quote,
        extra={"type": kind, "timeInForce": "GTC" if market else tif},
    )


def order_json(o: Order) -> dict[str, Any]:
    """`GET /api/v3/order` (and the RESULT part of a new order's answer)."""
    status = _STATUS[o.status]
    if o.status == "open" and o.filled:
        status = "PARTIALLY_FILLED"
    if o.status == "canceled" and o.type == "limit" and o.time_in_force in ("IOC", "FOK"):
        status = "EXPIRED"
    return {
        "symbol": o.instrument_id, "orderId": int(o.id), "orderListId": -1,
        "clientOrderId": o.client_id, "price": _q(o.price), "origQty": _q(o.amount),
        "executedQty": _q(o.filled), "cummulativeQuoteQty": _q(o.cost), "status": status,
        "timeInForce": o.extra.get("timeInForce", "GTC"), "type": o.extra.get("type", "LIMIT"),
        "side": o.side.upper(), "stopPrice": _q(None), "icebergQty": _q(None),
        "time": o.created_ms, "updateTime": o.updated_ms, "isWorking": o.status == "open",
        "workingTime": o.created_ms, "origQuoteOrderQty": _q(o.quote_amount),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }  # fmt: skip


async def order_test(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`POST /api/v3/order/test`: validates like an order, stops before the engine: `{}`."""
    order_from_params(venue_of(request), key, params)
    if params.get("computeCommissionRates", "false").lower() == "true":
        rate = "0.00100000"
        return json_response(
            {"standardCommissionForOrder": {"maker": rate, "taker": rate},
             "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
             "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                          "discountAsset": "BNB", "discount": "0.25000000"}}
        )  # fmt: skip
    return json_response({})


async def create_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    order = order_from_params(venue, key, params)
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    if order.client_id and order.client_id in acct.by_client_id:
        existing = acct.orders.get(acct.by_client_id[order.client_id])
        if existing is not None and existing.is_open:
            raise err(-2010, "Duplicate order sent.")
    try:
        venue.engine.place(acct, order, order.created_ms)
    except InsufficientFunds:
        raise err(-2010, "Account has insufficient balance for requested action.") from None
    kind = params.get("newOrderRespType") or (
        "FULL" if order.extra["type"] in ("MARKET", "LIMIT") else "ACK"
    )
    ack = {"symbol": order.instrument_id, "orderId": int(order.id), "orderListId": -1,
           "clientOrderId": order.client_id, "transactTime": order.created_ms}  # fmt: skip
    if kind == "ACK":
        return json_response(ack)
    body = {**order_json(order), **ack}
    if kind == "FULL":
        body["fills"] = [
            {"price": _q(f.price), "qty": _q(f.amount), "commission": _q(None),
             "commissionAsset": order.symbol.split("/")[1], "tradeId": trade_number(f)}
            for f in order.fills
        ]  # fmt: skip
    return json_response(body)


def _find(venue: Venue, key: SandboxKey, params: Params) -> str:
    """The spot order a query or cancel names ("" when none: USDⓈ-M orders of the same account,
    futures_trading.py, are not spot's)."""
    instrument(venue, params)
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    if params.get("orderId"):
        oid = params["orderId"]
    else:
        client_id = params.get("origClientOrderId")
        if not client_id:
            raise err(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were "
                      "empty/null!")  # fmt: skip
        oid = acct.by_client_id.get(client_id, "")
    order = acct.orders.get(oid)
    return oid if order is None or order.market == "spot" else ""


async def get_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    oid = _find(venue, key, params)
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    try:
        order = venue.engine.get(acct, oid, venue.now_ms())
    except UnknownOrder:
        raise err(-2013, "Order does not exist.") from None
    return json_response(order_json(order))


async def cancel_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    oid = _find(venue, key, params)
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    try:
        order = venue.engine.cancel(acct, oid, venue.now_ms())
    except UnknownOrder:
        raise err(-2011, "Unknown order sent.") from None
    body = order_json(order)
    body["origClientOrderId"] = order.client_id
    body["transactTime"] = venue.now_ms()
    return json_response(body)


async def open_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, params, required=False)
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    orders = venue.engine.open_orders(acct, venue.now_ms(), inst.symbol if inst else None)
    return json_response([order_json(o) for o in orders if o.market == "spot"])
