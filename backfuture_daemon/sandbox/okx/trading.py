"""OKX spot orders on the shared matching engine, mounted by okx/account.py behind the gateway:
place (trade/order, batch-orders), query and cancel (by ordId or clOrdId), answered
as OKX does: format errors as top-level codes (50000/50002/50014/51000), order failures as
`"code":"1"` with per-order sCode/sMsg (51001, 51008, 51016, 51020, 51121, 51400), 51603 for an
unknown order. The lists (open orders, history, fills) are okx/history.py's.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
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
from backfuture_daemon.sandbox.okx.gateway import EXCHANGE, fail, ok
from backfuture_daemon.sandbox.okx.market_data import okx_id, spot_instrument
from backfuture_daemon.sandbox.venue import BODY, ApiError, Venue, json_response, venue_of

#: "A combination of case-sensitive alphanumerics, all numbers, or all letters of up to 32
#: characters" (OKX place-order doc).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_FIRST_ORDER_ID = 600_000_000_000_000_000
_STATES = {"open": "live", "filled": "filled", "canceled": "canceled"}


def _body(request: web.Request) -> dict[str, Any]:
    raw = request[BODY]
    if not raw.strip():
        raise fail("50000", "Body for POST request cannot be empty.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise fail("50002", "JSON syntax error") from None
    if not isinstance(body, dict):
        raise fail("50002", "JSON syntax error")
    return body


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or str(value) == "":
        raise fail("50014", f"Parameter {name} can not be empty.")
    return str(value)


def _positive(body: dict[str, Any], name: str) -> Decimal:
    try:
        value = Decimal(_required(body, name))
    except InvalidOperation:
        raise fail("51000", f"Parameter {name} error", 200) from None
    if not value.is_finite() or value <= 0:
        raise fail("51000", f"Parameter {name} error", 200)
    return value


def _failed(code: str, msg: str, cl_ord_id: str, now: int) -> ApiError:
    """An order the exchange refused: HTTP 200, `"code":"1"`, the reason per order."""
    row = {"clOrdId": cl_ord_id, "ordId": "", "sCode": code, "sMsg": msg, "tag": "",
           "ts": str(now)}  # fmt: skip
    return ApiError(
        200,
        {
            "code": "1",
            "msg": "All operations failed",
            "data": [row],
            "inTime": str(now * 1000),
            "outTime": str(now * 1000),
        },
    )


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
    cl_ord_id = str(body.get("clOrdId") or "")
    if cl_ord_id and not _CLIENT_ID.match(cl_ord_id):
        raise fail("51000", "Parameter clOrdId error", 200)
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
    """One order as `GET /api/v5/trade/order` shows it."""
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


def _place_one(venue: Venue, acct: Account, body: Any) -> dict[str, Any]:
    """Validate and place one order; its success row, or ApiError."""
    if not isinstance(body, dict):
        raise fail("50002", "JSON syntax error")
    order = order_from_body(venue, acct, body)
    now = venue.now_ms()
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


def _answer(code: str, rows: list[dict[str, Any]], now: int) -> web.Response:
    msg = {"0": "", "1": "All operations failed", "2": "Bulk operation partially succeeded."}
    stamp = str(now * 1000)
    body = {"code": code, "msg": msg[code], "data": rows, "inTime": stamp, "outTime": stamp}
    return json_response(body)


async def place(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    row = _place_one(venue, account_of(venue, key), _body(request))
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
    rows: list[dict[str, Any]] = []
    for entry in orders:
        try:
            rows.append(_place_one(venue, acct, entry))
        except ApiError as e:
            data = e.body.get("data") if isinstance(e.body, dict) else None
            if not data:
                raise
            rows.append(data[0])
    placed = sum(r["sCode"] == "0" for r in rows)
    code = "0" if placed == len(rows) else "1" if placed == 0 else "2"
    return _answer(code, rows, venue.now_ms())


def _find(venue: Venue, acct: Account, params: dict[str, Any]) -> Order:
    """The order named by `ordId` or `clOrdId` (ordId wins, as on OKX)."""
    spot_instrument(venue, str(params.get("instId") or ""))
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
