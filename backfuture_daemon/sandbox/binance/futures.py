"""Binance USDⓈ-M futures (`fapi`) on the sandbox's Binance port: time, exchangeInfo (the USDT
perpetuals of contracts.py, following the spot price feed × the basis), the public ticker and
depth at the perpetual's price (quotes.perp_price, sizes in base), the futures account (`GET
/fapi/v3/account`, needs `enableFutures`), the order test, and the routes of the account's
settings and positions (futures_account.py) and orders (futures_trading.py). binance/spot.py
routes() mounts these; reference §1.3.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.binance import futures_account as acct
from backfuture_daemon.sandbox.binance import futures_trading as orders
from backfuture_daemon.sandbox.binance.contracts import MIN_NOTIONAL, STEP, contract_of, listed
from backfuture_daemon.sandbox.binance.gateway import Params, Route, err, private
from backfuture_daemon.sandbox.binance.market_data import RATE_LIMITS, ping, server_time
from backfuture_daemon.sandbox.catalogue import Contract
from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.quotes import contract_book, perp_price
from backfuture_daemon.sandbox.venue import cached, json_response, raw_json, venue_of

FUTURES = "enableFutures"
_NEVER = 4133404800000  #: Binance's deliveryDate for perpetuals (2100-12-25)
_DEPTHS = (5, 10, 20, 50, 100, 500, 1000)


def _contract(c: Contract) -> dict[str, Any]:
    step = STEP[c.id]
    price_places = max(0, -int(c.price_tick.normalize().as_tuple().exponent))
    qty_places = max(0, -int(step.normalize().as_tuple().exponent))
    base, quote = c.underlying.split("/")
    return {
        "symbol": c.id, "pair": c.id,
        "contractType": "PERPETUAL", "deliveryDate": _NEVER, "onboardDate": 1569398400000,
        "status": "TRADING", "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": base, "quoteAsset": quote, "marginAsset": quote,
        "pricePrecision": price_places, "quantityPrecision": qty_places,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
        "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": decimal_str(c.price_tick),
             "maxPrice": "4529764", "tickSize": decimal_str(c.price_tick)},
            {"filterType": "LOT_SIZE", "minQty": decimal_str(step),
             "maxQty": "1000", "stepSize": decimal_str(step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": decimal_str(step),
             "maxQty": "120", "stepSize": decimal_str(step)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": decimal_str(MIN_NOTIONAL)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
             "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": [["GRID", "COPY"]],
    }  # fmt: skip


async def exchange_info(request: web.Request) -> web.Response:
    venue = venue_of(request)
    symbols = cached(venue, "fapiSymbols", lambda: [_contract(c) for c in listed(venue)])
    limits = cached(venue, "rateLimits", lambda: RATE_LIMITS)
    head = (
        f'{{"timezone":"UTC","serverTime":{venue.now_ms()},"futuresType":"U_MARGINED","rateLimits":'
    )
    assets = b'"assets":[{"asset":"USDT","marginAvailable":true,"autoAssetExchange":"-10000"}]'
    return raw_json(
        head.encode()
        + limits
        + b',"exchangeFilters":[],'
        + assets
        + b',"symbols":'
        + symbols
        + b"}"
    )


def _wallet(key: SandboxKey) -> Decimal:
    """The futures wallet holds the key's USDT balance (no transfers between wallets here)."""
    return key.balances.get("USDT", Decimal(0))


