"""The OKX trading account's swap side on the sandbox: per-account settings (position mode,
leverage per instrument and margin mode), the USDT that isolated swap positions and resting
swap orders hold (margin) or earned (realised PnL) — OKX's unified trading account shows them in
the same USDT balance as spot — and the signed routes: `POST /api/v5/account/set-leverage`,
`POST /api/v5/account/set-position-mode`, `GET /api/v5/account/leverage-info`,
`GET /api/v5/account/positions`. A leverage change is refused while orders on the instrument
rest (59101), one above its maximum too (59102).

okx/swap.py reads the settings and margin when it places a swap order; okx/account.py mounts
the routes and adjusts the USDT balance. The settings live beside the engine (one per sandbox),
keyed by api key. ⚠ OKX's defaults for a new account (net_mode, leverage) are not documented in
the reference; net_mode and `DEFAULT_LEVER` are what the sandbox assumes.
"""

from __future__ import annotations

import weakref
import zlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.engine import Account, Engine, decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.okx.gateway import fail, ok, state_of
from backfuture_daemon.sandbox.okx.market_data import is_swap, swap_contract, swap_contracts
from backfuture_daemon.sandbox.okx.order_body import body_of, required
from backfuture_daemon.sandbox.positions import (
    MAINT_RATE,
    Position,
    order_margin,
)
from backfuture_daemon.sandbox.venue import Venue, venue_of

ZERO = Decimal(0)
NET, HEDGE = "net_mode", "long_short_mode"
#: the leverage of an instrument nobody set one for ⚠
DEFAULT_LEVER = Decimal(10)
SPOT_MODE = "1"
#: 51010 as OKX words it for a call the account mode (acctLv) does not allow.
MODE_MSG = "The current account mode does not support this API interface. "


@dataclass(slots=True)
class SwapSettings:
    """Per api key: its position mode and its leverage per (instId, mgnMode)."""

    pos_modes: dict[str, str] = field(default_factory=dict)
    levers: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)

    def pos_mode(self, api_key: str) -> str:
        return self.pos_modes.get(api_key, NET)

    def lever(self, api_key: str, inst_id: str, mgn_mode: str = "isolated") -> Decimal:
        return self.levers.get((api_key, inst_id, mgn_mode), DEFAULT_LEVER)


_SETTINGS: weakref.WeakKeyDictionary[Engine, SwapSettings] = weakref.WeakKeyDictionary()


def settings(venue: Venue) -> SwapSettings:
    """The swap settings of every OKX account on `venue`'s engine."""
    found = _SETTINGS.get(venue.engine)
    if found is None:
        found = _SETTINGS[venue.engine] = SwapSettings()
    return found


def spot_mode(request: web.Request, key: SandboxKey) -> bool:
    """acctLv 1 (Spot mode): no derivatives at all."""
    return state_of(request).level(key) == SPOT_MODE


def swap_usdt(acct: Account) -> tuple[Decimal, Decimal]:
    """(realised PnL, margin held) of the account's OKX swaps, in USDT."""
    swaps = [p for i, p in acct.futures.positions.items() if is_swap(i)]
    realised = sum((p.realised for p in swaps), ZERO)
    held = sum((p.margin for p in swaps), ZERO) + order_margin(acct)
    return realised, held


def usdt_balance(acct: Account) -> tuple[Decimal, Decimal]:
    """USDT (available, frozen) of the unified trading account: spot's free and locked, plus the
    swaps' realised PnL, their isolated margin moved from available to frozen."""
    free, locked = acct.balance("USDT")
    realised, held = swap_usdt(acct)
    return free + realised - held, locked + held


# ---- routes ----------------------------------------------------------------------------


async def set_leverage(request: web.Request, key: SandboxKey) -> web.Response:
    """`POST /api/v5/account/set-leverage` {instId, lever, mgnMode}: in net mode one leverage
    per instrument and margin mode; isolated in long/short mode needs posSide ⚠."""
    venue = venue_of(request)
    body = body_of(request)
    mgn_mode = required(body, "mgnMode")
    raw_lever = required(body, "lever")
    if mgn_mode not in ("isolated", "cross"):
        raise fail("51000", "Parameter mgnMode error", 200)
    inst_id = str(body.get("instId") or "")
    if not inst_id:
        raise fail("50014", "Parameter instId can not be empty.")
    c = swap_contract(venue, inst_id)
    if spot_mode(request, key):
        raise fail("51010", MODE_MSG, 200)
    try:
        lever = Decimal(raw_lever)
    except InvalidOperation:
        raise fail("51000", "Parameter lever error", 200) from None
    if not lever.is_finite() or lever < 1:
        raise fail("51000", "Parameter lever error", 200)
    if lever > c.max_leverage:
        raise fail(
            "59102", "Leverage exceeds the maximum leverage. Please adjust the leverage", 200
        )
    pos_side = str(body.get("posSide") or "")
    s = settings(venue)
    if s.pos_mode(key.api_key) == HEDGE and mgn_mode == "isolated" and not pos_side:
        raise fail("51000", "Parameter posSide error", 200)
    acct = _account(venue, key)
    pending = any(acct.orders[o].instrument_id == inst_id for o in acct.open_ids)
    if mgn_mode == "isolated" and pending and lever != s.lever(key.api_key, inst_id):
        raise fail(
            "59101",
            "You have pending orders with isolated positions. Please cancel all the pending "
            "orders and adjust the leverage",
            200,
        )
    s.levers[(key.api_key, inst_id, mgn_mode)] = lever
    return ok([{"lever": decimal_str(lever), "mgnMode": mgn_mode, "instId": inst_id,
                "posSide": pos_side}])  # fmt: skip


