"""The KuCoin futures account on the sandbox: the account overview (wallet, position and order
margin, unrealised PnL) and isolated-margin positions (`/api/v1/positions`, `/api/v1/position`)
from the account's position book (positions.py), the margin check an order must pass, and the
account's fills (`/api/v1/fills` paged newest first, `/api/v1/recentFills` the last 24 h; sizes
in contracts, fee 0 as on the sandbox's spot venues).

Mounted by kucoin/futures.py `routes()`. The futures wallet starts from the key's `balances`
and is separate from the spot account, as on KuCoin.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.engine import Account, Fill, Order, decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.kucoin.gateway import fail, ok
from backfuture_daemon.sandbox.positions import (
    MAINT_RATE,
    Position,
    opening_contracts,
    order_margin,
)
from backfuture_daemon.sandbox.venue import Venue, venue_of

ZERO = Decimal(0)


def _number(value: Decimal) -> float:
    return float(round(value, 8))


def wallet(key: SandboxKey, acct: Account, currency: str) -> dict[str, Decimal]:
    """balance (start + realised PnL), position margin and order margin of one currency."""
    start = key.balances.get(currency, ZERO)
    realised = acct.futures.realised() if currency == "USDT" else ZERO
    margin = acct.futures.margin() if currency == "USDT" else ZERO
    orders = order_margin(acct) if currency == "USDT" else ZERO
    return {"balance": start + realised, "position": margin, "order": orders}


def check_margin(venue: Venue, key: SandboxKey, acct: Account, order: Order) -> None:
    """Refuse an order whose opening part needs more margin than is available (300003)."""
    multiplier, leverage = order.extra["multiplier"], order.extra["leverage_value"]
    assert isinstance(multiplier, Decimal)
    assert isinstance(leverage, Decimal)
    pos = acct.futures.positions.get(order.instrument_id)
    opening = opening_contracts(pos, order.side, order.amount)
    price = order.price or venue.engine.last_price(order.symbol, order.created_ms)
    need = opening * multiplier * price / leverage
    w = wallet(key, acct, "USDT")
    if need > w["balance"] - w["position"] - w["order"]:
        raise fail("300003", "Balance insufficient!", 200)


async def account_overview(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    currency = request.query.get("currency", "XBT")
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    now = venue.now_ms()
    venue.engine.refresh(acct, now)
    w = wallet(key, acct, currency)
    unrealised = ZERO
    if currency == "USDT":
        for pos in acct.futures.open():
            unrealised += pos.unrealised(venue.engine.last_price(pos.symbol, now))
    available = w["balance"] - w["position"] - w["order"]
    return ok(
        {
            "accountEquity": _number(w["balance"] + unrealised),
            "unrealisedPNL": _number(unrealised),
            "marginBalance": _number(w["balance"]),
            "positionMargin": _number(w["position"]),
            "orderMargin": _number(w["order"]),
            "frozenFunds": 0,
            "availableBalance": _number(available),
            "currency": currency,
            "riskRatio": 0,
            "maxWithdrawAmount": _number(max(ZERO, available)),
        }
    )


def position_json(venue: Venue, pos: Position, now: int) -> dict[str, Any]:
    mark = venue.engine.last_price(pos.symbol, now)
    unrealised = pos.unrealised(mark)
    mark_value = mark * pos.qty * pos.multiplier
    liq, bankrupt = pos.liquidation_price(), pos.bankrupt_price()
    real_leverage = abs(mark_value) / pos.margin if pos.margin else ZERO
    return {
        "id": f"{zlib.crc32(pos.instrument_id.encode()):024x}",
        "symbol": pos.instrument_id,
        "autoDeposit": False,
        "maintMarginReq": float(MAINT_RATE),
        "riskLimit": 100000,
        "realLeverage": _number(real_leverage),
        "leverage": _number(pos.leverage),
        "crossMode": False,
        "marginMode": "ISOLATED",
        "positionSide": "BOTH",
        "delevPercentage": 0.5,
        "openingTimestamp": pos.opened_ms,
        "currentTimestamp": now,
        "currentQty": int(pos.qty),
        "currentCost": _number(pos.cost),
        "currentComm": 0,
        "unrealisedCost": _number(pos.cost),
        "realisedGrossCost": 0,
        "realisedCost": 0,
        "isOpen": pos.is_open,
        "markPrice": _number(mark),
        "markValue": _number(mark_value),
        "posCost": _number(pos.cost),
        "posCross": 0,
        "posInit": _number(pos.margin),
        "posComm": 0,
        "posLoss": 0,
        "posMargin": _number(pos.margin),
        "posMaint": _number(pos.maintenance()),
        "maintMargin": _number(pos.margin + unrealised),
        "realisedGrossPnl": _number(pos.realised),
        "realisedPnl": _number(pos.realised),
        "unrealisedPnl": _number(unrealised),
        "unrealisedPnlPcnt": _number(unrealised / abs(pos.cost)) if pos.cost else 0,
        "unrealisedRoePcnt": _number(unrealised / pos.margin) if pos.margin else 0,
        "avgEntryPrice": _number(pos.entry),
        "liquidationPrice": _number(liq) if liq is not None else 0,
        "bankruptPrice": _number(bankrupt) if bankrupt is not None else 0,
        "settleCurrency": "USDT",
        "isInverse": False,
        "maintainMargin": float(MAINT_RATE),
    }


async def positions(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v1/positions`: the open positions."""
    venue = venue_of(request)
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    now = venue.now_ms()
    venue.engine.refresh(acct, now)
    return ok([position_json(venue, p, now) for p in acct.futures.open()])


