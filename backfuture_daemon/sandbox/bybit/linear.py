"""Bybit v5 USDT linear perpetual orders (category=linear) on the shared engine's futures orders:
create (qty in the BASE coin on the qtyStep; at the symbol's leverage, set-leverage; one-way
positionIdx 0, or 1/2 in hedge mode), cancel by orderId or orderLinkId, real-time orders,
history and executions — the same routes and paging as spot (bybit/trading.py), linear rows
(reduceOnly, positionIdx, createType). Codes: 10001 parameters, lot and price rules, a
positionIdx that does not match the position mode; 110094 notional under minNotionalValue;
110017 a reduce-only order that would open or grow the position; 110007 margin short; 110072
duplicate orderLinkId; 110001 unknown order. account.py dispatches `category=linear` here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

import backfuture_daemon.sandbox.bybit.market_data as md
from backfuture_daemon.sandbox.bybit import linear_account as la
from backfuture_daemon.sandbox.bybit import trading
from backfuture_daemon.sandbox.bybit.gateway import Params, err, ok
from backfuture_daemon.sandbox.engine import Account, Order, UnknownOrder, decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.positions import opening_contracts
from backfuture_daemon.sandbox.venue import Venue, venue_of

CATEGORY = "linear"


def _order_from(venue: Venue, key: SandboxKey, acct: Account, params: Params, now: int) -> Order:
    """Validate one linear create-order request: parameters, lot and price rules, mode."""
    inst = la.linear_instrument(venue, params, now)
    side, kind = str(params.get("side", "")), str(params.get("orderType", ""))
    if side not in ("Buy", "Sell") or kind not in ("Limit", "Market"):
        raise err(10001, "params error: side or orderType is invalid", now)
    link_id = str(params.get("orderLinkId") or "")
    if link_id and not trading.LINK_ID.match(link_id):
        raise err(10001, "params error: orderLinkId is invalid", now)
    qty, price = (
        trading.decimal_param(params, "qty", now),
        trading.decimal_param(params, "price", now),
    )
    if qty is None or (kind == "Limit" and price is None):
        raise err(10001, "params error: qty and (for Limit) price are required", now)
    if qty < md.LINEAR_MIN_QTY:
        raise err(10001, "The number of contracts exceeds minimum limit allowed", now)
    if qty > (md.LINEAR_MAX_QTY if kind == "Limit" else md.LINEAR_MAX_MARKET_QTY):
        raise err(10001, "The number of contracts exceeds maximum limit allowed", now)
    if qty % md.LINEAR_QTY_STEP:
        raise err(10001, "Qty invalid", now)
    if price is not None and kind == "Limit" and price % inst.price_tick:
        raise err(10001, "Price invalid", now)
    st = la.state(venue, key)
    idx = str(params.get("positionIdx") if params.get("positionIdx") is not None else "0")
    if idx not in (("1", "2") if st.hedge else ("0",)):
        raise err(10001, "position idx not match position mode", now)
    last = md.last_price(venue, inst, CATEGORY, now)
    reduce_only = params.get("reduceOnly") in (True, "true")
    if (
        not reduce_only
        and qty * (price if kind == "Limit" and price else last) < md.LINEAR_MIN_NOTIONAL
    ):
        raise err(110094, "Order does not meet minimum order value 5USDT", now)
    if link_id and link_id in acct.by_client_id:
        raise err(110072, "OrderLinkedID is duplicate", now)
    tif = str(params.get("timeInForce") or ("IOC" if kind == "Market" else "GTC"))
    if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
        raise err(10001, "params error: timeInForce is invalid", now)
    symbol = md.bybit_id(inst)
    return Order(
        id=trading.new_order_id(venue), client_id=link_id, symbol=inst.symbol,
        side="buy" if side == "Buy" else "sell", type="limit" if kind == "Limit" else "market",
        price=price if kind == "Limit" else None, amount=qty, created_ms=now, market="futures",
        instrument_id=symbol, time_in_force="GTC" if tif == "PostOnly" else tif,
        post_only=tif == "PostOnly",
        extra={"qty": decimal_str(qty), "timeInForce": tif, "marketUnit": "",
               "multiplier": Decimal(1), "leverage_value": la.leverage_of(st, symbol),
               "reduceOnly": reduce_only, "positionIdx": int(idx)},
    )  # fmt: skip


async def create_order(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    acct = la.account(venue, key)
    order = _order_from(venue, key, acct, params, now)
    if order.extra["reduceOnly"] is True:
        pos = acct.futures.positions.get(order.instrument_id)
        if pos is None or not pos.qty:
            raise err(110017, "current position is zero, cannot fix reduce-only order qty", now)
        if opening_contracts(pos, order.side, order.amount) >= order.amount:
            raise err(110017, "Reduce-only rule not satisfied", now)
    else:
        la.check_margin(venue, acct, order, now)
    venue.engine.place(acct, order, now)
    return ok({"orderId": order.id, "orderLinkId": order.client_id}, now)


def order_json(o: Order) -> dict[str, Any]:
    """One linear order as realtime / history list it: the spot row with linear's fields."""
    row = trading.order_json(o)
    row.update(
        {"isLeverage": "", "positionIdx": o.extra.get("positionIdx", 0), "marketUnit": "",
         "reduceOnly": o.extra.get("reduceOnly") is True, "createType": "CreateByUser",
         "tpslMode": "", "slippageTolerance": "0", "slippageToleranceType": "UNKNOWN",
         "leavesValue": decimal_str((o.amount - o.filled) * o.price)
         if o.is_open and o.price else "0"}
    )  # fmt: skip
    return row


