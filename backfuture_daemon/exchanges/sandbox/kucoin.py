"""KuCoin spot on the sandbox (classic and HF endpoint families), plus the KuCoin gateway checks
shared with the futures port: headers → key → passphrase → timestamp ±5 s → signature → IP →
account frozen → permission, with KuCoin's real codes, HTTP statuses and bodies.

server.py mounts `routes()` on the KuCoin spot port; kucoin_futures.py reuses `private`, `fail`
and the fault responses. Reference: shared/reference/exchanges.md §4, §6, §9.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from backfuture_daemon.exchanges.sandbox import signing
from backfuture_daemon.exchanges.sandbox.keys import SandboxKey
from backfuture_daemon.exchanges.sandbox.market import (
    SPOT,
    Instrument,
    InsufficientFunds,
    Order,
    UnknownOrder,
    book,
    candles,
    decimal_str,
)
from backfuture_daemon.exchanges.sandbox.venue import (
    BODY,
    ApiError,
    Venue,
    client_ip,
    json_response,
    venue_of,
)

Handler = Callable[[web.Request, SandboxKey], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]

BY_ID: dict[str, Instrument] = {f"{i.base}-{i.quote}": i for i in SPOT}
_SKEW_MS = 5_000
_AUTH_HEADERS = ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")


def fail(code: str, msg: str, status: int = 400) -> ApiError:
    return ApiError(status, {"code": code, "msg": msg})


def ok(data: Any) -> web.Response:
    return json_response({"code": "200000", "data": data})


def kucoin_id(inst: Instrument) -> str:
    return f"{inst.base}-{inst.quote}"


def mask_ip(ip: str) -> str:
    """KuCoin shows whitelisted IPs as first and last octet only: 203.**.154."""
    parts = ip.split(".")
    return f"{parts[0]}.**.{parts[-1]}" if len(parts) == 4 else ip


# ---------------------------------------------------------------------------------------------
# authentication, in the gateway's order


def private(scope: str, handler: Handler) -> Callable[[web.Request], Awaitable[Any]]:
    async def checked(request: web.Request) -> web.StreamResponse:
        venue = venue_of(request)
        body = await request.text() if request.can_read_body else ""
        key = authenticate(venue, request, body, scope)
        request[BODY] = body
        return await handler(request, key)

    return checked


def authenticate(venue: Venue, request: web.Request, body: str, scope: str) -> SandboxKey:
    h = request.headers
    if not all(h.get(name) for name in _AUTH_HEADERS):
        raise fail("400001", "Please check the URL of your request.", 401)
    key = venue.keys.get("kucoin", h["KC-API-KEY"])
    if key is None:
        raise fail("400003", "KC-API-KEY does not exist.", 401)
    if h.get("KC-API-KEY-VERSION") not in ("2", "3"):
        raise fail("400009", "Invalid KC-API-KEY-VERSION.", 401)
    assert key.passphrase is not None
    if not signing.verify_kucoin_passphrase(
        key.secret_bytes, key.passphrase, h["KC-API-PASSPHRASE"]
    ):
        raise fail("400004", "Invalid KC-API-PASSPHRASE.", 401)
    timestamp = h["KC-API-TIMESTAMP"]
    try:
        skew = abs(venue.now_ms() - int(timestamp))
    except ValueError:
        skew = _SKEW_MS + 1
    if skew > _SKEW_MS:
        raise fail("400002", "Invalid KC-API-TIMESTAMP.", 401)
    endpoint = signing.kucoin_endpoint(request.raw_path)
    if not signing.verify_kucoin(
        key.secret_bytes, timestamp, request.method, endpoint, body, h["KC-API-SIGN"]
    ):
        raise fail("400005", "Invalid KC-API-SIGN.", 401)
    ip = client_ip(request)
    if not key.ip_allowed(ip):
        raise fail("400006", f"Invalid request IP, the current client IP is: {ip}", 403)
    if key.frozen:
        raise fail("411100", "User are frozen", 403)
    if scope not in key.permissions:
        raise fail("400007", "Access denied, require more permission.", 403)
    return key


# ---------------------------------------------------------------------------------------------
# public


async def timestamp(request: web.Request) -> web.Response:
    return json_response({"code": "200000", "msg": "success", "data": venue_of(request).now_ms()})


async def status(request: web.Request) -> web.Response:
    down = venue_of(request).faults.maintenance
    return ok({"status": "close" if down else "open", "msg": "maintenance" if down else ""})


def _currency(code: str, precision: int) -> dict[str, Any]:
    return {
        "currency": code,
        "name": code,
        "fullName": code,
        "precision": precision,
        "confirms": None,
        "contractAddress": None,
        "isMarginEnabled": False,
        "isDebitEnabled": False,
        "chains": [],
    }


async def currencies(request: web.Request) -> web.Response:
    codes = sorted({i.base for i in SPOT} | {i.quote for i in SPOT})
    return ok([_currency(c, 8) for c in codes])


def _symbol(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": kucoin_id(inst),
        "name": kucoin_id(inst),
        "baseCurrency": inst.base,
        "quoteCurrency": inst.quote,
        "feeCurrency": inst.quote,
        "market": "USDS",
        "baseMinSize": decimal_str(inst.min_amount),
        "quoteMinSize": decimal_str(inst.min_cost),
        "baseMaxSize": "10000000000",
        "quoteMaxSize": "99999999",
        "baseIncrement": decimal_str(inst.amount_tick),
        "quoteIncrement": decimal_str(inst.price_tick),
        "priceIncrement": decimal_str(inst.price_tick),
        "priceLimitRate": "0.1",
        "minFunds": decimal_str(inst.min_cost),
        "isMarginEnabled": False,
        "enableTrading": inst.api_tradable,
        "feeCategory": 1,
        "makerFeeCoefficient": "1.00",
        "takerFeeCoefficient": "1.00",
        "st": False,
    }


async def symbols(request: web.Request) -> web.Response:
    return ok([_symbol(i) for i in SPOT])


def _instrument(symbol: str | None) -> Instrument:
    inst = BY_ID.get(symbol or "")
    if inst is None:
        raise fail("400100", "Unsupported trading pair.")
    return inst


def _ticker(venue: Venue, inst: Instrument) -> dict[str, Any]:
    now = venue.now_ms()
    last = venue.engine.last_price(inst.symbol, now)
    open_ = venue.engine.last_price(inst.symbol, now - 86_400_000)
    return {
        "symbol": kucoin_id(inst),
        "symbolName": kucoin_id(inst),
        "buy": decimal_str(last - inst.price_tick),
        "sell": decimal_str(last + inst.price_tick),
        "bestBidSize": "1",
        "bestAskSize": "1",
        "changeRate": decimal_str(((last - open_) / open_).quantize(Decimal("0.0001"))),
        "changePrice": decimal_str(last - open_),
        "high": decimal_str(max(last, open_)),
        "low": decimal_str(min(last, open_)),
        "vol": "1000",
        "volValue": decimal_str(last * 1000),
        "last": decimal_str(last),
        "averagePrice": decimal_str(last),
        "takerFeeRate": "0.001",
        "makerFeeRate": "0.001",
        "takerCoefficient": "1",
        "makerCoefficient": "1",
    }


async def all_tickers(request: web.Request) -> web.Response:
    venue = venue_of(request)
    return ok({"time": venue.now_ms(), "ticker": [_ticker(venue, i) for i in SPOT]})


async def stats(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = _instrument(request.query.get("symbol"))
    return ok({"time": venue.now_ms(), **_ticker(venue, inst)})


async def level1(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = _instrument(request.query.get("symbol"))
    now = venue.now_ms()
    last = venue.engine.last_price(inst.symbol, now)
    return ok(
        {
            "time": now,
            "sequence": str(now),
            "price": decimal_str(last),
            "size": "0.01",
            "bestBid": decimal_str(last - inst.price_tick),
            "bestBidSize": "1",
            "bestAsk": decimal_str(last + inst.price_tick),
            "bestAskSize": "1",
        }
    )


_CANDLE_TYPES = {
    "1min": 60, "3min": 180, "5min": 300, "15min": 900, "30min": 1800, "1hour": 3600,
    "2hour": 7200, "4hour": 14400, "6hour": 21600, "8hour": 28800, "12hour": 43200,
    "1day": 86400, "1week": 604800, "1month": 2592000,
}  # fmt: skip


async def market_candles(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = _instrument(request.query.get("symbol"))
    seconds = _CANDLE_TYPES.get(request.query.get("type", ""))
    if seconds is None:
        raise fail("400100", "Parameter Error")
    try:
        start = int(request.query.get("startAt") or 0)
        end = int(request.query.get("endAt") or 0)
    except ValueError:
        raise fail("400100", "Parameter Error") from None
    now = venue.now_ms()
    end_ms = min(now, end * 1000) if end else now
    rows = candles(
        venue.engine.feed,
        inst.symbol,
        seconds * 1000,
        end_ms,
        start_ms=start * 1000 if start else None,
        limit=1500,
    )
    return ok(
        [
            [str(c.open_ms // 1000), decimal_str(c.open), decimal_str(c.close),
             decimal_str(c.high), decimal_str(c.low), decimal_str(c.volume),
             decimal_str(c.volume * c.close)]
            for c in reversed(rows)
        ]
    )  # fmt: skip


def _book(venue: Venue, inst: Instrument, depth: int) -> dict[str, Any]:
    now = venue.now_ms()
    bids, asks = book(venue.engine.feed, inst, now, depth)
    return {
        "time": now,
        "sequence": str(now),
        "bids": [[decimal_str(p), decimal_str(q)] for p, q in bids],
        "asks": [[decimal_str(p), decimal_str(q)] for p, q in asks],
    }


async def orderbook_20(request: web.Request) -> web.Response:
    return ok(_book(venue_of(request), _instrument(request.query.get("symbol")), 20))


async def orderbook_100(request: web.Request) -> web.Response:
    return ok(_book(venue_of(request), _instrument(request.query.get("symbol")), 100))


async def orderbook_full(request: web.Request, key: SandboxKey) -> web.Response:
    return ok(_book(venue_of(request), _instrument(request.query.get("symbol")), 100))


# ---------------------------------------------------------------------------------------------
# private: account and key


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
        "apiVersion": 3,
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


# ---------------------------------------------------------------------------------------------
# private: orders (classic /api/v1/orders* and HF /api/v1/hf/orders*)


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


def parse_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(request[BODY] or "{}")
    except ValueError:
        raise fail("400100", "Parameter Error") from None
    if not isinstance(body, dict):
        raise fail("400100", "Parameter Error")
    return body


def order_from_body(venue: Venue, body: dict[str, Any]) -> Order:
    inst = _instrument(body.get("symbol"))
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
        _instrument(request.query.get("symbol"))
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


async def get_order(request: web.Request, key: SandboxKey) -> web.Response:
    return ok(order_json(_lookup(request, key, cancel=False, hf=False), hf=False))


async def get_order_hf(request: web.Request, key: SandboxKey) -> web.Response:
    return ok(order_json(_lookup(request, key, cancel=False, hf=True), hf=True))


def _orders(request: web.Request, key: SandboxKey, status: str) -> list[Order]:
    venue = venue_of(request)
    symbol = request.query.get("symbol")
    inst = _instrument(symbol) if symbol else None
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
    _instrument(request.query.get("symbol"))
    return ok([order_json(o, hf=True) for o in _orders(request, key, "active")])


async def list_orders_hf_done(request: web.Request, key: SandboxKey) -> web.Response:
    _instrument(request.query.get("symbol"))
    items = [order_json(o, hf=True) for o in _orders(request, key, "done")]
    return ok({"lastId": 0, "items": items})


async def cancel_all(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    now = venue.now_ms()
    ids = [venue.engine.cancel(acct, o.id, now).id for o in _orders(request, key, "active")]
    return ok({"cancelledOrderIds": ids})


# ---------------------------------------------------------------------------------------------
# faults and routing


def fault_response(
    venue: Venue, request: web.Request, over_budget: bool = False
) -> web.Response | None:
    f = venue.faults
    if f.maintenance and request.path != "/api/v1/status":
        return web.Response(
            text="<html><body><h1>503 Service Temporarily Unavailable</h1>"
            "<p>System maintenance</p></body></html>",
            status=503,
            content_type="text/html",
        )
    if f.rate_limit or over_budget:
        return json_response(
            {"code": "429000", "msg": "Too many requests. System-level rate limit exceeded."},
            429,
            {
                "Retry-After": str(f.retry_after_s),
                "gw-ratelimit-limit": "4000",
                "gw-ratelimit-remaining": "0",
                "gw-ratelimit-reset": str(f.retry_after_s * 1000),
            },
        )
    if f.http_5xx:
        if f.http_5xx == 500:
            return json_response({"code": "500000", "msg": "Internal Server Error"}, 500)
        return web.Response(
            text=f"<html><body><h1>{f.http_5xx} Server Error</h1></body></html>",
            status=f.http_5xx,
            content_type="text/html",
        )
    return None


def not_found(status: int) -> web.Response:
    if status == 405:
        return json_response({"code": "405", "msg": "Method Not Allowed"}, 405)
    return json_response({"code": "404000", "msg": "Url Not Found"}, 404)


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
        ("POST", f"{hf}/orders/test", private("Spot", order_test)),
        ("POST", f"{hf}/orders", private("Spot", create_order_hf)),
        ("GET", f"{hf}/orders/active", private("General", list_orders_hf_active)),
        ("GET", f"{hf}/orders/done", private("General", list_orders_hf_done)),
        ("DELETE", f"{hf}/orders/{{order_id}}", private("Spot", cancel_order_hf)),
        ("GET", f"{hf}/orders/{{order_id}}", private("General", get_order_hf)),
    ]
