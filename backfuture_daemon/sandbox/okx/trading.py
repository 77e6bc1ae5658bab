"""OKX orders on the shared matching engine, mounted by okx/account.py behind the gateway: spot,
and swaps (an instId `*-SWAP`: okx/swap.py validates them, the engine keeps their positions);
place (trade/order, batch-orders), query and cancel (by ordId or clOrdId), answered
as OKX does: format errors as top-level codes (50000/50002/50014/51000), order failures as
`"code":"1"` with per-order sCode/sMsg (51001, 51008, 51016, 51020, 51121, 51400), 51603 for an
unknown order. The lists (open orders, history, fills) are okx/history.py's.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.engine import (
    Account,
    InsufficientFunds,
    Order,
    UnknownOrder,
    decimal_str,
)
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.okx import swap, swap_account
from backfuture_daemon.sandbox.okx.gateway import EXCHANGE, fail, ok, state_of
from backfuture_daemon.sandbox.okx.market_data import (
    is_swap,
    okx_id,
    spot_instrument,
    swap_contract,
)
from backfuture_daemon.sandbox.okx.order_body import FIRST_ORDER_ID as _FIRST_ORDER_ID
from backfuture_daemon.sandbox.okx.order_body import answer as _answer
from backfuture_daemon.sandbox.okx.order_body import body_of as _body
from backfuture_daemon.sandbox.okx.order_body import client_id as _client_id
from backfuture_daemon.sandbox.okx.order_body import failed as _failed
from backfuture_daemon.sandbox.okx.order_body import positive as _positive
from backfuture_daemon.sandbox.okx.order_body import required as _required
from backfuture_daemon.sandbox.venue import BODY, ApiError, Venue, venue_of

_STATES = {"open": "live", "filled": "filled", "canceled": "canceled"}


def account_of(venue: Venue, key: SandboxKey) -> Account:
    """The key's account, its resting orders filled up to now."""
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    return acct


def order_from_body(venue: Venue, acct: Account, body: dict[str, Any]) -> Order:
    """Validate `POST /api/v5/trade/order` (format first, then the order's own rules)."""
    inst_id = _required(body, "instId")
    td_mode = _required(body, "tdMode")
    side = _required(body, "side")
    ord_type = _required(body, "ordType")
    size = _positive(body, "sz")
    if td_mode != "cash":
        raise fail("51000", "Parameter tdMode error", 200)
    if side not in ("buy", "sell"):
        raise fail("51000", "Parameter side error", 200)
    if ord_type not in ("limit", "market", "post_only", "ioc", "fok"):
        raise fail("51000", "Parameter ordType error", 200)
    cl_ord_id = _client_id(body)
    now = venue.now_ms()
    try:
        inst = spot_instrument(venue, inst_id)
    except ApiError:
        raise _failed("51001", "Instrument ID does not exist.", cl_ord_id, now) from None
    if not inst.api_tradable:  # state "suspend" ⚠ (the code for a suspended pair is a guess)
        raise _failed("51001", "Instrument ID does not exist.", cl_ord_id, now)
    market = ord_type == "market"
    price = None if market else _positive(body, "px")
    if price is not None and price % inst.price_tick:
        raise fail("51000", "Parameter px error", 200)
    # A spot market buy counts `sz` in the quote currency unless tgtCcy says base_ccy.
    by_quote = market and side == "buy" and body.get("tgtCcy", "quote_ccy") == "quote_ccy"
    if not by_quote:
        if size % inst.amount_tick:
            raise _failed(
                "51121", "Order quantity must be a multiple of the lot size.", cl_ord_id, now
            )
        if size < inst.min_amount:
            raise _failed(
                "51020", "Your order should meet or exceed the minimum order amount.",
                cl_ord_id, now,
            )  # fmt: skip
    if cl_ord_id and cl_ord_id in acct.by_client_id:
        raise _failed("51016", "Duplicated clOrdId", cl_ord_id, now)
    tif = {"ioc": "IOC", "fok": "FOK"}.get(ord_type, "GTC")
    return Order(
        id=str(_FIRST_ORDER_ID + venue.next_id()),
        client_id=cl_ord_id,
        symbol=inst.symbol,
        side="buy" if side == "buy" else "sell",
        type="market" if market else "limit",
        price=price,
        amount=Decimal(0) if by_quote else size,
        quote_amount=size if by_quote else None,
        time_in_force=tif,
        post_only=ord_type == "post_only",
        created_ms=now,
        instrument_id=okx_id(inst),
        extra={
            "ordType": ord_type,
            "tgtCcy": "quote_ccy" if by_quote else "base_ccy",
            "sz": decimal_str(size),
        },
    )


def order_json(o: Order) -> dict[str, Any]:
    """One order as `GET /api/v5/trade/order` shows it (a swap's own fields: okx/swap.py)."""
    row = _spot_json(o)
    return {**row, **swap.order_fields(o)} if o.market == "futures" else row