def execution_json(o: Order, fill: Any, seq: int) -> dict[str, Any]:
    row = trading.execution_json(o, fill, seq)
    row.update({"feeCurrency": "", "createType": "CreateByUser", "closedSize": "",
                "markPrice": decimal_str(fill.price)})  # fmt: skip
    return row


def _symbol(venue: Venue, params: Params, now: int) -> str | None:
    if not params.get("symbol"):
        return None
    return la.linear_instrument(venue, params, now).symbol


async def realtime(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    symbol = _symbol(venue, params, now)
    rows = trading.realtime_orders(la.account(venue, key), params, symbol, "futures", now)
    return trading.page(venue, params, [order_json(o) for o in rows], trading.ORDER_LIMIT, CATEGORY)


async def history(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    symbol = _symbol(venue, params, now)
    rows = trading.history_orders(la.account(venue, key), params, symbol, "futures", now)
    return trading.page(venue, params, [order_json(o) for o in rows], trading.ORDER_LIMIT, CATEGORY)


async def executions(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    now = venue.now_ms()
    symbol = _symbol(venue, params, now)
    fills = trading.executed(la.account(venue, key), params, symbol, "futures", now)
    rows = [execution_json(o, f, int(f.trade_id, 16) % 10**9) for f, o in fills]
    return trading.page(venue, params, rows, trading.EXECUTION_LIMIT, CATEGORY)


async def cancel(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`POST /v5/order/cancel` (linear) by orderId or orderLinkId; unknown or done: 110001."""
    venue = venue_of(request)
    now = venue.now_ms()
    symbol = _symbol(venue, params, now)
    if symbol is None:
        raise err(10001, "params error: symbol is required", now)
    acct = la.account(venue, key)
    wanted = trading.by_id(acct, params)
    if wanted is None:
        raise err(10001, "params error: orderId or orderLinkId is required", now)
    found = acct.orders.get(wanted)
    try:
        if found is None or found.symbol != symbol or found.market != "futures":
            raise UnknownOrder(wanted)
        order = venue.engine.cancel(acct, wanted, now)
    except UnknownOrder:
        raise err(110001, "Order does not exist.", now) from None
    return ok({"orderId": order.id, "orderLinkId": order.client_id}, now)
