"""Bybit v5 public market data on the sandbox: server time, system status (a maintenance event
while the fault is on), instruments-info for spot and USDT linear perpetuals (one spot pair
listed but not `Trading`), tickers and order books from the shared seeded price feed (linear ones
at the perpetual's price: the spot path x (1 + basis), quotes.perp_price). Mounted by
bybit/account.py routes(); `spot_instrument()` resolves ids, `linear_contract()` the perpetual.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.bybit.gateway import err, ok
from backfuture_daemon.sandbox.catalogue import Contract, Instrument
from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.quotes import book, perp_price
from backfuture_daemon.sandbox.venue import Venue, cached, raw_json, venue_of

#: Linear perpetuals follow these spot pairs (BTCUSDT, ETHUSDT on Bybit's linear category).
LINEAR_UNDERLYINGS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
CATEGORIES = ("spot", "linear")
#: Linear lot rules (instruments-info lotSizeFilter): qty is in the BASE coin (no contract size).
LINEAR_QTY_STEP = Decimal("0.001")
LINEAR_MIN_QTY = Decimal("0.001")
LINEAR_MAX_QTY = Decimal("1190")
LINEAR_MAX_MARKET_QTY = Decimal("119")
LINEAR_MIN_NOTIONAL = Decimal("5")
LINEAR_MAX_LEVERAGE = 100


def bybit_id(inst: Instrument) -> str:
    return inst.base + inst.quote


def linear_contract(inst: Instrument) -> Contract:
    """The USDT perpetual of a spot pair: Bybit's id (BTCUSDT), one unit = 1 base coin."""
    return Contract(bybit_id(inst), inst.symbol, inst.base, Decimal(1), inst.price_tick,
                    LINEAR_MAX_LEVERAGE)  # fmt: skip


def _spot_info(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": bybit_id(inst),
        "baseCoin": inst.base,
        "quoteCoin": inst.quote,
        "innovation": "0",
        # ccxt: active = status == "Trading" (§3.3); a listed pair the API may not trade is
        # shown with another status ⚠ (which one Bybit uses for spot is not documented).
        "status": "Trading" if inst.api_tradable else "Closed",
        "marginTrading": "none",
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": decimal_str(inst.amount_tick),
            "quotePrecision": "0.00000001",
            "minOrderQty": decimal_str(inst.min_amount),
            "maxOrderQty": "9000",
            "minOrderAmt": decimal_str(inst.min_cost),
            "maxOrderAmt": "2000000",
        },
        "priceFilter": {"tickSize": decimal_str(inst.price_tick)},
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
    }


