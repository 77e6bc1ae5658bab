"""The KuCoin futures account on the sandbox: the account overview (wallet, position and order
margin, unrealised PnL) and isolated-margin positions (`/api/v1/positions`, `/api/v1/position`)
from the account's position book (positions.py), plus the margin check an order must pass.

Mounted by kucoin/futures.py `routes()`. The futures wallet starts from the key's `balances`
and is separate from the spot account, as on KuCoin.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.engine import Account, Order
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.kucoin.gateway import fail, ok
from backfuture_daemon.sandbox.positions import MAINT_RATE, Position, opening_contracts
from backfuture_daemon.sandbox.venue import Venue, venue_of

ZERO = Decimal(0)


def _number(value: Decimal) -> float:
    return float(round(value, 8))


def order_margin(acct: Account) -> Decimal:
    """Margin reserved by resting futures orders (their opening part at their price)."""
    total = ZERO
    for oid in acct.open_ids:
        o = acct.orders[oid]
        multiplier, leverage = o.extra.get("multiplier"), o.extra.get("leverage_value")
        if o.market == "futures" and isinstance(multiplier, Decimal) and o.price is not None:
            assert isinstance(leverage, Decimal)
            pos = acct.futures.positions.get(o.instrument_id)
            opening = opening_contracts(pos, o.side, o.amount - o.filled)
            total += opening * multiplier * o.price / leverage
    return total


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