def _spot_json(o: Order) -> dict[str, Any]:
    state = _STATES[o.status]
    if o.status == "open" and o.filled:
        state = "partially_filled"
    last = o.fills[-1] if o.fills else None
    return {
        "instType": "SPOT", "instId": o.instrument_id, "tgtCcy": str(o.extra.get("tgtCcy", "")),
        "ccy": "", "ordId": o.id, "clOrdId": o.client_id, "tag": "",
        "px": decimal_str(o.price) if o.price is not None else "", "pxUsd": "", "pxVol": "",
        "pxType": "", "sz": str(o.extra.get("sz", decimal_str(o.amount))), "pnl": "0",
        "ordType": str(o.extra.get("ordType", o.type)), "side": o.side, "posSide": "net",
        "tdMode": "cash", "accFillSz": decimal_str(o.filled),
        "fillPx": decimal_str(last.price) if last else "", "tradeId": last.trade_id if last else "",
        "fillSz": decimal_str(last.amount) if last else "0",
        "fillTime": str(last.time_ms) if last else "",
        "avgPx": decimal_str(o.average) if o.average is not None else "", "state": state,
        "stpId": "", "stpMode": "cancel_maker", "lever": "", "attachAlgoClOrdId": "",
        "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "", "slTriggerPx": "",
        "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [],
        "linkedAlgoOrd": {"algoId": ""}, "feeCcy": "", "fee": "0", "rebateCcy": "", "rebate": "0",
        "source": "", "category": "normal",
        "reduceOnly": "false", "isTpLimit": "false", "cancelSource": "", "cancelSourceReason": "",
        "quickMgnType": "", "algoClOrdId": "", "algoId": "", "uTime": str(o.updated_ms),
        "cTime": str(o.created_ms), "tradeQuoteCcy": "",
    }  # fmt: skip


def _spot_cost(venue: Venue, order: Order, now: int) -> Decimal:
    """The quote a spot buy reserves (what the engine will lock)."""
    if order.quote_amount is not None:
        return order.quote_amount
    price = order.price if order.price is not None else venue.engine.last_price(order.symbol, now)
    return order.amount * price


def _place_one(
    venue: Venue, acct: Account, key: SandboxKey, level: str, body: Any
) -> dict[str, Any]:
    """Validate and place one order (spot, or a swap: okx/swap.py); its success row, or
    ApiError."""
    if not isinstance(body, dict):
        raise fail("50002", "JSON syntax error")
    if is_swap(body.get("instId")):
        order = swap.order_from_body(venue, acct, key, level, body)
    else:
        order = order_from_body(venue, acct, body)
    now = venue.now_ms()
    if (
        order.market == "spot"
        and order.side == "buy"
        and _spot_cost(venue, order, now) > (swap_account.usdt_balance(acct)[0])
    ):  # the unified account: USDT held as swap margin is not spot's to spend
        raise _failed("51008", "Order failed. Insufficient USDT balance in account.",
                      order.client_id, now)  # fmt: skip
    try:
        venue.engine.place(acct, order, now)
    except InsufficientFunds as e:
        raise _failed(
            "51008",
            f"Order failed. Insufficient {e.args[0]} balance in account.",
            order.client_id,
            now,
        ) from None
    return {"clOrdId": order.client_id, "ordId": order.id, "tag": "", "ts": str(now),
            "sCode": "0", "sMsg": "Order placed"}  # fmt: skip


async def place(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    level = state_of(request).level(key)
    row = _place_one(venue, account_of(venue, key), key, level, _body(request))
    return _answer("0", [row], venue.now_ms())


async def place_batch(request: web.Request, key: SandboxKey) -> web.Response:
    """`POST /api/v5/trade/batch-orders` (ccxt's default for createOrder): up to 20 orders,
    each answered on its own; `"code"` 0 all placed, 1 none, 2 some."""
    venue = venue_of(request)
    raw = request[BODY]
    try:
        orders = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise fail("50002", "JSON syntax error") from None
    if not isinstance(orders, list) or not orders:
        raise fail("50000", "Body for POST request cannot be empty.")
    if len(orders) > 20:
        raise fail("51000", "Parameter batchOrders error", 200)
    acct = account_of(venue, key)
    level = state_of(request).level(key)
    rows: list[dict[str, Any]] = []
    for entry in orders:
        try:
            rows.append(_place_one(venue, acct, key, level, entry))
        except ApiError as e:
            data = e.body.get("data") if isinstance(e.body, dict) else None
            if not data:
                raise
            rows.append(data[0])
    placed = sum(r["sCode"] == "0" for r in rows)
    code = "0" if placed == len(rows) else "1" if placed == 0 else "2"
    return _answer(code, rows, venue.now_ms())


def _find(venue: Venue, acct: Account, params: dict[str, Any]) -> Order:
    """The order named by `ordId` or `clOrdId` (ordId wins, as on OKX) on `instId`."""
    inst_id = str(params.get("instId") or "")
    if is_swap(inst_id):
        swap_contract(venue, inst_id)
    else:
        spot_instrument(venue, inst_id)
    order_id = str(params.get("ordId") or "")
    if not order_id:
        client_id = str(params.get("clOrdId") or "")
        if not client_id:
            raise fail("51000", "Parameter ordId error", 200)
        order_id = acct.by_client_id.get(client_id, "")
    try:
        found = venue.engine.get(acct, order_id, venue.now_ms())
    except UnknownOrder:
        raise fail("51603", "Order does not exist", 200) from None
    if found.instrument_id != params.get("instId"):
        raise fail("51603", "Order does not exist", 200)
    return found


async def get_order(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    return ok([order_json(_find(venue, account_of(venue, key), dict(request.query)))])


async def cancel(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    acct = account_of(venue, key)
    body = _body(request)
    now = venue.now_ms()
    client_id = str(body.get("clOrdId") or "")
    try:
        order = _find(venue, acct, body)
    except ApiError:
        raise _failed(
            "51400",
            "Order cancellation failed as the order has been filled, canceled or does not exist.",
            client_id, now,
        ) from None  # fmt: skip
    if not order.is_open:
        raise _failed(
            "51400",
            "Order cancellation failed as the order has been filled, canceled or does not exist.",
            order.client_id, now,
        )  # fmt: skip
    venue.engine.cancel(acct, order.id, now)
    return ok([{"clOrdId": order.client_id, "ordId": order.id, "sCode": "0", "sMsg": "",
                "ts": str(now)}])  # fmt: skip
