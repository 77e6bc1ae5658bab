"""KuCoin spot public market data on the sandbox: currencies, symbols (one listed but not
API-tradable), tickers, stats, candles and order books, all from the seeded price feed.
Mounted by kucoin/spot.py routes(); the order handlers use `instrument()` to resolve symbols.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.catalogue import Instrument
from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.kucoin.gateway import fail, ok
from backfuture_daemon.sandbox.quotes import book, candles, trades
from backfuture_daemon.sandbox.venue import (
    Venue,
    cached,
    raw_json,
    venue_of,
)


def kucoin_id(inst: Instrument) -> str:
    return f"{inst.base}-{inst.quote}"


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
    venue = venue_of(request)
    spot = venue.engine.catalogue.spot

    def build() -> dict[str, Any]:
        codes = sorted({i.base for i in spot} | {i.quote for i in spot})
        return {"code": "200000", "data": [_currency(c, 8) for c in codes]}

    return raw_json(cached(venue, "currencies", build))


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
    venue = venue_of(request)
    spot = venue.engine.catalogue.spot
    return raw_json(
        cached(venue, "symbols", lambda: {"code": "200000", "data": [_symbol(i) for i in spot]})
    )


def instrument(venue: Venue, symbol: str | None) -> Instrument:
    inst = venue.engine.catalogue.by_kucoin_id.get(symbol or "")
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
    rows = [_ticker(venue, i) for i in venue.engine.catalogue.spot]
    return ok({"time": venue.now_ms(), "ticker": rows})


async def stats(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, request.query.get("symbol"))
    return ok({"time": venue.now_ms(), **_ticker(venue, inst)})


async def level1(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst = instrument(venue, request.query.get("symbol"))
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
    inst = instrument(venue, request.query.get("symbol"))
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
    venue = venue_of(request)
    return ok(_book(venue, instrument(venue, request.query.get("symbol")), 20))


async def orderbook_100(request: web.Request) -> web.Response:
    venue = venue_of(request)
    return ok(_book(venue, instrument(venue, request.query.get("symbol")), 100))


async def orderbook_full(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    return ok(_book(venue, instrument(venue, request.query.get("symbol")), 100))


async def histories(request: web.Request) -> web.Response:
    """`GET /api/v1/market/histories`: the last 100 public trades at the price path."""
    venue = venue_of(request)
    inst = instrument(venue, request.query.get("symbol"))
    rows = trades(venue.engine.feed, inst, venue.now_ms(), 100)
    return ok(
        [
            {"sequence": str(t.time_ms), "price": decimal_str(t.price),
             "size": decimal_str(t.amount), "side": t.side, "time": t.time_ms * 1_000_000}
            for t in rows
        ]
    )  # fmt: skip