async def position(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v1/position?symbol=XBTUSDTM`: one contract's position (isOpen false if none)."""
    venue = venue_of(request)
    symbol = request.query.get("symbol", "")
    c = venue.engine.catalogue.kucoin_contract_by_id.get(symbol)
    if c is None:
        raise fail("100001", "contract not exists", 200)
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    now = venue.now_ms()
    venue.engine.refresh(acct, now)
    pos = acct.futures.get(c.id, c.underlying, c.multiplier)
    return ok(position_json(venue, pos, now))


def _fill_json(venue: Venue, o: Order, f: Fill) -> dict[str, Any]:
    c = venue.engine.catalogue.kucoin_contract_by_id[o.instrument_id]
    return {
        "symbol": o.instrument_id,
        "tradeId": f.trade_id,
        "orderId": o.id,
        "side": o.side,
        "liquidity": "maker" if f.maker else "taker",
        "forceTaker": False,
        "price": decimal_str(f.price),
        "size": int(f.amount),
        "value": decimal_str(f.price * f.amount * c.multiplier),
        "openFeePay": "0",
        "closeFeePay": "0",
        "stop": "",
        "feeRate": "0",
        "fixFee": "0",
        "feeCurrency": "USDT",
        "tradeTime": f.time_ms * 1_000_000,
        "subTradeType": None,
        "marginMode": o.extra.get("marginMode") or "ISOLATED",
        "settleCurrency": "USDT",
        "displayType": o.type,
        "fee": "0",
        "orderType": o.type,
        "tradeType": "trade",
        "createdAt": f.time_ms,
    }


def _fills(request: web.Request, key: SandboxKey, start: int, end: int) -> list[tuple[Order, Fill]]:
    venue = venue_of(request)
    q = request.query
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    rows = [
        (o, f)
        for o in acct.orders.values()
        if o.market == "futures"
        and q.get("symbol") in (None, o.instrument_id)
        and q.get("orderId") in (None, o.id)
        and q.get("side") in (None, o.side)
        for f in o.fills
        if (not start or f.time_ms >= start) and (not end or f.time_ms <= end)
    ]
    return sorted(rows, key=lambda pair: (pair[1].time_ms, pair[1].trade_id), reverse=True)


async def list_fills(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v1/fills`: newest first, one page of `pageSize` (default 50, at most 1000)."""
    q = request.query
    try:
        start, end = int(q.get("startAt") or 0), int(q.get("endAt") or 0)
        size = min(1000, max(1, int(q.get("pageSize") or 50)))
        page = max(1, int(q.get("currentPage") or 1))
    except ValueError:
        raise fail("100001", "Parameter Error", 200) from None
    venue = venue_of(request)
    rows = _fills(request, key, start, end)
    items = [_fill_json(venue, o, f) for o, f in rows[(page - 1) * size : page * size]]
    return ok(
        {"currentPage": page, "pageSize": size, "totalNum": len(rows),
         "totalPage": max(1, -(-len(rows) // size)), "items": items}
    )  # fmt: skip


async def recent_fills(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v1/recentFills`: the fills of the last 24 hours, newest first (at most 1000)."""
    venue = venue_of(request)
    rows = _fills(request, key, venue.now_ms() - 86_400_000, 0)
    return ok([_fill_json(venue, o, f) for o, f in rows[:1000]])
