"""KuCoin futures on its own sandbox port: active contracts, time/status, the public ticker and
level-2 depth (20, 100, snapshot; sizes in contracts) at the perpetual's price (the spot path
× (1 + basis), quotes.perp_price), order test and the order lifecycle of USDT perpetuals
(leverage 1..max per contract, isolated margin checked at placement, fills open positions:
futures_account.py): place (a duplicate clientOid is refused with 300012; a reduceOnly order
that would open exposure with 300009 "No open positions to close."), query and cancel by id or
clientOid, active and done lists, and fills (`/api/v1/fills`, `/api/v1/recentFills`:
futures_account.py). Authentication is KuCoin's (gateway.private); trading needs the `Futures`
permission, reading needs `General`. The shared faults (5xx, 429, accept_then_timeout,
drop_cancel_answer) hit these routes as they hit spot's.

server.py mounts `routes()` on the KuCoin futures port. Reference: exchanges.md §4.4.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.catalogue import Contract
from backfuture_daemon.sandbox.engine import (
    Order,
    UnknownOrder,
    decimal_str,
)
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.kucoin.futures_account import (
    account_overview,
    check_margin,
    list_fills,
    position,
    positions,
    recent_fills,
)
from backfuture_daemon.sandbox.kucoin.gateway import (
    Route,
    fail,
    ok,
    parse_body,
    private,
    status,
    timestamp,
)
from backfuture_daemon.sandbox.positions import opening_contracts
from backfuture_daemon.sandbox.quotes import contract_book, perp_price
from backfuture_daemon.sandbox.venue import Venue, venue_of


def _contract_json(venue: Venue, c: Contract) -> dict[str, Any]:
    now = venue.now_ms()
    last = perp_price(venue.engine.feed, c, now)
    return {
        "symbol": c.id,
        "rootSymbol": "USDT",
        "type": "FFWCSX",
        "firstOpenDate": 1585555200000,
        "expireDate": None,
        "settleDate": None,
        "baseCurrency": c.base_id,
        "quoteCurrency": "USDT",
        "settleCurrency": "USDT",
        "maxOrderQty": 1000000,
        "maxPrice": 1000000.0,
        "lotSize": 1,
        "tickSize": float(c.price_tick),
        "indexPriceTickSize": float(c.price_tick),
        "multiplier": float(c.multiplier),
        "initialMargin": 0.008,
        "maintainMargin": 0.004,
        "maxRiskLimit": 100000,
        "minRiskLimit": 100000,
        "riskStep": 50000,
        "makerFeeRate": 0.0002,
        "takerFeeRate": 0.0006,
        "takerFixFee": 0.0,
        "makerFixFee": 0.0,
        "settlementFee": None,
        "isDeleverage": True,
        "isQuanto": False,
        "isInverse": False,
        "markMethod": "FairPrice",
        "fairMethod": "FundingRate",
        "fundingBaseSymbol": f".{c.base_id}INT8H",
        "fundingQuoteSymbol": ".USDTINT8H",
        "fundingRateSymbol": f".{c.id}FPI8H",
        "indexSymbol": f".K{c.base_id}USDT",
        "settlementSymbol": "",
        "status": "Open",
        "fundingFeeRate": 0.0001,
        "predictedFundingFeeRate": 0.0001,
        "fundingRateGranularity": 28800000,
        "openInterest": "5000000",
        "turnoverOf24h": 1000000.0,
        "volumeOf24h": 1000.0,
        "markPrice": float(last),
        "indexPrice": float(last),
        "lastTradePrice": float(last),
        "nextFundingRateTime": 21600000,
        "maxLeverage": c.max_leverage,
        "lowPrice": float(last),
        "highPrice": float(last),
        "priceChgPct": 0.0,
        "priceChg": 0.0,
        "supportCross": True,
    }


async def contracts_active(request: web.Request) -> web.Response:
    venue = venue_of(request)
    return ok([_contract_json(venue, c) for c in venue.engine.catalogue.kucoin_contracts])


def _contract(venue: Venue, symbol: str | None) -> Contract:
    c = venue.engine.catalogue.kucoin_contract_by_id.get(symbol or "")
    if c is None:
        raise fail("100001", "contract not exists", 200)
    return c


async def contract(request: web.Request) -> web.Response:
    venue = venue_of(request)
    return ok(_contract_json(venue, _contract(venue, request.match_info["symbol"])))


async def ticker(request: web.Request) -> web.Response:
    venue = venue_of(request)
    c = _contract(venue, request.query.get("symbol"))
    now = venue.now_ms()
    last = perp_price(venue.engine.feed, c, now)
    return ok(
        {
            "sequence": now,
            "symbol": c.id,
            "side": "buy",
            "size": 1,
            "price": decimal_str(last),
            "bestBidSize": 10,
            "bestBidPrice": decimal_str(last - c.price_tick),
            "bestAskPrice": decimal_str(last + c.price_tick),
            "tradeId": str(now),
            "ts": now * 1_000_000,
            "bestAskSize": 10,
        }
    )


def _depth(request: web.Request, depth: int) -> web.Response:
    """`GET /api/v1/level2/depth20|depth100|snapshot?symbol=`: KuCoin's shape, prices and sizes
    (whole contracts) as numbers, `ts` in nanoseconds."""
    venue = venue_of(request)
    c = _contract(venue, request.query.get("symbol"))
    now = venue.now_ms()
    bids, asks = contract_book(venue.engine.feed, c, now, depth)
    return ok(
        {"symbol": c.id, "sequence": now, "ts": now * 1_000_000,
         "bids": [[float(p), q] for p, q in bids], "asks": [[float(p), q] for p, q in asks]}
    )  # fmt: skip


async def depth20(request: web.Request) -> web.Response:
    return _depth(request, 20)


async def depth100(request: web.Request) -> web.Response:
    return _depth(request, 100)


def _order_from_body(venue: Venue, body: dict[str, Any]) -> Order:
    c = _contract(venue, body.get("symbol"))
    side, otype = body.get("side"), body.get("type", "limit")
    if side not in ("buy", "sell") or otype not in ("limit", "market"):
        raise fail("100001", "Parameter Error", 200)
    if not body.get("clientOid"):
        raise fail("100001", "clientOid is required", 200)
    try:
        size = int(body.get("size", 0))
        price = Decimal(str(body["price"])) if body.get("price") not in (None, "") else None
    except (ValueError, TypeError, ArithmeticError):
        raise fail("100001", "Parameter Error", 200) from None
    if size <= 0 or (otype == "limit" and (price is None or price <= 0)):
        raise fail("100001", "Parameter Error", 200)
    try:
        leverage = Decimal(str(body.get("leverage", 1)))
    except ArithmeticError:
        leverage = Decimal(0)
    if not leverage.is_finite() or not 1 <= leverage <= c.max_leverage:
        raise fail("100001", f"leverage must be 1 to {c.max_leverage}", 200)
    if price is not None and price % c.price_tick:
        raise fail("100001", "Price increment invalid.", 200)
    return Order(
        id=f"{0x6705F5C311545B1000000000 + venue.next_id():024x}",
        client_id=str(body["clientOid"]),
        symbol=c.underlying,
        side=side,
        type=otype,
        price=price if otype == "limit" else None,
        amount=Decimal(size),
        created_ms=venue.now_ms(),
        market="futures",
        instrument_id=c.id,
        post_only=bool(body.get("postOnly")),
        extra={
            "leverage": str(body.get("leverage", "1")),
            "leverage_value": leverage,
            "multiplier": c.multiplier,
            "marginMode": body.get("marginMode"),
            "reduceOnly": body.get("reduceOnly") in (True, "true"),
        },
    )


def _order_json(venue: Venue, o: Order) -> dict[str, Any]:
    c = venue.engine.catalogue.kucoin_contract_by_id[o.instrument_id]
    value = o.filled * c.multiplier * (o.average or Decimal(0))
    active = o.status == "open"
    return {
        "id": o.id,
        "symbol": o.instrument_id,
        "type": o.type,
        "side": o.side,
        "price": decimal_str(o.price) if o.price is not None else None,
        "size": int(o.amount),
        "value": decimal_str(o.amount * c.multiplier * (o.price or o.average or Decimal(0))),
        "dealValue": decimal_str(value),
        "dealSize": int(o.filled),
        "filledSize": int(o.filled),
        "filledValue": decimal_str(value),
        "stp": "",
        "stopPriceType": "",
        "stopTriggered": False,
        "timeInForce": "GTC",
        "postOnly": o.post_only,
        "hidden": False,
        "iceberg": False,
        "leverage": o.extra.get("leverage", "1"),
        "forceHold": False,
        "closeOrder": False,
        "visibleSize": 0,
        "clientOid": o.client_id,
        "remark": None,
        "tags": "",
        "isActive": active,
        "cancelExist": o.status == "canceled",
        "createdAt": o.created_ms,
        "updatedAt": o.updated_ms,
        "endAt": None if active else o.updated_ms,
        "orderTime": o.created_ms * 1_000_000,
        "settleCurrency": "USDT",
        "marginMode": o.extra.get("marginMode") or "ISOLATED",
        "status": "open" if active else "done",
        "reduceOnly": o.extra.get("reduceOnly") is True,
    }


async def order_test(request: web.Request, key: SandboxKey) -> web.Response:
    order = _order_from_body(venue_of(request), parse_body(request))
    return ok({"orderId": order.id, "clientOid": order.client_id})


async def create_order(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    order = _order_from_body(venue, parse_body(request))
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    if order.client_id in acct.by_client_id:
        raise fail("300012", "clientOid duplicate", 200)
    venue.engine.refresh(acct, order.created_ms)
    if order.extra["reduceOnly"] is True:
        pos = acct.futures.positions.get(order.instrument_id)
        if opening_contracts(pos, order.side, order.amount) > 0:
            raise fail("300009", "No open positions to close.", 200)
    check_margin(venue, key, acct, order)
    venue.engine.place(acct, order, order.created_ms)
    return ok({"orderId": order.id, "clientOid": order.client_id})


def _lookup(request: web.Request, key: SandboxKey, *, cancel: bool) -> Order:
    venue = venue_of(request)
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    client_oid = request.match_info.get("client_oid") or request.query.get("clientOid", "")
    oid = request.match_info.get("order_id") or acct.by_client_id.get(client_oid, "")
    order = acct.orders.get(oid)
    try:
        if order is None or order.market != "futures":
            raise UnknownOrder(oid)
        if cancel:
            return venue.engine.cancel(acct, oid, venue.now_ms())
        return venue.engine.get(acct, oid, venue.now_ms())
    except UnknownOrder:
        raise fail("100001", "error.getOrder.orderNotExist", 200) from None


async def cancel_order(request: web.Request, key: SandboxKey) -> web.Response:
    return ok({"cancelledOrderIds": [_lookup(request, key, cancel=True).id]})


async def cancel_order_by_client(request: web.Request, key: SandboxKey) -> web.Response:
    return ok({"clientOid": _lookup(request, key, cancel=True).client_id})


async def get_order(request: web.Request, key: SandboxKey) -> web.Response:
    return ok(_order_json(venue_of(request), _lookup(request, key, cancel=False)))


def _futures_orders(request: web.Request, key: SandboxKey, active: bool) -> list[Order]:
    venue = venue_of(request)
    symbol = request.query.get("symbol")
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    return [
        o
        for o in acct.orders.values()
        if o.market == "futures" and o.is_open == active and symbol in (None, o.instrument_id)
    ]


async def list_orders(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v1/orders?status=active|done`: newest first, one page of `pageSize` (default
    50, at most 1000) from `startAt` (ms)."""
    q = request.query
    try:
        size = min(1000, max(1, int(q.get("pageSize") or 50)))
        page = max(1, int(q.get("currentPage") or 1))
        start = int(q.get("startAt") or 0)
    except ValueError:
        raise fail("100001", "Parameter Error", 200) from None
    venue = venue_of(request)
    rows = [
        o
        for o in reversed(_futures_orders(request, key, q.get("status", "active") == "active"))
        if o.created_ms >= start
    ]
    items = [_order_json(venue, o) for o in rows[(page - 1) * size : page * size]]
    return ok(
        {"currentPage": page, "pageSize": size, "totalNum": len(rows),
         "totalPage": max(1, -(-len(rows) // size)), "items": items}
    )  # fmt: skip


async def cancel_all(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    now = venue.now_ms()
    ids = [venue.engine.cancel(acct, o.id, now).id for o in _futures_orders(request, key, True)]
    return ok({"cancelledOrderIds": ids})


def routes() -> list[Route]:
    v1 = "/api/v1"
    return [
        ("GET", f"{v1}/timestamp", timestamp),
        ("GET", f"{v1}/status", status),
        ("GET", f"{v1}/contracts/active", contracts_active),
        ("GET", f"{v1}/contracts/{{symbol}}", contract),
        ("GET", f"{v1}/ticker", ticker),
        ("GET", f"{v1}/level2/depth20", depth20),
        ("GET", f"{v1}/level2/depth100", depth100),
        ("GET", f"{v1}/level2/snapshot", depth100),
        ("GET", f"{v1}/account-overview", private("General", account_overview)),
        ("GET", f"{v1}/positions", private("General", positions)),
        ("GET", f"{v1}/position", private("General", position)),
        ("POST", f"{v1}/orders/test", private("Futures", order_test)),
        ("POST", f"{v1}/orders", private("Futures", create_order)),
        ("DELETE", f"{v1}/orders", private("Futures", cancel_all)),
        ("GET", f"{v1}/orders", private("General", list_orders)),
        ("GET", f"{v1}/orders/byClientOid", private("General", get_order)),
        ("GET", f"{v1}/fills", private("General", list_fills)),
        ("GET", f"{v1}/recentFills", private("General", recent_fills)),
        (
            "DELETE",
            f"{v1}/orders/client-order/{{client_oid}}",
            private("Futures", cancel_order_by_client),
        ),
        ("DELETE", f"{v1}/orders/{{order_id}}", private("Futures", cancel_order)),
        ("GET", f"{v1}/orders/{{order_id}}", private("General", get_order)),
    ]
