"""KuCoin spot orders on the sandbox's matching engine, classic (`/api/v1/orders`) and HF
(`/api/v1/hf/orders`): place (and test), query and cancel by id or `clientOid`, open and done
lists, and fills (`/api/v1/fills`, `/api/v1/hf/fills`), with KuCoin's codes for bad increments,
min size and funds, insufficient balance and unknown orders (reference §4.2, §6).

Mounted by kucoin/spot.py `routes()`; every handler runs behind gateway.private.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

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
from backfuture_daemon.sandbox.kucoin.gateway import fail, ok, parse_body
from backfuture_daemon.sandbox.kucoin.market_data import instrument, kucoin_id
from backfuture_daemon.sandbox.kucoin.paging import classic_page, hf_page, window
from backfuture_daemon.sandbox.venue import Venue, venue_of


def _decimal(body: dict[str, Any], name: str) -> Decimal | None:
    raw = body.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise fail("400100", f"{name} invalid") from None
    if not value.is_finite() or value <= 0:
        raise fail("400100", f"{name} invalid")
    return value


def _check_increments(inst: Instrument, size: Decimal | None, price: Decimal | None) -> None:
    """Sizes and prices must be whole multiples of baseIncrement / priceIncrement."""
    if size is not None and size % inst.amount_tick:
        raise fail("400100", "Order size increment invalid.")
    if price is not None and price % inst.price_tick:
        raise fail("400100", "Price increment invalid.")


def order_from_body(venue: Venue, body: dict[str, Any]) -> Order:
    inst = instrument(venue, body.get("symbol"))
    if not inst.api_tradable:
        raise fail("126009", "Trading pair is suspended from creating orders", 200)
    side, otype = body.get("side"), body.get("type", "limit")
    if side not in ("buy", "sell") or otype not in ("limit", "market"):
        raise fail("400100", "Parameter Error")
    if not body.get("clientOid"):
        raise fail("400100", "validation.createOrder.clientOidIsRequired")
    size, funds, price = _decimal(body, "size"), _decimal(body, "funds"), _decimal(body, "price")
    if otype == "limit" and (size is None or price is None):
        raise fail("400100", "Parameter Error")
    if otype == "market" and size is None and funds is None:
        raise fail("400100", "Parameter Error")
    _check_increments(inst, size, price)
    if size is not None and size < inst.min_amount:
        raise fail("400100", "Order size below the minimum requirement.")
    if otype == "limit" and size is not None and price is not None and size * price < inst.min_cost:
        raise fail("400100", f"The order amount must exceed {inst.min_cost} {inst.quote}")
    tif = body.get("timeInForce", "GTC")
    now = venue.now_ms()
    return Order(
        id=f"{0x6705F5C311545B0000000000 + venue.next_id():024x}",
        client_id=str(body["clientOid"]),
        symbol=inst.symbol,
        side=side,
        type=otype,
        price=price if otype == "limit" else None,
        amount=size or Decimal(0),
        quote_amount=funds if otype == "market" else None,
        time_in_force=tif if tif in ("GTC", "GTT", "IOC", "FOK") else "GTC",
        post_only=bool(body.get("postOnly")),
        created_ms=now,
        instrument_id=kucoin_id(inst),
    )


def order_json(o: Order, *, hf: bool) -> dict[str, Any]:
    active = o.status == "open"
    data: dict[str, Any] = {
        "id": o.id,
        "clientOid": o.client_id,
        "symbol": o.instrument_id,
        "opType": "DEAL",
        "type": o.type,
        "side": o.side,
        "price": decimal_str(o.price) if o.price is not None else "0",
        "size": decimal_str(o.amount),
        "funds": decimal_str(o.quote_amount) if o.quote_amount is not None else "0",
        "dealSize": decimal_str(o.filled),
        "dealFunds": decimal_str(o.cost),
        "fee": "0",
        "feeCurrency": "USDT",
        "stp": "",
        "timeInForce": o.time_in_force,
        "postOnly": o.post_only,
        "hidden": False,
        "iceberg": False,
        "visibleSize": "0",
        "cancelAfter": 0,
        "channel": "API",
        "remark": None,
        "tags": None,
        "cancelExist": o.status == "canceled",
        "createdAt": o.created_ms,
        "tradeType": "TRADE",
    }
    if hf:
        data["active"] = active
        data["inOrderBook"] = active
        data["cancelledSize"] = decimal_str(o.amount - o.filled) if o.status == "canceled" else "0"
        data["cancelledFunds"] = "0"
        data["remainSize"] = decimal_str(o.amount - o.filled) if active else "0"
        data["remainFunds"] = "0"
        data["lastUpdatedAt"] = o.updated_ms
    else:
        data["isActive"] = active
    return data


async def order_test(request: web.Request, key: SandboxKey) -> web.Response:
    order = order_from_body(venue_of(request), parse_body(request))  # never reaches the engine
    return ok({"orderId": order.id, "clientOid": order.client_id})


def _place(request: web.Request, key: SandboxKey) -> Order:
    venue = venue_of(request)
    order = order_from_body(venue, parse_body(request))
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    if order.client_id in acct.by_client_id:
        raise fail("126044", "clientOid duplicate", 200)
    try:
        venue.engine.place(acct, order, order.created_ms)
    except InsufficientFunds:
        raise fail("200004", "Balance insufficient!", 200) from None
    return order


async def create_order(request: web.Request, key: SandboxKey) -> web.Response:
    return ok({"orderId": _place(request, key).id})


async def create_order_hf(request: web.Request, key: SandboxKey) -> web.Response:
    order = _place(request, key)
    return ok({"orderId": order.id, "clientOid": order.client_id})


def _lookup(request: web.Request, key: SandboxKey, *, cancel: bool, hf: bool) -> Order:
    venue = venue_of(request)
    if hf:
        instrument(venue, request.query.get("symbol"))
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    oid = request.match_info.get("order_id") or acct.by_client_id.get(
        request.match_info.get("client_oid", ""), ""
    )
    try:
        if cancel:
            return venue.engine.cancel(acct, oid, venue.now_ms())
        return venue.engine.get(acct, oid, venue.now_ms())
    except UnknownOrder:
        if cancel:
            raise fail("400100", "order_not_exist_or_not_allow_to_cancel") from None
        raise fail("400100", "order not exist.", 404) from None


async def cancel_order(request: web.Request, key: SandboxKey) -> web.Response:
    order = _lookup(request, key, cancel=True, hf=False)
    return ok({"cancelledOrderIds": [order.id]})


async def cancel_order_hf(request: web.Request, key: SandboxKey) -> web.Response:
    order = _lookup(request, key, cancel=True, hf=True)
    return ok({"orderId": order.id})


async def cancel_order_by_client(request: web.Request, key: SandboxKey) -> web.Response:
    order = _lookup(request, key, cancel=True, hf=False)
    return ok(
        {"cancelledOrderId": order.id, "clientOid": order.client_id, "cancelledOcoOrderIds": None}
    )


async def cancel_order_hf_by_client(request: web.Request, key: SandboxKey) -> web.Response:
    return ok({"clientOid": _lookup(request, key, cancel=True, hf=True).client_id})


async def get_order(request: web.Request, key: SandboxKey) -> web.Response:
    return ok(order_json(_lookup(request, key, cancel=False, hf=False), hf=False))


async def get_order_hf(request: web.Request, key: SandboxKey) -> web.Response:
    return ok(order_json(_lookup(request, key, cancel=False, hf=True), hf=True))


def _orders(request: web.Request, key: SandboxKey, status: str) -> list[Order]:
    venue = venue_of(request)
    symbol = request.query.get("symbol")
    inst = instrument(venue, symbol) if symbol else None
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    now = venue.now_ms()
    if status == "active":
        orders = venue.engine.open_orders(acct, now, inst.symbol if inst else None)
    else:  # done: created inside the window, newest first (paging.py)
        start, end = window(request.query, now)
        venue.engine.refresh(acct, now)
        orders = sorted(
            (
                o
                for o in acct.orders.values()
                if not o.is_open
                and o.market == "spot"
                and (inst is None or o.symbol == inst.symbol)
                and start <= o.created_ms <= end
            ),
            key=lambda o: (o.created_ms, o.id),  # ids are fixed-width hex: creation order
            reverse=True,
        )
    return [o for o in orders if o.market == "spot"]


async def list_orders(request: web.Request, key: SandboxKey) -> web.Response:
    status_ = request.query.get("status", "active")
    items = [order_json(o, hf=False) for o in _orders(request, key, status_)]
    if status_ == "active":
        return ok(
            {"currentPage": 1, "pageSize": max(50, len(items)), "totalNum": len(items),
             "totalPage": 1, "items": items}
        )  # fmt: skip
    return ok(classic_page(items, request.query))


async def list_orders_hf_active(request: web.Request, key: SandboxKey) -> web.Response:
    instrument(venue_of(request), request.query.get("symbol"))
    return ok([order_json(o, hf=True) for o in _orders(request, key, "active")])


async def list_orders_hf_done(request: web.Request, key: SandboxKey) -> web.Response:
    instrument(venue_of(request), request.query.get("symbol"))
    rows = [order_json(o, hf=True) for o in _orders(request, key, "done")]
    items = hf_page(rows, request.query, lambda _: 0)  # `limit`; lastId is not offered here
    return ok({"lastId": 0, "items": items})


async def cancel_all(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    now = venue.now_ms()
    ids = [venue.engine.cancel(acct, o.id, now).id for o in _orders(request, key, "active")]
    return ok({"cancelledOrderIds": ids})


def fill_json(o: Order, f: Fill, *, hf: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "symbol": o.instrument_id,
        "tradeId": f.trade_id,
        "orderId": o.id,
        "counterOrderId": f"{int(f.trade_id, 16) ^ 0xFFFF:024x}",
        "side": o.side,
        "liquidity": "maker" if f.maker else "taker",
        "forceTaker": False,
        "price": decimal_str(f.price),
        "size": decimal_str(f.amount),
        "funds": decimal_str(f.cost),
        "fee": "0",
        "feeRate": "0",
        "feeCurrency": o.symbol.split("/")[1],
        "stop": "",
        "tradeType": "TRADE",
        "type": o.type,
        "createdAt": f.time_ms,
    }
    if hf:
        data = {"id": int(f.trade_id, 16), **data}
    return data


def _fills(request: web.Request, key: SandboxKey) -> list[tuple[Order, Fill]]:
    venue = venue_of(request)
    q = request.query
    inst = instrument(venue, q["symbol"]) if q.get("symbol") else None
    start, end = window(q, venue.now_ms())
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    rows = [
        (o, f)
        for o in acct.orders.values()
        if o.market == "spot"
        and (inst is None or o.symbol == inst.symbol)
        and q.get("orderId") in (None, o.id)
        and q.get("side") in (None, o.side)
        for f in o.fills
        if start <= f.time_ms <= end
    ]
    return sorted(rows, key=lambda pair: (pair[1].time_ms, pair[1].trade_id), reverse=True)


async def list_fills(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v1/fills`: classic fills of at most 7 days, newest first, by currentPage /
    pageSize (default 50)."""
    items = [fill_json(o, f, hf=False) for o, f in _fills(request, key)]
    return ok(classic_page(items, request.query))


async def list_fills_hf(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v1/hf/fills?symbol=...` (symbol required): HF fills of at most 7 days, newest
    first, `limit` (default 20, at most 100) below `lastId`."""
    instrument(venue_of(request), request.query.get("symbol"))
    rows = [fill_json(o, f, hf=True) for o, f in _fills(request, key)]
    items = hf_page(rows, request.query, lambda item: int(item["id"]))
    return ok({"items": items, "lastId": items[-1]["id"] if items else 0})
