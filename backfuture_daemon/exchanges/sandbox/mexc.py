"""MEXC spot v3 on the sandbox: public market data, HMAC-checked private routes in MEXC's gateway
order (key → signature → timestamp window → IP whitelist → account state → scope), key info,
balances, order test and the order lifecycle, with MEXC's real error codes and bodies.

server.py mounts `routes()` (and mexc_contract.routes()) on the MEXC port. Reference:
shared/reference/exchanges.md §2, §5, §9.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from multidict import MultiMapping

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
    ApiError,
    Venue,
    client_ip,
    json_response,
    venue_of,
)

Params = MultiMapping[str]
PrivateHandler = Callable[[web.Request, SandboxKey, Params], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]

BY_ID: dict[str, Instrument] = {i.base + i.quote: i for i in SPOT}
_UNBOUND_KEY_DAYS = 90  # MEXC: keys without an IP binding expire after 90 days (doc FAQ)


def err(code: int, msg: str, status: int = 400) -> ApiError:
    return ApiError(status, {"code": code, "msg": msg})


def mexc_id(inst: Instrument) -> str:
    return inst.base + inst.quote


# ---------------------------------------------------------------------------------------------
# authentication, in the gateway's order


def private(scope: str | None, handler: PrivateHandler) -> Callable[[web.Request], Awaitable[Any]]:
    async def checked(request: web.Request) -> web.StreamResponse:
        venue = venue_of(request)
        key = authenticate(venue, request, scope)
        return await handler(request, key, request.query)

    return checked


def authenticate(venue: Venue, request: web.Request, scope: str | None) -> SandboxKey:
    now = venue.now_ms()
    api_key = request.headers.get("X-MEXC-APIKEY", "")
    if not api_key:
        raise err(400, "api key required")
    key = venue.keys.get("mexc", api_key)
    if key is None or key.expired(now):
        raise err(10072, "Api key info invalid")
    parts = signing.split_mexc_spot_query(request.raw_path)
    if parts is None or not parts[1]:
        raise err(
            700004,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        )
    if not signing.verify_mexc_spot(key.secret_bytes, parts[0], parts[1]):
        raise err(700002, "Signature for this request is not valid.")
    params = request.query
    try:
        recv_window = int(params.get("recvWindow", "5000"))
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise err(700003, "Timestamp for this request is outside of the recvWindow.") from None
    if recv_window > 60000:
        raise err(700005, "recvWindow must less than 60000")
    if not (timestamp < now + 1000 and now - timestamp <= recv_window):
        raise err(700003, "Timestamp for this request is outside of the recvWindow.")
    ip = client_ip(request)
    if not key.ip_allowed(ip):
        raise err(700006, f"IP [{ip}] not in the ip white list")
    if key.frozen:
        raise err(60005, "your account is abnormal")
    if scope is not None and scope not in key.permissions:
        raise err(700007, "No permission to access the endpoint.")
    return key


# ---------------------------------------------------------------------------------------------
# public


async def ping(request: web.Request) -> web.Response:
    return json_response({})


async def server_time(request: web.Request) -> web.Response:
    return json_response({"serverTime": venue_of(request).now_ms()})


def _symbol_info(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": mexc_id(inst),
        "status": "1",
        "baseAsset": inst.base,
        "baseAssetPrecision": -inst.amount_tick.as_tuple().exponent,  # type: ignore[operator]
        "quoteAsset": inst.quote,
        "quotePrecision": -inst.price_tick.as_tuple().exponent,  # type: ignore[operator]
        "quoteAssetPrecision": -inst.price_tick.as_tuple().exponent,  # type: ignore[operator]
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],
        "isSpotTradingAllowed": inst.api_tradable,
        "isMarginTradingAllowed": False,
        "quoteAmountPrecision": decimal_str(inst.min_cost),
        "baseSizePrecision": decimal_str(inst.min_amount),
        "permissions": ["SPOT"],
        "filters": [],
        "maxQuoteAmount": "2000000",
        "makerCommission": "0",
        "takerCommission": "0.0005",
        "quoteAmountPrecisionMarket": decimal_str(inst.min_cost),
        "maxQuoteAmountMarket": "100000",
        "fullName": inst.base,
        "tradeSideType": 1,
        "st": False,
    }


async def exchange_info(request: web.Request) -> web.Response:
    venue = venue_of(request)
    wanted = request.query.get("symbol") or request.query.get("symbols")
    names = set(wanted.split(",")) if wanted else None
    symbols = [_symbol_info(i) for i in SPOT if names is None or mexc_id(i) in names]
    return json_response(
        {
            "timezone": "CST",
            "serverTime": venue.now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }
    )


async def default_symbols(request: web.Request) -> web.Response:
    """The symbols the API may trade (a pair missing here answers 10007 on orders)."""
    ids = [mexc_id(i) for i in SPOT if i.api_tradable]
    return json_response({"code": 0, "data": ids, "msg": "success"})


def _instrument(params: Params, *, required: bool = True) -> Instrument | None:
    symbol = params.get("symbol")
    if not symbol:
        if required:
            raise err(
                700004, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        return None
    inst = BY_ID.get(symbol)
    if inst is None:
        raise err(-1121, "Invalid symbol.")
    return inst


def _ticker(venue: Venue, inst: Instrument) -> dict[str, Any]:
    now = venue.now_ms()
    last = venue.engine.last_price(inst.symbol, now)
    open_ = venue.engine.last_price(inst.symbol, now - 86_400_000)
    tick = inst.price_tick
    return {
        "symbol": mexc_id(inst),
        "priceChange": decimal_str(last - open_),
        "priceChangePercent": decimal_str(((last - open_) / open_).quantize(Decimal("0.0001"))),
        "prevClosePrice": decimal_str(open_),
        "lastPrice": decimal_str(last),
        "bidPrice": decimal_str(last - tick),
        "bidQty": "1",
        "askPrice": decimal_str(last + tick),
        "askQty": "1",
        "openPrice": decimal_str(open_),
        "highPrice": decimal_str(max(last, open_)),
        "lowPrice": decimal_str(min(last, open_)),
        "volume": "1000",
        "quoteVolume": decimal_str(last * 1000),
        "openTime": now - 86_400_000,
        "closeTime": now,
        "count": None,
    }


async def ticker_24hr(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = _instrument(request.query, required=False)
    if inst is not None:
        return json_response(_ticker(venue, inst))
    return json_response([_ticker(venue, i) for i in SPOT])


async def ticker_price(request: web.Request) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    inst = _instrument(request.query, required=False)
    rows = [
        {"symbol": mexc_id(i), "price": decimal_str(venue.engine.last_price(i.symbol, now))}
        for i in ([inst] if inst else SPOT)
    ]
    return json_response(rows[0] if inst else rows)


_INTERVALS_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "60m": 3_600_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
    "1W": 604_800_000,
    "1M": 2_592_000_000,
}


def _int(params: Params, name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise err(700004, f"Illegal characters found in parameter '{name}'") from None


async def klines(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = _instrument(request.query)
    assert inst is not None
    interval = _INTERVALS_MS.get(request.query.get("interval", ""))
    if interval is None:
        raise err(-1121, "Invalid interval.")
    limit = min(1000, max(1, _int(request.query, "limit", 500) or 500))
    end = _int(request.query, "endTime", None)
    now = venue.now_ms()
    rows = candles(
        venue.engine.feed,
        inst.symbol,
        interval,
        min(now, end - 1) if end else now,
        start_ms=_int(request.query, "startTime", None),
        limit=limit,
    )
    return json_response(
        [
            [c.open_ms, decimal_str(c.open), decimal_str(c.high), decimal_str(c.low),
             decimal_str(c.close), decimal_str(c.volume), c.open_ms + interval - 1,
             decimal_str(c.volume * c.close)]
            for c in rows
        ]
    )  # fmt: skip


async def depth(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = _instrument(request.query)
    assert inst is not None
    limit = min(5000, max(1, _int(request.query, "limit", 100) or 100))
    now = venue.now_ms()
    bids, asks = book(venue.engine.feed, inst, now, min(limit, 50))
    return json_response(
        {
            "lastUpdateId": now,
            "bids": [[decimal_str(p), decimal_str(q)] for p, q in bids],
            "asks": [[decimal_str(p), decimal_str(q)] for p, q in asks],
            "timestamp": now,
        }
    )


# ---------------------------------------------------------------------------------------------
# private: account and key


async def account(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    balances = []
    for cur in sorted(set(acct.free) | set(acct.locked)):
        free, locked = acct.balance(cur)
        if free or locked:
            balances.append(
                {"asset": cur, "free": decimal_str(free), "locked": decimal_str(locked)}
            )
    return json_response(
        {
            "makerCommission": None,
            "takerCommission": None,
            "buyerCommission": None,
            "sellerCommission": None,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": None,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
        }
    )


def remaining_validity(key: SandboxKey, now_ms: int) -> int | None:
    days = key.remaining_days(now_ms)
    if days is None and not key.ip_whitelist:
        # An unbound key lives 90 days from creation (MEXC FAQ).
        age_days = (now_ms - key.created_ms) // 86_400_000
        days = max(0, _UNBOUND_KEY_DAYS - age_days)
    return days


async def api_key_info(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    access_key = params.get("accessKey")
    if not access_key:
        raise err(
            700004, "Mandatory parameter 'accessKey' was not sent, was empty/null, or malformed."
        )
    if access_key != key.api_key:
        raise err(10072, "Api key info invalid")
    now = venue_of(request).now_ms()
    created = dt.datetime.fromtimestamp(key.created_ms / 1000, tz=dt.UTC)
    return json_response(
        {
            "note": key.note,
            "accessKey": key.api_key,
            "createTime": created.strftime("%Y-%m-%dT%H:%M:%S.000+00:00"),
            "permissions": ",".join(sorted(key.permissions)),
            "remainingValidity": remaining_validity(key, now),
            "ipWhiteList": ",".join(key.ip_whitelist),
            "status": "VALID",
        }
    )


async def uid(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    return json_response({"uid": str(zlib.crc32(key.api_key.encode()) % 10**8)})


async def capital_config(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    return json_response([])


# ---------------------------------------------------------------------------------------------
# private: orders

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


def _order_from_params(venue: Venue, params: Params) -> Order:
    inst = _instrument(params)
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
    _instrument(params)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    oid = params.get("orderId") or acct.by_client_id.get(params.get("origClientOrderId") or "")
    if not oid:
        raise err(
            700004, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    return oid


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
    return json_response(order_json(order))


async def open_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    inst = _instrument(params, required=False)
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    orders = venue.engine.open_orders(acct, venue.now_ms(), inst.symbol if inst else None)
    return json_response([order_json(o) for o in orders])


async def cancel_open_orders(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    inst = _instrument(params)
    assert inst is not None
    acct = venue.engine.account("mexc", key.api_key, key.balances)
    now = venue.now_ms()
    done = [
        venue.engine.cancel(acct, o.id, now)
        for o in venue.engine.open_orders(acct, now, inst.symbol)
    ]
    return json_response([order_json(o) for o in done])


# ---------------------------------------------------------------------------------------------
# faults and routing


def fault_response(
    venue: Venue, request: web.Request, over_budget: bool = False
) -> web.Response | None:
    """Exchange-wide faults as MEXC shows them (contract paths get the contract envelope)."""
    f = venue.faults
    contract = request.path.startswith("/api/v1/")

    def body(code: int, msg: str) -> dict[str, Any]:
        if contract:
            return {"success": False, "code": code, "message": msg}
        return {"code": code, "msg": msg}

    if f.maintenance:
        return json_response(body(801, "System under maintenance"), status=503)
    if f.rate_limit or over_budget:
        code, msg = (510, "Requests are too frequent!") if contract else (429, "Too Many Requests")
        return json_response(body(code, msg), 429, {"Retry-After": str(f.retry_after_s)})
    if f.http_5xx:
        if f.http_5xx == 503:
            return json_response(body(503, "service not available, please try again"), 503)
        return web.Response(
            text=f"<html><body><h1>{f.http_5xx} Server Error</h1></body></html>",
            status=f.http_5xx,
            content_type="text/html",
        )
    return None


def not_found(status: int) -> web.Response:
    return json_response(
        {"code": status, "msg": "Not Found" if status == 404 else "Method Not Allowed"}, status
    )


def routes() -> list[Route]:
    p = "/api/v3"
    return [
        ("GET", f"{p}/ping", ping),
        ("GET", f"{p}/time", server_time),
        ("GET", f"{p}/exchangeInfo", exchange_info),
        ("GET", f"{p}/defaultSymbols", default_symbols),
        ("GET", f"{p}/ticker/24hr", ticker_24hr),
        ("GET", f"{p}/ticker/price", ticker_price),
        ("GET", f"{p}/klines", klines),
        ("GET", f"{p}/depth", depth),
        ("GET", f"{p}/account", private("SPOT_ACCOUNT_READ", account)),
        ("GET", f"{p}/apiKeyInfo", private(None, api_key_info)),
        ("GET", f"{p}/uid", private("SPOT_ACCOUNT_READ", uid)),
        ("GET", f"{p}/capital/config/getall", private("SPOT_WITHDRAW_READ", capital_config)),
        ("POST", f"{p}/order/test", private("SPOT_DEAL_WRITE", order_test)),
        ("POST", f"{p}/order", private("SPOT_DEAL_WRITE", create_order)),
        ("DELETE", f"{p}/order", private("SPOT_DEAL_WRITE", cancel_order)),
        ("GET", f"{p}/order", private("SPOT_DEAL_READ", get_order)),
        ("GET", f"{p}/openOrders", private("SPOT_DEAL_READ", open_orders)),
        ("DELETE", f"{p}/openOrders", private("SPOT_DEAL_WRITE", cancel_open_orders)),
    ]