async def account(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    now = venue_of(request).now_ms()
    usdt = f"{_wallet(key):.8f}"
    zero = "0.00000000"
    return json_response(
        {
            "totalInitialMargin": zero, "totalMaintMargin": zero, "totalWalletBalance": usdt,
            "totalUnrealizedProfit": zero, "totalMarginBalance": usdt,
            "totalPositionInitialMargin": zero, "totalOpenOrderInitialMargin": zero,
            "totalCrossWalletBalance": usdt, "totalCrossUnPnl": zero,
            "availableBalance": usdt, "maxWithdrawAmount": usdt,
            "assets": [
                {"asset": "USDT", "walletBalance": usdt, "unrealizedProfit": zero,
                 "marginBalance": usdt, "maintMargin": zero, "initialMargin": zero,
                 "positionInitialMargin": zero, "openOrderInitialMargin": zero,
                 "crossWalletBalance": usdt, "crossUnPnl": zero, "availableBalance": usdt,
                 "maxWithdrawAmount": usdt, "updateTime": now}
            ],
            "positions": [],
        }
    )  # fmt: skip


async def order_test(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    contract_of(venue, params)
    for name in ("side", "type"):
        if not params.get(name):
            raise err(
                -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
            )
    return json_response({})


async def ticker_24hr(request: web.Request) -> web.Response:
    """`GET /fapi/v1/ticker/24hr`: at the perpetual's price (no bid/ask on fapi's 24hr)."""
    venue = venue_of(request)
    wanted = contract_of(venue, request.query, required=False)
    now = venue.now_ms()
    rows = []
    for c in [wanted] if wanted else listed(venue):
        last = perp_price(venue.engine.feed, c, now)
        open_ = perp_price(venue.engine.feed, c, now - 86_400_000)
        change = ((last - open_) / open_ * 100).quantize(Decimal("0.001"))
        rows.append(
            {"symbol": c.id, "priceChange": decimal_str(last - open_),
             "priceChangePercent": decimal_str(change), "weightedAvgPrice": decimal_str(last),
             "lastPrice": decimal_str(last), "lastQty": decimal_str(STEP[c.id]),
             "openPrice": decimal_str(open_), "highPrice": decimal_str(max(last, open_)),
             "lowPrice": decimal_str(min(last, open_)), "volume": "1000",
             "quoteVolume": decimal_str(last * 1000), "openTime": now - 86_400_000,
             "closeTime": now, "firstId": 1, "lastId": 1000, "count": 1000}
        )  # fmt: skip
    return json_response(rows[0] if wanted else rows)


async def depth(request: web.Request) -> web.Response:
    """`GET /fapi/v1/depth`: one tick either side of the perpetual's price, sizes in base."""
    venue = venue_of(request)
    c = contract_of(venue, request.query)
    assert c is not None
    try:
        limit = int(request.query.get("limit", "500"))
    except ValueError:
        raise err(-1100, "Illegal characters found in parameter 'limit'.") from None
    if limit not in _DEPTHS:
        raise err(-1130, "Invalid data sent for a parameter.")
    now = venue.now_ms()
    bids, asks = contract_book(venue.engine.feed, c, now, min(limit, 50))
    step = STEP[c.id]
    lot = max(step, (Decimal(1000) / perp_price(venue.engine.feed, c, now)).quantize(step))
    return json_response(
        {"lastUpdateId": now, "E": now, "T": now,
         "bids": [[decimal_str(p), decimal_str(lot * (i + 1))] for i, (p, _) in enumerate(bids)],
         "asks": [[decimal_str(p), decimal_str(lot * (i + 1))] for i, (p, _) in enumerate(asks)]}
    )  # fmt: skip


def routes() -> list[Route]:
    f, f2 = "/fapi/v1", "/fapi/v2"
    return [
        ("GET", f"{f}/ping", ping),
        ("GET", f"{f}/time", server_time),
        ("GET", f"{f}/exchangeInfo", exchange_info),
        ("GET", f"{f}/ticker/24hr", ticker_24hr),
        ("GET", f"{f}/depth", depth),
        ("GET", "/fapi/v3/account", private(FUTURES, account)),
        ("POST", f"{f}/order/test", private(FUTURES, order_test)),
        ("POST", f"{f}/order", private(FUTURES, orders.create_order)),
        ("GET", f"{f}/order", private(FUTURES, orders.get_order)),
        ("DELETE", f"{f}/order", private(FUTURES, orders.cancel_order)),
        ("GET", f"{f}/openOrders", private(FUTURES, orders.open_orders)),
        ("GET", f"{f}/allOrders", private(FUTURES, orders.all_orders)),
        ("GET", f"{f}/userTrades", private(FUTURES, orders.user_trades)),
        ("POST", f"{f}/leverage", private(FUTURES, acct.leverage)),
        ("POST", f"{f}/marginType", private(FUTURES, acct.margin_type)),
        ("GET", f"{f}/positionSide/dual", private(FUTURES, acct.get_dual)),
        ("POST", f"{f}/positionSide/dual", private(FUTURES, acct.set_dual)),
        ("GET", f"{f2}/positionRisk", private(FUTURES, acct.position_risk)),
        ("GET", f"{f2}/balance", private(FUTURES, acct.balance)),
    ]
