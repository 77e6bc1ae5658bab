"""MEXC spot v3 on the sandbox: the endpoint table with each route's scope, account balances and
key info (`GET /api/v3/apiKeyInfo`); the order handlers live in mexc/trading.py.

server.py mounts `routes()` (and mexc/contract.py routes()) on the MEXC port. Reference: §2, §5.
"""

from __future__ import annotations

import datetime as dt
import zlib

from aiohttp import web

from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.mexc.gateway import Params, Route, err, private
from backfuture_daemon.sandbox.mexc.market_data import (
    agg_trades,
    default_symbols,
    depth,
    exchange_info,
    klines,
    ping,
    recent_trades,
    server_time,
    ticker_24hr,
    ticker_price,
)
from backfuture_daemon.sandbox.mexc.trading import (
    all_orders,
    cancel_open_orders,
    cancel_order,
    create_order,
    get_order,
    my_trades,
    open_orders,
    order_test,
)
from backfuture_daemon.sandbox.venue import json_response, venue_of

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
        ("GET", f"{p}/allOrders", private("SPOT_DEAL_READ", all_orders)),
        ("GET", f"{p}/myTrades", private("SPOT_DEAL_READ", my_trades)),
    ]
