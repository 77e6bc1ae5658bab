"""KuCoin spot on the sandbox: the endpoint table (classic and HF families), account mode, key
info with masked IPs, balances, order test and the order lifecycle on the matching engine.

server.py mounts `routes()` on the KuCoin spot port. Reference: shared/reference/exchanges.md §4.
"""

from __future__ import annotations

import zlib
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.engine import (
    InsufficientFunds,
    Order,
    UnknownOrder,
    decimal_str,
)
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.kucoin.gateway import (
    Route,
    fail,
    mask_ip,
    ok,
    parse_body,
    private,
    status,
    timestamp,
)
from backfuture_daemon.sandbox.kucoin.market_data import (
    all_tickers,
    currencies,
    histories,
    instrument,
    kucoin_id,
    level1,
    market_candles,
    orderbook_20,
    orderbook_100,
    orderbook_full,
    stats,
    symbols,
)
from backfuture_daemon.sandbox.venue import (
    Venue,
    venue_of,
)


async def account_mode(request: web.Request, key: SandboxKey) -> web.Response:
    return ok({"selfAccountMode": "CLASSIC", "accountMode": "CLASSIC"})


async def margin_symbols(request: web.Request, key: SandboxKey) -> web.Response:
    return ok({"timestamp": venue_of(request).now_ms(), "items": []})


async def isolated_symbols(request: web.Request, key: SandboxKey) -> web.Response:
    return ok([])


async def hf_opened(request: web.Request, key: SandboxKey) -> web.Response:
    return ok(key.hf)


async def api_key_info(request: web.Request, key: SandboxKey) -> web.Response:
    data: dict[str, Any] = {
        "remark": key.note or "sandbox",
        "apiKey": key.api_key,
        "apiVersion": key.api_version,
        "permission": ",".join(p for p in _PERMISSION_ORDER if p in key.permissions),
        "createdAt": key.created_ms,
        "uid": 165111215,
        "isMaster": True,
    }
    if key.ip_whitelist:
        data["ipWhitelist"] = ",".join(mask_ip(ip) for ip in key.ip_whitelist)
    return ok(data)


_PERMISSION_ORDER = ("General", "Futures", "Spot", "Earn", "InnerTransfer", "Transfer", "Margin")


async def accounts(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    wanted = request.query.get("type")
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    kind = wanted or ("trade_hf" if key.hf else "trade")
    if wanted and wanted not in ("trade", "trade_hf", "main", "margin"):
        raise fail("400100", "type not in the given range!")
    rows = []
    if kind == ("trade_hf" if key.hf else "trade"):
        currency = request.query.get("currency")
        for cur in sorted(set(acct.free) | set(acct.locked)):
            if currency and cur != currency:
                continue
            free, locked = acct.balance(cur)
            rows.append(
                {
                    "id": f"{zlib.crc32(f'{key.api_key}/{cur}'.encode()):024x}",
                    "currency": cur,
                    "type": kind,
                    "balance": decimal_str(free + locked),
                    "available": decimal_str(free),
                    "holds": decimal_str(locked),
                }
            )
    return ok(rows)


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
    if size is not None and size < inst.min_amount:
        raise fail("400100", "Order size below the minimum requirement.")
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
    else:
        venue.engine.refresh(acct, now)
        orders = [
            o
            for o in reversed(acct.orders.values())
            if not o.is_open and o.market == "spot" and (inst is None or o.symbol == inst.symbol)
        ][:500]
    return [o for o in orders if o.market == "spot"]


async def list_orders(request: web.Request, key: SandboxKey) -> web.Response:
    status_ = request.query.get("status", "active")
    items = [order_json(o, hf=False) for o in _orders(request, key, status_)]
    return ok(
        {"currentPage": 1, "pageSize": max(50, len(items)), "totalNum": len(items),
         "totalPage": 1, "items": items}
    )  # fmt: skip


async def list_orders_hf_active(request: web.Request, key: SandboxKey) -> web.Response:
    instrument(venue_of(request), request.query.get("symbol"))
    return ok([order_json(o, hf=True) for o in _orders(request, key, "active")])


async def list_orders_hf_done(request: web.Request, key: SandboxKey) -> web.Response:
    instrument(venue_of(request), request.query.get("symbol"))
    items = [order_json(o, hf=True) for o in _orders(request, key, "done")]
    return ok({"lastId": 0, "items": items})


async def cancel_all(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    now = venue.now_ms()
    ids = [venue.engine.cancel(acct, o.id, now).id for o in _orders(request, key, "active")]
    return ok({"cancelledOrderIds": ids})


def routes() -> list[Route]:
    v1, hf = "/api/v1", "/api/v1/hf"
    return [
        ("GET", f"{v1}/timestamp", timestamp),
        ("GET", f"{v1}/status", status),
        ("GET", "/api/v3/currencies", currencies),
        ("GET", "/api/v2/symbols", symbols),
        ("GET", f"{v1}/market/allTickers", all_tickers),
        ("GET", f"{v1}/market/stats", stats),
        ("GET", f"{v1}/market/orderbook/level1", level1),
        ("GET", f"{v1}/market/orderbook/level2_20", orderbook_20),
        ("GET", f"{v1}/market/orderbook/level2_100", orderbook_100),
        ("GET", "/api/v3/market/orderbook/level2", private("General", orderbook_full)),
        ("GET", f"{v1}/market/candles", market_candles),
        ("GET", f"{v1}/market/histories", histories),
        ("GET", "/api/ua/v1/account/mode", private("General", account_mode)),
        ("GET", "/api/v3/margin/symbols", private("General", margin_symbols)),
        ("GET", f"{v1}/isolated/symbols", private("General", isolated_symbols)),
        ("GET", f"{hf}/accounts/opened", private("General", hf_opened)),
        ("GET", f"{v1}/user/api-key", private("General", api_key_info)),
        ("GET", f"{v1}/accounts", private("General", accounts)),
        ("POST", f"{v1}/orders/test", private("Spot", order_test)),
        ("POST", f"{v1}/orders", private("Spot", create_order)),
        ("DELETE", f"{v1}/orders", private("Spot", cancel_all)),
        ("GET", f"{v1}/orders", private("General", list_orders)),
        ("DELETE", f"{v1}/orders/{{order_id}}", private("Spot", cancel_order)),
        ("GET", f"{v1}/orders/{{order_id}}", private("General", get_order)),
        ("GET", f"{v1}/order/client-order/{{client_oid}}", private("General", get_order)),
        (
            "DELETE",
            f"{v1}/order/client-order/{{client_oid}}",
            private("Spot", cancel_order_by_client),
        ),
        ("POST", f"{hf}/orders/test", private("Spot", order_test)),
        ("POST", f"{hf}/orders", private("Spot", create_order_hf)),
        ("GET", f"{hf}/orders/active", private("General", list_orders_hf_active)),
        ("GET", f"{hf}/orders/done", private("General", list_orders_hf_done)),
        ("GET", f"{hf}/orders/client-order/{{client_oid}}", private("General", get_order_hf)),
        (
            "DELETE",
            f"{hf}/orders/client-order/{{client_oid}}",
            private("Spot", cancel_order_hf_by_client),
        ),
        ("DELETE", f"{hf}/orders/{{order_id}}", private("Spot", cancel_order_hf)),
        ("GET", f"{hf}/orders/{{order_id}}", private("General", get_order_hf)),
    ]