async def leverage_info(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v5/account/leverage-info?instId=&mgnMode=`: the leverage set (or the
    default) per instrument, one row per instId (net mode)."""
    venue = venue_of(request)
    q = request.query
    mgn_mode = q.get("mgnMode", "")
    if not mgn_mode or not q.get("instId"):
        raise fail(
            "50014", f"Parameter {'mgnMode' if not mgn_mode else 'instId'} can not be empty."
        )
    if mgn_mode not in ("isolated", "cross"):
        raise fail("51000", "Parameter mgnMode error", 200)
    rows = []
    for inst_id in q["instId"].split(","):
        swap_contract(venue, inst_id)
        lever = settings(venue).lever(key.api_key, inst_id, mgn_mode)
        rows.append({"instId": inst_id, "mgnMode": mgn_mode, "posSide": "net",
                     "lever": decimal_str(lever)})  # fmt: skip
    return ok(rows)


def _account(venue: Venue, key: SandboxKey) -> Account:
    acct = venue.engine.account("okx", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    return acct


async def set_position_mode(request: web.Request, key: SandboxKey) -> web.Response:
    """`POST /api/v5/account/set-position-mode` {posMode}: refused (59000) while any swap
    position or swap order is open, as on OKX."""
    venue = venue_of(request)
    mode = required(body_of(request), "posMode")
    if mode not in (NET, HEDGE):
        raise fail("51000", "Parameter posMode error", 200)
    if spot_mode(request, key):
        raise fail("51010", MODE_MSG, 200)
    acct = _account(venue, key)
    busy = any(is_swap(p.instrument_id) for p in acct.futures.open()) or any(
        acct.orders[o].market == "futures" for o in acct.open_ids
    )
    if busy:
        raise fail(
            "59000",
            "Settings failed. Close any open positions or orders before modifying settings.",
            200,
        )
    settings(venue).pos_modes[key.api_key] = mode
    return ok([{"posMode": mode}])


def position_json(venue: Venue, key: SandboxKey, p: Position, now: int) -> dict[str, Any]:
    """One isolated net-mode position as `GET /api/v5/account/positions` shows it: `pos` is
    signed contracts (long > 0, short < 0)."""
    c = swap_contract(venue, p.instrument_id)
    mark = venue.engine.trade_price(c.underlying, "futures", now).quantize(c.price_tick)
    upl = p.unrealised(mark)
    liq = p.liquidation_price()
    notional = abs(p.qty) * p.multiplier * mark
    return {
        "adl": "1", "availPos": decimal_str(abs(p.qty)), "avgPx": decimal_str(p.entry),
        "baseBal": "", "baseBorrowed": "", "baseInterest": "", "bePx": decimal_str(p.entry),
        "bizRefId": "", "bizRefType": "", "cTime": str(p.opened_ms), "ccy": "USDT",
        "clSpotInUseAmt": "", "closeOrderAlgo": [], "deltaBS": "", "deltaPA": "", "fee": "0",
        "fundingFee": "0", "gammaBS": "", "gammaPA": "", "idxPx": decimal_str(mark), "imr": "",
        "instId": p.instrument_id, "instType": "SWAP", "interest": "", "last": decimal_str(mark),
        "lever": decimal_str(p.leverage), "liab": "", "liabCcy": "",
        "liqPenalty": "0", "liqPx": decimal_str(liq.quantize(c.price_tick)) if liq else "",
        "margin": decimal_str(p.margin), "markPx": decimal_str(mark), "maxSpotInUseAmt": "",
        "mgnMode": "isolated", "mgnRatio": "", "mmr": decimal_str(notional * MAINT_RATE),
        "notionalUsd": decimal_str(notional), "optVal": "", "pendingCloseOrdLiabVal": "",
        "pnl": decimal_str(p.realised), "pos": decimal_str(p.qty), "posCcy": "",
        "posId": str(1_000_000_000 + zlib.crc32(f"{key.api_key}{p.instrument_id}".encode())),
        "posSide": "net", "quoteBal": "", "quoteBorrowed": "", "quoteInterest": "",
        "realizedPnl": decimal_str(p.realised), "spotInUseAmt": "", "spotInUseCcy": "",
        "thetaBS": "", "thetaPA": "", "tradeId": "", "uTime": str(now),
        "upl": decimal_str(upl), "uplLastPx": decimal_str(upl),
        "uplRatio": decimal_str(upl / p.margin) if p.margin else "0", "usdPx": "",
        "vegaBS": "", "vegaPA": "", "nonSettleAvgPx": "", "settledPnl": "",
    }  # fmt: skip


async def positions(request: web.Request, key: SandboxKey) -> web.Response:
    """`GET /api/v5/account/positions` (instType, instId, posId filters): open positions only,
    as OKX lists them (a closed or liquidated one is gone from the list)."""
    venue = venue_of(request)
    q = request.query
    inst_type, inst_id = q.get("instType", ""), q.get("instId", "")
    if inst_type not in ("", "MARGIN", "SWAP", "FUTURES", "OPTION"):
        raise fail("51000", "Parameter instType error", 200)
    wanted = set(inst_id.split(",")) if inst_id else set(swap_contracts(venue))
    if inst_type not in ("", "SWAP"):
        wanted = set()
    acct = _account(venue, key)
    now = venue.now_ms()
    rows = [
        position_json(venue, key, p, now)
        for p in acct.futures.open()
        if p.instrument_id in wanted and is_swap(p.instrument_id)
    ]
    pos_id = q.get("posId")
    return ok([r for r in rows if not pos_id or r["posId"] in pos_id.split(",")])
