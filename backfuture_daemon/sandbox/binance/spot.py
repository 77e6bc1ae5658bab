"""Binance spot on the sandbox: the endpoint table with each route's key permission, the account
(`GET /api/v3/account`) and the key's own permissions (`GET /sapi/v1/account/apiRestrictions`);
orders (and the order test) live in binance/trading.py.

server.py (or a test fixture) mounts `routes()` on the Binance port. Reference §1.2-§1.4.
"""

from __future__ import annotations

import zlib

from aiohttp import web

from backfuture_daemon.sandbox.binance import futures, history, trading
from backfuture_daemon.sandbox.binance.gateway import (
    EXCHANGE,
    FLAGS,
    TRADE,
    Params,
    Route,
    has_permission,
    private,
    trading_expires_ms,
)
from backfuture_daemon.sandbox.binance.market_data import (
    book_ticker,
    depth,
    exchange_info,
    ping,
    server_time,
    system_status,
    ticker_24hr,
    ticker_price,
)
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import json_response, venue_of


def _uid(key: SandboxKey) -> int:
    return 10**8 + zlib.crc32(key.api_key.encode()) % 10**8


async def account(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, now)
    omit_zero = params.get("omitZeroBalances", "false").lower() == "true"
    balances = []
    for cur in sorted(set(acct.free) | set(acct.locked)):
        free, locked = acct.balance(cur)
        if free or locked or not omit_zero:
            balances.append({"asset": cur, "free": f"{free:.8f}", "locked": f"{locked:.8f}"})
    return json_response(
        {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": "0.00100000",
                "taker": "0.00100000",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            # Account-level flags (not the key's): a frozen account may not trade.
            "canTrade": not key.frozen,
            "canWithdraw": not key.frozen,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": _uid(key),
        }
    )


async def api_restrictions(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """The key's own permissions; `tradingAuthorityExpirationTime` only for an unrestricted key
    with trading (it loses trading 30 days after creation, reference §1.2, §1.5)."""
    now = venue_of(request).now_ms()
    body: dict[str, object] = {"ipRestrict": bool(key.ip_whitelist), "createTime": key.created_ms}
    for flag in FLAGS:
        body[flag] = has_permission(key, flag, now)
    expires = trading_expires_ms(key)
    if expires is not None:
        body["tradingAuthorityExpirationTime"] = expires
    return json_response(body)


def routes() -> list[Route]:
    """Spot, sapi and USDⓈ-M futures paths: Binance serves them on different hosts, the
    sandbox on one port (a connection's `endpoints.spot` reaches both)."""
    p, s = "/api/v3", "/sapi/v1"
    return [
        *futures.routes(),
        ("GET", f"{p}/ping", ping),
        ("GET", f"{p}/time", server_time),
        ("GET", f"{p}/exchangeInfo", exchange_info),
        ("GET", f"{p}/ticker/24hr", ticker_24hr),
        ("GET", f"{p}/ticker/price", ticker_price),
        ("GET", f"{p}/ticker/bookTicker", book_ticker),
        ("GET", f"{p}/depth", depth),
        ("GET", f"{s}/system/status", system_status),
        # enableReading cannot be switched off on Binance; a key reads whatever else it has.
        ("GET", f"{p}/account", private("enableReading", account)),
        ("GET", f"{s}/account/apiRestrictions", private("enableReading", api_restrictions)),
        ("POST", f"{p}/order/test", private(TRADE, trading.order_test)),
        ("POST", f"{p}/order", private(TRADE, trading.create_order)),
        ("GET", f"{p}/order", private("enableReading", trading.get_order)),
        ("DELETE", f"{p}/order", private(TRADE, trading.cancel_order)),
        ("GET", f"{p}/openOrders", private("enableReading", trading.open_orders)),
        ("GET", f"{p}/myTrades", private("enableReading", history.my_trades)),
        ("GET", f"{p}/allOrders", private("enableReading", history.all_orders)),
    ]
