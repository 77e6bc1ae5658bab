"""OKX USDT-margined swap orders (instType SWAP, `BTC-USDT-SWAP`) on the sandbox's shared
engine: what `POST /api/v5/trade/order` (and batch-orders) checks for a swap instrument, in
OKX's order — tdMode isolated (cash 51000; ⚠ cross is not played), the account mode (acctLv 1:
51010), the position mode (net: posSide none or `net`; long/short: posSide long/short required,
else 51000 — the sandbox plays net mode only), `sz` in contracts on the 0.01 lot (51121), the
price tick, a duplicate clOrdId (51016), reduce-only without a position to reduce (51169), and
the isolated margin of the opening part at the instrument's leverage (set-leverage) against the
USDT available (51008) — and how a swap order reads back (lever, tdMode, reduceOnly, posSide).

Called by okx/trading.py; the engine fills it at the perpetual's price and keeps the position
(positions.py: isolated margin, liquidation); okx/swap_account.py holds settings and margins.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backfuture_daemon.sandbox.engine import Account, Order, decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.okx.gateway import fail
from backfuture_daemon.sandbox.okx.market_data import SWAP_LOT, swap_contract
from backfuture_daemon.sandbox.okx.order_body import (
    FIRST_ORDER_ID,
    client_id,
    failed,
    positive,
    required,
)
from backfuture_daemon.sandbox.okx.swap_account import (
    HEDGE,
    MODE_MSG,
    settings,
    usdt_balance,
)
from backfuture_daemon.sandbox.positions import closable, opening_contracts
from backfuture_daemon.sandbox.venue import ApiError, Venue

ORDER_TYPES = ("limit", "market", "post_only", "ioc", "fok")


def order_from_body(
    venue: Venue, acct: Account, key: SandboxKey, level: str, body: dict[str, Any]
) -> Order:
    """Validate a swap order (format first, then the account's and the order's own rules)."""
    inst_id = required(body, "instId")
    td_mode = required(body, "tdMode")
    side = required(body, "side")
    ord_type = required(body, "ordType")
    size = positive(body, "sz")
    if td_mode != "isolated":
        raise fail("51000", "Parameter tdMode error", 200)
    if side not in ("buy", "sell"):
        raise fail("51000", "Parameter side error", 200)
    if ord_type not in ORDER_TYPES:
        raise fail("51000", "Parameter ordType error", 200)
    cl_ord_id = client_id(body)
    now = venue.now_ms()
    try:
        c = swap_contract(venue, inst_id)
    except ApiError:
        raise failed("51001", "Instrument ID does not exist.", cl_ord_id, now) from None
    if level == "1":
        raise failed("51010", MODE_MSG, cl_ord_id, now)
    s = settings(venue)
    pos_side = str(body.get("posSide") or "")
    if s.pos_mode(key.api_key) == HEDGE:
        # ⚠ the sandbox plays net mode only: long/short mode orders are refused as OKX refuses
        # one without posSide
        raise fail("51000", "Parameter posSide error", 200)
    if pos_side not in ("", "net"):
        raise fail("51000", "Parameter posSide error", 200)
    market = ord_type == "market"
    price = None if market else positive(body, "px")
    if price is not None and price % c.price_tick:
        raise fail("51000", "Parameter px error", 200)
    if size % SWAP_LOT:
        raise failed("51121", "Order quantity must be a multiple of the lot size.", cl_ord_id, now)
    if cl_ord_id and cl_ord_id in acct.by_client_id:
        raise failed("51016", "Duplicated clOrdId", cl_ord_id, now)
    reduce_only = body.get("reduceOnly") in (True, "true")
    pos = acct.futures.positions.get(inst_id)
    if reduce_only and closable(pos, side) <= 0:
        raise failed(
            "51169",
            "Order failed because you don't have any positions in this direction for this "
            "contract to reduce or close.",
            cl_ord_id, now,
        )  # fmt: skip
    lever = s.lever(key.api_key, inst_id)
    opening = Decimal(0) if reduce_only else opening_contracts(pos, side, size)
    at = price or venue.engine.trade_price(c.underlying, "futures", now)
    available, _ = usdt_balance(acct)
    if opening * c.multiplier * at / lever > available:
        raise failed("51008", "Order failed. Insufficient USDT margin in account", cl_ord_id, now)
    tif = {"ioc": "IOC", "fok": "FOK"}.get(ord_type, "GTC")
    return Order(
        id=str(FIRST_ORDER_ID + venue.next_id()),
        client_id=cl_ord_id,
        symbol=c.underlying,
        side="buy" if side == "buy" else "sell",
        type="market" if market else "limit",
        price=price,
        amount=size,
        time_in_force=tif,
        post_only=ord_type == "post_only",
        created_ms=now,
        market="futures",
        instrument_id=c.id,
        extra={
            "ordType": ord_type,
            "tgtCcy": "",
            "sz": decimal_str(size),
            "tdMode": td_mode,
            "lever": decimal_str(lever),
            "leverage_value": lever,
            "multiplier": c.multiplier,
            "reduceOnly": reduce_only,
        },
    )


def order_fields(o: Order) -> dict[str, Any]:
    """What a swap order shows differently from a spot one in `GET /api/v5/trade/order`."""
    fee_ccy = "USDT" if o.fills else ""
    return {
        "instType": "SWAP",
        "tgtCcy": "",
        "tdMode": str(o.extra.get("tdMode", "isolated")),
        "lever": str(o.extra.get("lever", "")),
        "reduceOnly": "true" if o.extra.get("reduceOnly") is True else "false",
        "posSide": "net",
        "feeCcy": fee_ccy,
    }
