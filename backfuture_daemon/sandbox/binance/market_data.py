"""Binance spot public market data on the sandbox: ping, time, system status, exchangeInfo (one
pair listed with `isSpotTradingAllowed: false`), 24h tickers, book tickers, prices and depth from
the shared seeded price feed. Mounted by binance/spot.py routes(); `instrument()` resolves ids.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.binance.gateway import Params, err
from backfuture_daemon.sandbox.catalogue import Instrument
from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.quotes import book
from backfuture_daemon.sandbox.venue import Venue, cached, json_response, raw_json, venue_of

RATE_LIMITS: list[dict[str, Any]] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]
_STP = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"]


def binance_id(inst: Instrument) -> str:
    return inst.base + inst.quote


def _symbol_info(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": binance_id(inst),
        "status": "TRADING",
        "baseAsset": inst.base,
        "baseAssetPrecision": 8,
        "quoteAsset": inst.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        # Listed and TRADING on the web, but not for the API: ccxt's `active` ignores this flag
        # (reference §1.3), so the adapter reads it itself.
        "isSpotTradingAllowed": inst.api_tradable,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": decimal_str(inst.price_tick),
                "maxPrice": "1000000.00000000",
                "tickSize": decimal_str(inst.price_tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": decimal_str(inst.min_amount),
                "maxQty": "9000.00000000",
                "stepSize": decimal_str(inst.amount_tick),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": decimal_str(inst.min_cost),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": _STP,
    }


async def ping(request: web.Request) -> web.Response:
    return json_response({})


async def server_time(request: web.Request) -> web.Response:
    return json_response({"serverTime": venue_of(request).now_ms()})


async def system_status(request: web.Request) -> web.Response:
    """`GET /sapi/v1/system/status` (NONE security although under sapi)."""
    if venue_of(request).faults.maintenance:
        return json_response({"status": 1, "msg": "system_maintenance"})
    return json_response({"status": 0, "msg": "normal"})


async def exchange_info(request: web.Request) -> web.Response:
    venue = venue_of(request)
    spot = venue.engine.catalogue.spot
    wanted = request.query.get("symbol")
    if wanted is None and not request.query.get("symbols"):
        symbols = cached(venue, "exchangeInfo", lambda: [_symbol_info(i) for i in spot])
        head = f'{{"timezone":"UTC","serverTime":{venue.now_ms()},"rateLimits":'
        limits = cached(venue, "rateLimits", lambda: RATE_LIMITS)
        return raw_json(
            head.encode() + limits + b',"exchangeFilters":[],"symbols":' + symbols + b"}"
        )
    names = (
        {wanted}
        if wanted
        else set(request.query["symbols"].strip("[]").replace('"', "").split(","))
    )
    found = [_symbol_info(i) for i in spot if binance_id(i) in names]
    if not found:
        raise err(-1121, "Invalid symbol.")
    return json_response(
        {"timezone": "UTC", "serverTime": venue.now_ms(), "rateLimits": RATE_LIMITS,
         "exchangeFilters": [], "symbols": found}
    )  # fmt: skip


def instrument(venue: Venue, params: Params, *, required: bool = True) -> Instrument | None:
    symbol = params.get("symbol")
    if not symbol:
        if required:
            raise err(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        return None
    inst = venue.engine.catalogue.by_mexc_id.get(symbol)  # BASEQUOTE, the same ids as Binance
    if inst is None:
        raise err(-1121, "Invalid symbol.")
    return inst


def _ticker(venue: Venue, inst: Instrument) -> dict[str, Any]:
    now = venue.now_ms()
    last = venue.engine.last_price(inst.symbol, now)
    open_ = venue.engine.last_price(inst.symbol, now - 86_400_000)
    tick = inst.price_tick
    change = ((last - open_) / open_ * 100).quantize(Decimal("0.001"))
    return {
        "symbol": binance_id(inst), "priceChange": decimal_str(last - open_),
        "priceChangePercent": decimal_str(change), "weightedAvgPrice": decimal_str(last),
        "prevClosePrice": decimal_str(open_), "lastPrice": decimal_str(last), "lastQty": "1",
        "bidPrice": decimal_str(last - tick), "bidQty": "1",
        "askPrice": decimal_str(last + tick), "askQty": "1",
        "openPrice": decimal_str(open_), "highPrice": decimal_str(max(last, open_)),
        "lowPrice": decimal_str(min(last, open_)), "volume": "1000",
        "quoteVolume": decimal_str(last * 1000), "openTime": now - 86_400_000,
        "closeTime": now, "firstId": 1, "lastId": 1000, "count": 1000,
    }  # fmt: skip


async def ticker_24hr(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, request.query, required=False)
    if inst is not None:
        return json_response(_ticker(venue, inst))
    return json_response([_ticker(venue, i) for i in venue.engine.catalogue.spot])


async def ticker_price(request: web.Request) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    inst = instrument(venue, request.query, required=False)
    rows = [
        {"symbol": binance_id(i), "price": decimal_str(venue.engine.last_price(i.symbol, now))}
        for i in ([inst] if inst else venue.engine.catalogue.spot)
    ]
    return json_response(rows[0] if inst else rows)


async def book_ticker(request: web.Request) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    inst = instrument(venue, request.query, required=False)
    rows = []
    for i in [inst] if inst else venue.engine.catalogue.spot:
        bids, asks = book(venue.engine.feed, i, now, 1)
        rows.append(
            {"symbol": binance_id(i), "bidPrice": decimal_str(bids[0][0]),
             "bidQty": decimal_str(bids[0][1]), "askPrice": decimal_str(asks[0][0]),
             "askQty": decimal_str(asks[0][1])}
        )  # fmt: skip
    return json_response(rows[0] if inst else rows)


async def depth(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, request.query)
    assert inst is not None
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise err(-1100, "Illegal characters found in parameter 'limit'.") from None
    limit = min(5000, max(1, limit))
    now = venue.now_ms()
    bids, asks = book(venue.engine.feed, inst, now, min(limit, 50))
    return json_response(
        {
            "lastUpdateId": now,
            "bids": [[decimal_str(p), decimal_str(q)] for p, q in bids],
            "asks": [[decimal_str(p), decimal_str(q)] for p, q in asks],
        }
    )
