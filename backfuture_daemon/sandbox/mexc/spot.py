"""MEXC spot v3 on the sandbox: the endpoint table with each route's scope, account balances,
key info (`GET /api/v3/apiKeyInfo`), order test and the order lifecycle on the matching engine.

server.py mounts `routes()` (and mexc/contract.py routes()) on the MEXC port. Reference: §2, §5.
"""

from __future__ import annotations

import datetime as dt
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
from backfuture_daemon.sandbox.mexc.gateway import Params, Route, err, private
from backfuture_daemon.sandbox.mexc.market_data import (
    agg_trades,
    default_symbols,
    depth,
    exchange_info,
    instrument,
    klines,
    ping,
    recent_trades,
    server_time,
    ticker_24hr,
    ticker_price,
)
from backfuture_daemon.sandbox.venue import (
    Venue,
    json_response,
    venue_of,
)

_UNBOUND_KEY_DAYS = 90  # MEXC: keys without an IP binding expire after 90 days (doc FAQ)


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


async def set_api_key_info(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`POST /api/v3/apiKeyInfo` REPLACES the key's IP whitelist, as on MEXC. The daemon must
    never call it; it is served so that a test can catch (and count) a call that would."""
    if params.get("apiKey", key.api_key) != key.api_key:
        raise err(10072, "Api key info invalid")
    raw = params.get("ipWhiteList", "")
    ips = [ip.strip() for ip in raw.split(",") if ip.strip()]
    if len(ips) > 20:
        raise err(700004, "ipWhiteList supports at most 20 IPs")
    try:
        key.apply({"ip_whitelist": ips}, where="ipWhiteList")
    except ValueError:
        raise err(700004, "Illegal characters found in parameter 'ipWhiteList'") from None
    if "note" in params:
        key.note = params["note"]
    return json_response(
        {"note": key.note, "apikey": key.api_key, "ipWhiteList": ",".join(key.ip_whitelist)}
    )


async def uid(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    return json_response({"uid": str(zlib.crc32(key.api_key.encode()) % 10**8)})


async def capital_config(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    return json_response([])


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
        ("GET", f"{p}/trades", recent_trades),
        ("GET", f"{p}/aggTrades", agg_trades),
        ("GET", f"{p}/account", private("SPOT_ACCOUNT_READ", account)),
        ("GET", f"{p}/apiKeyInfo", private(None, api_key_info)),
        ("POST", f"{p}/apiKeyInfo", private(None, set_api_key_info)),
        ("GET", f"{p}/uid", private("SPOT_ACCOUNT_READ", uid)),
        ("GET", f"{p}/capital/config/getall", private("SPOT_WITHDRAW_READ", capital_config)),
        ("POST", f"{p}/order/test", private("SPOT_DEAL_WRITE", order_test)),
        ("POST", f"{p}/order", private("SPOT_DEAL_WRITE", create_order)),
        ("DELETE", f"{p}/order", private("SPOT_DEAL_WRITE", cancel_order)),
        ("GET", f"{p}/order", private("SPOT_DEAL_READ", get_order)),
        ("GET", f"{p}/openOrders", private("SPOT_DEAL_READ", open_orders)),
        ("DELETE", f"{p}/openOrders", private("SPOT_DEAL_WRITE", cancel_open_orders)),
    ]
