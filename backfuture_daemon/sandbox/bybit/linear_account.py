"""The Bybit unified account's USDT-perpetual side on the sandbox: its account-level margin mode
(`POST /v5/account/set-margin-mode`, shown by `GET /v5/account/info`; a new account is
REGULAR_MARGIN, cross, as on Bybit), the position mode per account (`POST
/v5/position/switch-mode`: 0 one-way, 3 hedge), leverage per symbol (`POST
/v5/position/set-leverage`: 110043 when unchanged), `POST /v5/position/switch-isolated` (classic
accounts only: a unified account is refused with 100028 ⚠), the positions (`GET
/v5/position/list`: side Buy/Sell/"" + size in base), and the margins the wallet shows and an
order must fit in (position IM + order IM; 110007 when it does not).

Positions are the engine's isolated-margin books (sandbox/positions.py), one per contract, and
liquidate there. Mounted by bybit/account.py routes(); bybit/linear.py places the orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from weakref import WeakKeyDictionary

from aiohttp import web

import backfuture_daemon.sandbox.bybit.market_data as md
from backfuture_daemon.sandbox.bybit.gateway import EXCHANGE, Params, err, ok
from backfuture_daemon.sandbox.catalogue import Instrument
from backfuture_daemon.sandbox.engine import Account, Engine, Order, decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.positions import (
    MAINT_RATE,
    Position,
    opening_contracts,
    order_margin,
)
from backfuture_daemon.sandbox.venue import Venue, venue_of

ZERO = Decimal(0)
MARGIN_MODES = ("ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN")
#: Bybit's leverage on a symbol never set (⚠ the UI's default; the API shows it per position).
DEFAULT_LEVERAGE = Decimal(10)


@dataclass(slots=True)
class LinearState:
    """One key's account-level settings for linear (not part of the engine's Account)."""

    margin_mode: str = "REGULAR_MARGIN"
    hedge: bool = False
    leverage: dict[str, Decimal] = field(default_factory=dict)  #: by Bybit symbol


_STATES: WeakKeyDictionary[Engine, dict[str, LinearState]] = WeakKeyDictionary()


def state(venue: Venue, key: SandboxKey) -> LinearState:
    by_key = _STATES.setdefault(venue.engine, {})
    return by_key.setdefault(key.api_key, LinearState())


def account(venue: Venue, key: SandboxKey) -> Account:
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    return acct


def leverage_of(st: LinearState, symbol: str) -> Decimal:
    return st.leverage.get(symbol, DEFAULT_LEVERAGE)


def usdt(acct: Account) -> dict[str, Decimal]:
    """The unified wallet's USDT: balance (spot free + locked + realised perpetual PnL), what
    spot orders lock, position IM and order IM."""
    free, locked = acct.balance("USDT")
    return {
        "wallet": free + locked + acct.futures.realised(),
        "locked": locked,
        "position_im": acct.futures.margin(),
        "order_im": order_margin(acct),
    }


def available(acct: Account) -> Decimal:
    w = usdt(acct)
    return w["wallet"] - w["locked"] - w["position_im"] - w["order_im"]


def check_margin(venue: Venue, acct: Account, order: Order, now: int) -> None:
    """110007 when the order's opening part needs more initial margin than is available."""
    lev = order.extra["leverage_value"]
    assert isinstance(lev, Decimal)
    pos = acct.futures.positions.get(order.instrument_id)
    price = order.price or venue.engine.trade_price(order.symbol, "futures", now)
    if opening_contracts(pos, order.side, order.amount) * price / lev > available(acct):
        raise err(110007, "ab not enough for new order", now)


def linear_instrument(venue: Venue, params: Params, now: int) -> Instrument:
    """The spot pair whose perpetual `symbol` names (category must be linear)."""
    if params.get("category") != "linear":
        raise err(10001, "params error: category only support linear", now)
    inst = md.spot_instrument(venue, str(params.get("symbol") or ""), "linear")
    if inst is None:
        raise err(10001, "params error: symbol is required", now)
    return inst


def _position_row(venue: Venue, st: LinearState, inst: Instrument, pos: Position | None,
                  idx: int, now: int) -> dict[str, Any]:  # fmt: skip
    symbol = md.bybit_id(inst)
    qty = pos.qty if pos is not None else ZERO
    if (idx == 1 and qty < 0) or (idx == 2 and qty > 0):
        qty = ZERO
    mark = md.last_price(venue, inst, "linear", now)
    held = pos is not None and qty != 0
    liq = pos.liquidation_price() if held and pos is not None else None
    bust = pos.bankrupt_price() if held and pos is not None else None
    lev = pos.leverage if held and pos is not None else leverage_of(st, symbol)
    return {
        "positionIdx": idx, "riskId": 1, "riskLimitValue": "2000000", "symbol": symbol,
        "side": ("Buy" if qty > 0 else "Sell") if qty else "", "size": decimal_str(abs(qty)),
        "avgPrice": decimal_str(pos.entry) if held and pos else "0",
        "positionValue": decimal_str(abs(pos.cost)) if held and pos else "",
        "tradeMode": 0, "autoAddMargin": 0, "positionStatus": "Normal",
        "leverage": decimal_str(lev), "markPrice": decimal_str(mark),
        "liqPrice": decimal_str(liq) if liq is not None and liq > 0 else "",
        "bustPrice": decimal_str(bust) if bust is not None and bust > 0 else "",
        "positionIM": decimal_str(pos.margin) if held and pos else "0",
        "positionMM": decimal_str(abs(pos.cost) * MAINT_RATE) if held and pos else "0",
        "positionBalance": decimal_str(pos.margin) if held and pos else "0",
        "takeProfit": "", "stopLoss": "", "trailingStop": "0",
        "unrealisedPnl": decimal_str(pos.unrealised(mark)) if held and pos else "",
        "curRealisedPnl": decimal_str(pos.realised) if pos else "0",
        "cumRealisedPnl": decimal_str(pos.realised) if pos else "0", "adlRankIndicator": 0,
        "createdTime": str(pos.opened_ms if pos else now), "updatedTime": str(now),
        "seq": now, "isReduceOnly": False, "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "",
        "sessionAvgPrice": "",
    }  # fmt: skip


