"""MEXC futures (contract v1) on the sandbox, sharing the MEXC port with spot: contract details,
ping, account assets, open orders and positions, and order placement, which answers code 1002
"Contract not allow place order!" while `mexc_futures_orders_disabled` is on (the default, as on
the real MEXC since 2022). Errors use the contract envelope `{"success":false,"code":N,...}`.

server.py mounts `routes()` next to spot.routes(). Reference: shared/reference/exchanges.md §3.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from aiohttp import web

from backfuture_daemon.sandbox import signing
from backfuture_daemon.sandbox.catalogue import Contract
from backfuture_daemon.sandbox.engine import (
    Order,
    UnknownOrder,
)
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import (
    BODY,
    ApiError,
    Venue,
    cached,
    client_ip,
    json_response,
    raw_json,
    venue_of,
)

Handler = Callable[[web.Request, SandboxKey], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]
_WINDOW_MS = 10_000


def fail(code: int, message: str) -> ApiError:
    return ApiError(200, {"success": False, "code": code, "message": message})


def ok(data: Any) -> web.Response:
    return json_response({"success": True, "code": 0, "data": data})


def _sorted_query(raw_target: str) -> str:
    """The server re-sorts GET/DELETE params by key, as MEXC's verifier does."""
    qs = raw_target.partition("?")[2]
    if not qs:
        return ""
    pairs = sorted(parse_qsl(qs, keep_blank_values=True))
    return urlencode(pairs, quote_via=quote)


def private(scope: str, handler: Handler) -> Callable[[web.Request], Awaitable[Any]]:
    async def checked(request: web.Request) -> web.StreamResponse:
        venue = venue_of(request)
        body = await request.text() if request.method == "POST" else ""
        key = authenticate(venue, request, body, scope)
        request[BODY] = body
        return await handler(request, key)

    return checked


def _signature_ok(
    key: SandboxKey, request: web.Request, body: str, req_time: str, signature: str
) -> bool:
    if request.method == "POST":
        return signing.verify_mexc_contract(
            key.secret_bytes, key.api_key, req_time, body, signature
        )
    # ccxt sends the query already key-sorted; a client that does not is re-sorted here.
    raw = request.raw_path.partition("?")[2]
    for param in (raw, _sorted_query(request.raw_path)):
        if signing.verify_mexc_contract(key.secret_bytes, key.api_key, req_time, param, signature):
            return True
    return False


def authenticate(venue: Venue, request: web.Request, body: str, scope: str) -> SandboxKey:
    now = venue.now_ms()
    h = request.headers
    api_key, req_time, signature = (
        h.get("ApiKey", ""),
        h.get("Request-Time", ""),
        h.get("Signature", ""),
    )
    key = venue.keys.get("mexc", api_key) if api_key else None
    if key is None:
        raise fail(401, "Not logged in or login has expired")
    if key.expired(now):
        raise fail(402, "Api_key expired")
    if not signature or not _signature_ok(key, request, body, req_time, signature):
        raise fail(602, "Signature verification failed!")
    try:
        ts = int(req_time)
    except ValueError:
        raise fail(10073, "Invalid Request-Time") from None
    if abs(now - ts) > _WINDOW_MS:
        raise fail(513, "Invalid request(for open api serves time more or less than 10s)")
    ip = client_ip(request)
    if not key.ip_allowed(ip):
        raise fail(406, "Accessing IP is not in the whitelist")
    if key.frozen:
        raise fail(60005, "your account is abnormal")
    if scope not in key.permissions:
        code, message = _SCOPE_ERRORS[scope]
        raise fail(code, message)
    return key


_SCOPE_ERRORS = {
    "CONTRACT_ACCOUNT_READ": (701, "Account read permission is required"),
    "CONTRACT_ACCOUNT_WRITE": (702, "Account modify permission is required"),
    "CONTRACT_DEAL_READ": (703, "Trade information read permission is required"),
    "CONTRACT_DEAL_WRITE": (704, "Transaction information modify permission is required"),
}


# ---------------------------------------------------------------------------------------------
# public


async def ping(request: web.Request) -> web.Response:
    return ok(venue_of(request).now_ms())


