"""MEXC spot v3 public market data on the sandbox: ping, time, exchangeInfo (one pair listed but
not API-tradable), defaultSymbols, tickers, klines and depth from the seeded price feed.
Mounted by mexc/spot.py routes(); the order handlers use `instrument()` to resolve symbols.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.catalogue import Instrument
from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.mexc.gateway import Params, err
from backfuture_daemon.sandbox.quotes import book, candles, trades
from backfuture_daemon.sandbox.venue import (
    Venue,
    cached,
    json_response,
    raw_json,
    venue_of,
)


def mexc_id(inst: Instrument) -> str:
    return inst.base + inst.quote


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
    spot = venue.engine.catalogue.spot
    if not wanted:  # the whole list: static, served from the cache
        symbols = cached(venue, "exchangeInfo", lambda: [_symbol_info(i) for i in spot])
        head = f'{{"timezone":"CST","serverTime":{venue.now_ms()},"rateLimits":[],'
        return raw_json(head.encode() + b'"exchangeFilters":[],"symbols":' + symbols + b"}")
    names = set(wanted.split(","))
    symbols_ = [_symbol_info(i) for i in spot if mexc_id(i) in names]
    return json_response(
        {
            "timezone": "CST",
            "serverTime": venue.now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols_,
        }
    )


async def default_symbols(request: web.Request) -> web.Response:
    """The symbols the API may trade (a pair missing here answers 10007 on orders)."""
    ids = [mexc_id(i) for i in venue_of(request).engine.catalogue.spot if i.api_tradable]
    return json_response({"code": 0, "data": ids, "msg": "success"})


def instrument(venue: Venue, params: Params, *, required: bool = True) -> Instrument | None:
    symbol = params.get("symbol")
    if not symbol:
        if required:
            raise err(
                700004, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        return None
    inst = venue.engine.catalogue.by_mexc_id.get(symbol)
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
    inst = instrument(venue, request.query, required=False)
    if inst is not None:
        return json_response(_ticker(venue, inst))
    return json_response([_ticker(venue, i) for i in venue.engine.catalogue.spot])


async def ticker_price(request: web.Request) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    inst = instrument(venue, request.query, required=False)
    rows = [
        {"symbol": mexc_id(i), "price": decimal_str(venue.engine.last_price(i.symbol, now))}
        for i in ([inst] if inst else venue.engine.catalogue.spot)
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


def int_param(params: Params, name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise err(700004, f"Illegal characters found in parameter '{name}'") from None


async def klines(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, request.query)
    assert inst is not None
    interval = _INTERVALS_MS.get(request.query.get("interval", ""))
    if interval is None:
        raise err(-1121, "Invalid interval.")
    limit = min(1000, max(1, int_param(request.query, "limit", 500) or 500))
    end = int_param(request.query, "endTime", None)
    now = venue.now_ms()
    rows = candles(
        venue.engine.feed,
        inst.symbol,
        interval,
        min(now, end - 1) if end else now,
        start_ms=int_param(request.query, "startTime", None),
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
    inst = instrument(venue, request.query)
    assert inst is not None
    limit = min(5000, max(1, int_param(request.query, "limit", 100) or 100))
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


def _trade_window(venue: Venue, params: Params) -> tuple[int, int, int | None]:
    """(end, limit, start) of a trades request: the last `limit` (default 500, at most 1000)."""
    limit = min(1000, max(1, int_param(params, "limit", 500) or 500))
    now = venue.now_ms()
    end = int_param(params, "endTime", None)
    return (min(now, end) if end else now), limit, int_param(params, "startTime", None)


async def recent_trades(request: web.Request) -> web.Response:
    """`GET /api/v3/trades`: the public tape, newest last, at the price path."""
    venue = venue_of(request)
    inst = instrument(venue, request.query)
    assert inst is not None
    end, limit, _ = _trade_window(venue, request.query)
    rows = trades(venue.engine.feed, inst, end, limit)
    return json_response(
        [
            {"id": None, "price": decimal_str(t.price), "qty": decimal_str(t.amount),
             "quoteQty": decimal_str(t.price * t.amount), "time": t.time_ms,
             "isBuyerMaker": t.side == "sell", "isBestMatch": True,
             "tradeType": "BID" if t.side == "buy" else "ASK"}
            for t in rows
        ]
    )  # fmt: skip


async def agg_trades(request: web.Request) -> web.Response:
    """`GET /api/v3/aggTrades` (ccxt's default for fetch_trades), with startTime/endTime."""
    venue = venue_of(request)
    inst = instrument(venue, request.query)
    assert inst is not None
    end, limit, start = _trade_window(venue, request.query)
    rows = trades(venue.engine.feed, inst, end, limit, start_ms=start)
    return json_response(
        [
            {"a": None, "f": None, "l": None, "p": decimal_str(t.price),
             "q": decimal_str(t.amount), "T": t.time_ms, "m": t.side == "sell", "M": True}
            for t in rows
        ]
    )  # fmt: skip