async def position_list(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`GET /v5/position/list?category=linear&symbol=` (or `settleCoin=USDT`: every contract):
    one-way: one row per symbol (positionIdx 0, side "" when flat); hedge: rows 1 and 2."""
    venue = venue_of(request)
    now = venue.now_ms()
    if params.get("category") != "linear":
        raise err(10001, "params error: category only support linear", now)
    if params.get("symbol"):
        chosen = [linear_instrument(venue, params, now)]
    elif params.get("settleCoin") == "USDT":
        chosen = [venue.engine.catalogue.by_symbol[s] for s in md.LINEAR_UNDERLYINGS]
    else:
        raise err(10001, "params error: symbol or settleCoin is required", now)
    acct, st = account(venue, key), state(venue, key)
    rows = []
    for inst in chosen:
        pos = acct.futures.positions.get(md.bybit_id(inst))
        if params.get("settleCoin") and not params.get("symbol") and not (pos and pos.qty):
            continue  # by settle coin: only the positions held
        for idx in (1, 2) if st.hedge else (0,):
            rows.append(_position_row(venue, st, inst, pos, idx, now))
    return ok({"list": rows, "nextPageCursor": "", "category": "linear"}, now)


def _leverage(params: Params, name: str, now: int) -> Decimal:
    try:
        value = Decimal(str(params.get(name)))
    except InvalidOperation:
        raise err(10001, f"params error: {name} is invalid", now) from None
    if not value.is_finite() or not 1 <= value <= md.LINEAR_MAX_LEVERAGE or value % 1:
        raise err(10001, f"params error: {name} invalid", now)
    return value


async def set_leverage(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`POST /v5/position/set-leverage`: buyLeverage = sellLeverage on a unified account; the
    same leverage again is 110043. An open position keeps its margin (⚠ Bybit re-margins it)."""
    venue = venue_of(request)
    now = venue.now_ms()
    inst = linear_instrument(venue, params, now)
    buy, sell = _leverage(params, "buyLeverage", now), _leverage(params, "sellLeverage", now)
    if buy != sell:
        raise err(10001, "params error: buyLeverage must be equal to sellLeverage", now)
    st = state(venue, key)
    symbol = md.bybit_id(inst)
    if leverage_of(st, symbol) == buy:
        raise err(110043, "Set leverage not modified", now)
    st.leverage[symbol] = buy
    return ok({}, now)


async def switch_isolated(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`POST /v5/position/switch-isolated`: per-symbol margin mode of CLASSIC accounts; every
    sandbox account is unified, where the margin mode is the account's (set-margin-mode)."""
    venue = venue_of(request)
    now = venue.now_ms()
    linear_instrument(venue, params, now)
    raise err(100028, "The API cannot be executed because the account is unified", now)


async def set_margin_mode(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`POST /v5/account/set-margin-mode` {setMarginMode}: refused while a position is open
    (⚠ the code and text of that refusal are unverified)."""
    venue = venue_of(request)
    now = venue.now_ms()
    mode = str(params.get("setMarginMode") or "")
    if mode not in MARGIN_MODES:
        raise err(10001, "params error: setMarginMode is invalid", now)
    if account(venue, key).futures.open():
        raise err(3400045, "Set margin mode failed: positions or orders are open", now)
    state(venue, key).margin_mode = mode
    return ok({"reasons": []}, now, None)


async def switch_mode(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`POST /v5/position/switch-mode` {category, symbol | coin, mode 0 one-way | 3 hedge};
    the mode it already has: 110025."""
    venue = venue_of(request)
    now = venue.now_ms()
    if params.get("category") != "linear":
        raise err(10001, "params error: category only support linear", now)
    if str(params.get("mode")) not in ("0", "3"):
        raise err(10001, "params error: mode is invalid", now)
    st = state(venue, key)
    hedge = str(params.get("mode")) == "3"
    if st.hedge == hedge:
        raise err(110025, "Position mode is not modified", now)
    if account(venue, key).futures.open():
        raise err(110024, "You have an existing position, so position mode cannot be switched",
                  now)  # fmt: skip
    st.hedge = hedge
    return ok({}, now)