def _detail(c: Contract) -> dict[str, Any]:
    base, quote = c.id.split("_")
    return {
        "symbol": c.id,
        "displayName": f"{c.id} PERPETUAL",
        "displayNameEn": f"{c.id} PERPETUAL",
        "positionOpenType": 3,
        "baseCoin": base,
        "quoteCoin": quote,
        "settleCoin": quote,
        "contractSize": float(c.multiplier),
        "minLeverage": 1,
        "maxLeverage": c.max_leverage,
        "priceScale": 1,
        "volScale": 0,
        "amountScale": 4,
        "priceUnit": float(c.price_tick),
        "volUnit": 1,
        "minVol": 1,
        "maxVol": 1000000,
        "takerFeeRate": 0.0002,
        "makerFeeRate": 0.0,
        "maintenanceMarginRate": 0.004,
        "initialMarginRate": 0.008,
        "state": 0,
        "isNew": False,
        "isHot": True,
        "isHidden": False,
        "apiAllowed": False,
    }


async def detail(request: web.Request) -> web.Response:
    symbol = request.query.get("symbol")
    if symbol:
        c = venue_of(request).engine.catalogue.mexc_contract_by_id.get(symbol)
        if c is None:
            raise fail(1001, "Contract does not exist!")
        return ok(_detail(c))
    venue = venue_of(request)
    contracts = venue.engine.catalogue.mexc_contracts
    body = cached(
        venue,
        "contract/detail",
        lambda: {"success": True, "code": 0, "data": [_detail(c) for c in contracts]},
    )
    return raw_json(body)


async def ticker(request: web.Request) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    rows = []
    for c in venue.engine.catalogue.mexc_contracts:
        last = venue.engine.last_price(c.underlying, now)
        rows.append(
            {
                "symbol": c.id,
                "lastPrice": float(last),
                "bid1": float(last - c.price_tick),
                "ask1": float(last + c.price_tick),
                "volume24": 100000,
                "holdVol": 50000,
                "fairPrice": float(last),
                "indexPrice": float(last),
                "fundingRate": 0.0001,
                "timestamp": now,
            }
        )
    symbol = request.query.get("symbol")
    if symbol:
        match = [r for r in rows if r["symbol"] == symbol]
        if not match:
            raise fail(1001, "Contract does not exist!")
        return ok(match[0])
    return ok(rows)


# ---------------------------------------------------------------------------------------------
# private


async def assets(request: web.Request, key: SandboxKey) -> web.Response:
    usdt = key.balances.get("USDT", Decimal(0))
    return ok(
        [
            {
                "currency": "USDT",
                "positionMargin": 0,
                "availableBalance": float(usdt),
                "cashBalance": float(usdt),
                "frozenBalance": 0,
                "equity": float(usdt),
                "unrealized": 0,
                "bonus": 0,
            }
        ]
    )


async def asset(request: web.Request, key: SandboxKey) -> web.Response:
    currency = request.match_info["currency"].upper()
    amount = float(key.balances.get(currency, Decimal(0)))
    return ok(
        {
            "currency": currency,
            "positionMargin": 0,
            "availableBalance": amount,
            "cashBalance": amount,
            "frozenBalance": 0,
            "equity": amount,
            "unrealized": 0,
            "bonus": 0,
        }
    )


async def open_positions(request: web.Request, key: SandboxKey) -> web.Response:
    return ok([])


def _order_json(o: Order) -> dict[str, Any]:
    state = {"open": 2, "filled": 3, "canceled": 4}[o.status]
    return {
        "orderId": o.id,
        "symbol": o.instrument_id,
        "positionId": 0,
        "price": float(o.price or 0),
        "vol": float(o.amount),
        "leverage": o.extra.get("leverage", 1),
        "side": o.extra.get("side", 1),
        "category": 1,
        "orderType": o.extra.get("type", 1),
        "dealAvgPrice": float(o.average or 0),
        "dealVol": float(o.filled),
        "orderMargin": 0,
        "takerFee": 0,
        "makerFee": 0,
        "profit": 0,
        "feeCurrency": "USDT",
        "openType": o.extra.get("openType", 2),
        "state": state,
        "externalOid": o.client_id,
        "errorCode": 0,
        "usedMargin": 0,
        "createTime": o.created_ms,
        "updateTime": o.updated_ms,
    }


