"""Binance spot on the sandbox: the endpoint table with each route's key permission, the account
(`GET /api/v3/account`), the key's own permissions (`GET /sapi/v1/account/apiRestrictions`) and
the order test (`POST /api/v3/order/test`, validated, never matched).

server.py (or a test fixture) mounts `routes()` on the Binance port. Reference §1.2-§1.4.
"""

from __future__ import annotations

import zlib
from decimal import Decimal, InvalidOperation

from aiohttp import web

from backfuture_daemon.sandbox.binance import futures
from backfuture_daemon.sandbox.binance.gateway import (
    EXCHANGE,
    FLAGS,
    TRADE,
    Params,
    Route,
    err,
    has_permission,
    private,
    trading_expires_ms,
)
from backfuture_daemon.sandbox.binance.market_data import (
    book_ticker,
    depth,
    exchange_info,
    instrument,
    ping,
    server_time,
    system_status,
    ticker_24hr,
    ticker_price,
)
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import json_response, venue_of

_MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."


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


async def order_test(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """Validates like `POST /api/v3/order` (symbol, side, type, sizes, filters) and stops before
    the matching engine: `{}` on success."""
    venue = venue_of(request)
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
    quantity, quote_qty = _positive(params, "quantity"), _positive(params, "quoteOrderQty")
    price = _positive(params, "price")
    if kind == "MARKET":
        if quantity is None and quote_qty is None:
            raise err(
                -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            )
        notional = quote_qty if quote_qty is not None else None
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
    if notional is not None and notional < inst.min_cost:
        raise err(-1013, "Filter failure: NOTIONAL")
    if params.get("computeCommissionRates", "false").lower() == "true":
        rate = "0.00100000"
        return json_response(
            {"standardCommissionForOrder": {"maker": rate, "taker": rate},
             "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
             "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                          "discountAsset": "BNB", "discount": "0.25000000"}}
        )  # fmt: skip
    return json_response({})


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
        ("POST", f"{p}/order/test", private(TRADE, order_test)),
    ]