def _linear_info(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": bybit_id(inst),
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": inst.base,
        "quoteCoin": inst.quote,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(max(0, -inst.price_tick.normalize().adjusted())),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {
            "minPrice": decimal_str(inst.price_tick),
            "maxPrice": "1999999.80",
            "tickSize": decimal_str(inst.price_tick),
        },
        "lotSizeFilter": {
            "maxOrderQty": decimal_str(LINEAR_MAX_QTY),
            "minOrderQty": decimal_str(LINEAR_MIN_QTY),
            "qtyStep": decimal_str(LINEAR_QTY_STEP),
            "postOnlyMaxOrderQty": decimal_str(LINEAR_MAX_QTY),
            "maxMktOrderQty": decimal_str(LINEAR_MAX_MARKET_QTY),
            "minNotionalValue": decimal_str(LINEAR_MIN_NOTIONAL),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": "USDT",
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
    }


def _category(venue: Venue, request: web.Request) -> str:
    category = request.query.get("category", "")
    if category not in CATEGORIES and category not in ("inverse", "option"):
        raise err(10001, "params error: Category is invalid", venue.now_ms())
    return category


async def server_time(request: web.Request) -> web.Response:
    now = venue_of(request).now_ms()
    return ok({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}, now)


async def system_status(request: web.Request) -> web.Response:
    """`GET /v5/system/status`: the maintenance events; one ongoing while the fault is on ⚠
    (field values beyond the names in §3.3 are unverified)."""
    venue = venue_of(request)
    now = venue.now_ms()
    events = []
    if venue.faults.maintenance:
        events.append(
            {"id": "sandbox-maintenance", "title": "System maintenance", "state": "ongoing",
             "begin": str(now - 60_000), "end": str(now + 3_600_000), "href": "",
             "serviceTypes": [1, 2, 3], "product": [1, 2], "uidSuffix": [], "maintainType": 1,
             "env": 1}
        )  # fmt: skip
    return ok({"list": events}, now)


async def instruments_info(request: web.Request) -> web.Response:
    """Spot (one page) and linear (`limit`, `cursor`; the last page's nextPageCursor is "",
    which ends ccxt's pagination). `status=PreLaunch` lists none."""
    venue = venue_of(request)
    category = _category(venue, request)
    catalogue = venue.engine.catalogue
    if category == "spot":
        rows = cached(venue, "spot", lambda: [_spot_info(i) for i in catalogue.spot])
    elif category == "linear" and request.query.get("status", "Trading") == "Trading":
        rows = cached(
            venue,
            "linear",
            lambda: [_linear_info(catalogue.by_symbol[s]) for s in LINEAR_UNDERLYINGS],
        )
    else:
        rows = b"[]"
    head = f'{{"retCode":0,"retMsg":"OK","result":{{"category":"{category}","list":'
    tail = f',"nextPageCursor":""}},"retExtInfo":{{}},"time":{venue.now_ms()}}}'
    return raw_json(head.encode() + rows + tail.encode())


def spot_instrument(venue: Venue, symbol: str | None, category: str) -> Instrument | None:
    if not symbol:
        return None
    inst = venue.engine.catalogue.by_mexc_id.get(symbol)  # BASEQUOTE, Bybit's ids too
    if inst is None or (category == "linear" and inst.symbol not in LINEAR_UNDERLYINGS):
        raise err(10001, "Not supported symbols", venue.now_ms())
    return inst


def last_price(venue: Venue, inst: Instrument, category: str, now: int) -> Decimal:
    """The spot pair's price, or on `linear` its perpetual's (spot x (1 + basis))."""
    if category == "linear":
        return perp_price(venue.engine.feed, linear_contract(inst), now)
    return venue.engine.last_price(inst.symbol, now)


def _book(
    venue: Venue, inst: Instrument, category: str, now: int, depth: int
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """The spot book, or the perpetual's: the same sizes one tick either side of its price."""
    bids, asks = book(venue.engine.feed, inst, now, depth)
    if category != "linear":
        return bids, asks
    shift = last_price(venue, inst, category, now) - venue.engine.last_price(inst.symbol, now)
    return [(p + shift, q) for p, q in bids], [(p + shift, q) for p, q in asks]


def _ticker(venue: Venue, inst: Instrument, category: str, now: int) -> dict[str, Any]:
    last = last_price(venue, inst, category, now)
    prev = last_price(venue, inst, category, now - 86_400_000)
    bids, asks = _book(venue, inst, category, now, 1)
    pct = ((last - prev) / prev).quantize(Decimal("0.0001"))
    return {
        "symbol": bybit_id(inst), "bid1Price": decimal_str(bids[0][0]),
        "bid1Size": decimal_str(bids[0][1]), "ask1Price": decimal_str(asks[0][0]),
        "ask1Size": decimal_str(asks[0][1]), "lastPrice": decimal_str(last),
        "prevPrice24h": decimal_str(prev), "price24hPcnt": decimal_str(pct),
        "highPrice24h": decimal_str(max(last, prev)), "lowPrice24h": decimal_str(min(last, prev)),
        "turnover24h": decimal_str(last * 1000), "volume24h": "1000", "usdIndexPrice": "",
    }  # fmt: skip


async def tickers(request: web.Request) -> web.Response:
    venue = venue_of(request)
    category = _category(venue, request)
    now = venue.now_ms()
    inst = spot_instrument(venue, request.query.get("symbol"), category)
    if inst is not None:
        chosen = [inst]
    elif category == "linear":
        chosen = [venue.engine.catalogue.by_symbol[s] for s in LINEAR_UNDERLYINGS]
    else:
        chosen = list(venue.engine.catalogue.spot)
    return ok(
        {"category": category, "list": [_ticker(venue, i, category, now) for i in chosen]}, now
    )


async def orderbook(request: web.Request) -> web.Response:
    venue = venue_of(request)
    category = _category(venue, request)
    now = venue.now_ms()
    inst = spot_instrument(venue, request.query.get("symbol"), category)
    if inst is None:
        raise err(10001, "params error: symbol is required", now)
    try:
        limit = max(1, min(200, int(request.query.get("limit", "1"))))
    except ValueError:
        raise err(10001, "params error: limit is invalid", now) from None
    bids, asks = _book(venue, inst, category, now, min(limit, 50))
    return ok(
        {"s": bybit_id(inst), "b": [[decimal_str(p), decimal_str(q)] for p, q in bids],
         "a": [[decimal_str(p), decimal_str(q)] for p, q in asks], "ts": now, "u": now,
         "seq": now, "cts": now},
        now,
    )  # fmt: skip
