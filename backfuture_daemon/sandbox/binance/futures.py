"""Binance USDⓈ-M futures (`fapi`) on the sandbox's Binance port: time, exchangeInfo (USDT
perpetuals following the spot price feed), the futures account (`GET /fapi/v3/account`, needs
`enableFutures`) and the order test. binance/spot.py routes() mounts these; reference §1.3.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.binance.gateway import Params, Route, err, private
from backfuture_daemon.sandbox.binance.market_data import RATE_LIMITS, ping, server_time
from backfuture_daemon.sandbox.catalogue import Instrument
from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import Venue, cached, json_response, raw_json, venue_of

FUTURES = "enableFutures"
#: The spot pairs with a USDT perpetual on the sandbox (Binance ids are the same: BTCUSDT).
PERPETUALS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
_NEVER = 4133404800000  #: Binance's deliveryDate for perpetuals (2100-12-25)


def _perpetuals(venue: Venue) -> list[Instrument]:
    by_symbol = venue.engine.catalogue.by_symbol
    return [by_symbol[s] for s in PERPETUALS if s in by_symbol]


def _contract(inst: Instrument) -> dict[str, Any]:
    price_places = max(0, -int(inst.price_tick.normalize().as_tuple().exponent))
    qty_places = max(0, -int(inst.amount_tick.normalize().as_tuple().exponent))
    return {
        "symbol": inst.base + inst.quote, "pair": inst.base + inst.quote,
        "contractType": "PERPETUAL", "deliveryDate": _NEVER, "onboardDate": 1569398400000,
        "status": "TRADING", "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": inst.base, "quoteAsset": inst.quote, "marginAsset": inst.quote,
        "pricePrecision": price_places, "quantityPrecision": qty_places,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
        "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": decimal_str(inst.price_tick),
             "maxPrice": "4529764", "tickSize": decimal_str(inst.price_tick)},
            {"filterType": "LOT_SIZE", "minQty": decimal_str(inst.amount_tick),
             "maxQty": "1000", "stepSize": decimal_str(inst.amount_tick)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": decimal_str(inst.amount_tick),
             "maxQty": "120", "stepSize": decimal_str(inst.amount_tick)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
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
    symbols = cached(venue, "fapiSymbols", lambda: [_contract(i) for i in _perpetuals(venue)])
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
    ids = {i.base + i.quote for i in _perpetuals(venue)}
    if params.get("symbol") not in ids:
        raise err(-1121, "Invalid symbol.")
    for name in ("side", "type"):
        if not params.get(name):
            raise err(
                -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
            )
    return json_response({})


def routes() -> list[Route]:
    f = "/fapi/v1"
    return [
        ("GET", f"{f}/ping", ping),
        ("GET", f"{f}/time", server_time),
        ("GET", f"{f}/exchangeInfo", exchange_info),
        ("GET", "/fapi/v3/account", private(FUTURES, account)),
        ("POST", f"{f}/order/test", private(FUTURES, order_test)),
    ]