async def list_open_orders(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    symbol = request.match_info.get("symbol") or request.query.get("symbol")
    orders = venue.engine.open_orders(acct, venue.now_ms())
    return ok(
        [
            _order_json(o)
            for o in orders
            if o.market == "futures" and symbol in (None, o.instrument_id)
        ]
    )


async def get_order(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    try:
        order = venue.engine.get(acct, request.match_info["order_id"], venue.now_ms())
    except UnknownOrder:
        raise fail(2009, "Order does not exist") from None
    return ok(_order_json(order))


async def create_order(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    if venue.faults.mexc_futures_orders_disabled:
        raise fail(1002, "Contract not allow place order!")
    try:
        body = json.loads(request[BODY] or "{}")
        c = venue.engine.catalogue.mexc_contract_by_id[body["symbol"]]
        vol = Decimal(str(body["vol"]))
        side = int(body["side"])
        otype = int(body["type"])
        price = Decimal(str(body["price"])) if body.get("price") is not None else None
    except (ValueError, KeyError, TypeError, ArithmeticError):
        raise fail(600, "Parameter error") from None
    market = otype in (5, 6)
    if (not market and price is None) or vol <= 0 or side not in (1, 2, 3, 4):
        raise fail(600, "Parameter error")
    now = venue.now_ms()
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    order = Order(
        id=str(739113577038255104 + venue.next_id()),
        client_id=str(body.get("externalOid") or ""),
        symbol=c.underlying,
        side="buy" if side in (1, 4) else "sell",
        type="market" if market else "limit",
        price=None if market else price,
        amount=vol,
        created_ms=now,
        market="futures",
        instrument_id=c.id,
        extra={"side": side, "type": otype, "openType": body.get("openType", 2),
               "leverage": body.get("leverage", 1)},
    )  # fmt: skip
    venue.engine.place(acct, order, now)
    return ok(order.id)


async def cancel_order(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    if venue.faults.mexc_futures_orders_disabled:
        raise fail(1002, "Contract not allow place order!")
    try:
        ids = [str(i) for i in json.loads(request[BODY] or "[]")]
    except (ValueError, TypeError):
        raise fail(600, "Parameter error") from None
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    out = []
    for oid in ids:
        try:
            venue.engine.cancel(acct, oid, venue.now_ms())
            out.append({"orderId": oid, "errorCode": 0, "errorMsg": "success"})
        except UnknownOrder:
            out.append({"orderId": oid, "errorCode": 2040, "errorMsg": "order not exist"})
    return ok(out)


def routes() -> list[Route]:
    c, p = "/api/v1/contract", "/api/v1/private"
    return [
        ("GET", f"{c}/ping", ping),
        ("GET", f"{c}/detail", detail),
        ("GET", f"{c}/ticker", ticker),
        ("GET", f"{p}/account/assets", private("CONTRACT_ACCOUNT_READ", assets)),
        ("GET", f"{p}/account/asset/{{currency}}", private("CONTRACT_ACCOUNT_READ", asset)),
        ("GET", f"{p}/position/open_positions", private("CONTRACT_DEAL_READ", open_positions)),
        ("GET", f"{p}/order/list/open_orders", private("CONTRACT_DEAL_READ", list_open_orders)),
        (
            "GET",
            f"{p}/order/list/open_orders/{{symbol}}",
            private("CONTRACT_DEAL_READ", list_open_orders),
        ),
        ("GET", f"{p}/order/get/{{order_id}}", private("CONTRACT_DEAL_READ", get_order)),
        ("POST", f"{p}/order/create", private("CONTRACT_DEAL_WRITE", create_order)),
        ("POST", f"{p}/order/submit", private("CONTRACT_DEAL_WRITE", create_order)),
        ("POST", f"{p}/order/cancel", private("CONTRACT_DEAL_WRITE", cancel_order)),
    ]
