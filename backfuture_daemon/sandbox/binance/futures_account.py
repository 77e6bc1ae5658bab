"""The Binance USDⓈ-M account on the sandbox: per-symbol margin type and leverage
(`POST /fapi/v1/marginType`, `POST /fapi/v1/leverage`), the position mode (`GET|POST
/fapi/v1/positionSide/dual`), positions (`GET /fapi/v2/positionRisk`, from the account's
isolated position book, positions.py) and the wallet (`GET /fapi/v2/balance`), with Binance's
bodies and codes (-4046 "No need to change margin type.", -4028 leverage, -4047/-4048 and
-4067/-4068 changes refused while orders or positions exist, -2019 "Margin is insufficient.").

A fresh account is CROSSED at leverage 20 in one-way mode, as Binance opens it. The wallet
starts from the key's USDT balance (spot and futures wallets are not linked on the sandbox).
Mounted by binance/futures.py `routes()`; futures_trading.py asks `settings` and `check_margin`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import web

from backfuture_daemon.sandbox.binance.contracts import BY_ID, contract_of, listed
from backfuture_daemon.sandbox.binance.gateway import EXCHANGE, Params, err
from backfuture_daemon.sandbox.engine import Account, Order
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.positions import opening_contracts, order_margin
from backfuture_daemon.sandbox.quotes import perp_price
from backfuture_daemon.sandbox.venue import Venue, json_response, venue_of

ZERO = Decimal(0)
DEFAULT_LEVERAGE = 20
_OK = {"code": 200, "msg": "success"}


@dataclass(slots=True)
class Settings:
    """One account's futures settings."""

    account: Account
    dual: bool = False
    isolated: set[str] = field(default_factory=set)  #: symbols in ISOLATED margin
    leverage: dict[str, int] = field(default_factory=dict)


_SETTINGS: dict[int, Settings] = {}


def account_of(venue: Venue, key: SandboxKey) -> Account:
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    return acct


def settings(acct: Account) -> Settings:
    s = _SETTINGS.get(id(acct))
    if s is None or s.account is not acct:
        s = _SETTINGS[id(acct)] = Settings(acct)
    return s


def _futures_open(acct: Account, symbol: str | None = None) -> tuple[bool, bool]:
    """(open futures orders, open positions) of the account, of one symbol if given."""
    orders = any(
        acct.orders[i].market == "futures" and symbol in (None, acct.orders[i].instrument_id)
        for i in acct.open_ids
    )
    positions = any(symbol in (None, p.instrument_id) for p in acct.futures.open())
    return orders, positions


async def margin_type(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    c = contract_of(venue, params)
    assert c is not None
    wanted = (params.get("marginType") or "").upper()
    if wanted not in ("ISOLATED", "CROSSED"):
        raise err(-1102, "Mandatory parameter 'marginType' was not sent, was empty/null, or "
                  "malformed.")  # fmt: skip
    s = settings(account_of(venue, key))
    if (c.id in s.isolated) == (wanted == "ISOLATED"):
        raise err(-4046, "No need to change margin type.")
    orders, positions = _futures_open(s.account, c.id)
    if positions:
        raise err(-4048, "Margin type cannot be changed if there exists position.")
    if orders:
        raise err(-4047, "Margin type cannot be changed if there exists open orders.")
    if wanted == "ISOLATED":
        s.isolated.add(c.id)
    else:
        s.isolated.discard(c.id)
    return json_response(_OK)


async def leverage(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    venue = venue_of(request)
    c = contract_of(venue, params)
    assert c is not None
    try:
        value = int(params.get("leverage") or "")
    except ValueError:
        raise err(-1102, "Mandatory parameter 'leverage' was not sent, was empty/null, or "
                  "malformed.") from None  # fmt: skip
    if not 1 <= value <= c.max_leverage:
        raise err(-4028, f"Leverage {value} is not valid")
    settings(account_of(venue, key)).leverage[c.id] = value
    return json_response({"leverage": value, "maxNotionalValue": "1000000", "symbol": c.id})


async def get_dual(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    s = settings(account_of(venue_of(request), key))
    return json_response({"dualSidePosition": s.dual})


async def set_dual(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    raw = (params.get("dualSidePosition") or "").lower()
    if raw not in ("true", "false"):
        raise err(-1102, "Mandatory parameter 'dualSidePosition' was not sent, was empty/null, "
                  "or malformed.")  # fmt: skip
    s = settings(account_of(venue_of(request), key))
    if s.dual == (raw == "true"):
        raise err(-4059, "No need to change position side.")
    orders, positions = _futures_open(s.account)
    if positions:
        raise err(-4068, "Position side cannot be changed if there exists position.")
    if orders:
        raise err(-4067, "Position side cannot be changed if there exists open orders.")
    s.dual = raw == "true"
    return json_response(_OK)


def wallet(key: SandboxKey, acct: Account) -> tuple[Decimal, Decimal]:
    """(wallet balance: start + realised PnL, available: less position and order margin)."""
    balance = key.balances.get("USDT", ZERO) + acct.futures.realised()
    return balance, balance - acct.futures.margin() - order_margin(acct)


def check_margin(venue: Venue, key: SandboxKey, acct: Account, order: Order) -> None:
    """-2019 when the order's opening part needs more margin than is available."""
    lev = order.extra["leverage_value"]
    assert isinstance(lev, Decimal)
    pos = acct.futures.positions.get(order.instrument_id)
    c = BY_ID[order.instrument_id]
    price = order.price or perp_price(venue.engine.feed, c, order.created_ms)
    need = opening_contracts(pos, order.side, order.amount) * price / lev
    if need > wallet(key, acct)[1]:
        raise err(-2019, "Margin is insufficient.")


async def position_risk(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`GET /fapi/v2/positionRisk`: one row per symbol (side BOTH in one-way mode)."""
    venue = venue_of(request)
    wanted = contract_of(venue, params, required=False)
    acct = account_of(venue, key)
    s, now = settings(acct), venue.now_ms()
    rows = []
    for c in [wanted] if wanted else listed(venue):
        pos = acct.futures.positions.get(c.id)
        mark = perp_price(venue.engine.feed, c, now)
        qty = pos.qty if pos else ZERO
        liq = pos.liquidation_price() if pos else None
        margin = pos.margin if pos else ZERO
        unrealised = pos.unrealised(mark) if pos else ZERO
        rows.append(
            {"symbol": c.id, "positionAmt": f"{qty:.3f}",
             "entryPrice": f"{pos.entry if pos else ZERO:.8f}", "breakEvenPrice": "0.0",
             "markPrice": f"{mark:.8f}", "unRealizedProfit": f"{unrealised:.8f}",
             "liquidationPrice": f"{liq or ZERO:.8f}",
             "leverage": str(s.leverage.get(c.id, DEFAULT_LEVERAGE)),
             "maxNotionalValue": "1000000",
             "marginType": "isolated" if c.id in s.isolated else "cross",
             "isolatedMargin": f"{margin + unrealised if qty else ZERO:.8f}",
             "isAutoAddMargin": "false", "positionSide": "BOTH",
             "notional": f"{qty * mark:.8f}", "isolatedWallet": f"{margin:.8f}",
             "updateTime": pos.checked_ms if pos else 0}
        )  # fmt: skip
    return json_response(rows)


async def balance(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """`GET /fapi/v2/balance`: the USDT wallet."""
    venue = venue_of(request)
    total, available = wallet(key, account_of(venue, key))
    return json_response(
        [{"accountAlias": "SgsR", "asset": "USDT", "balance": f"{total:.8f}",
          "crossWalletBalance": f"{available:.8f}", "crossUnPnl": "0.00000000",
          "availableBalance": f"{available:.8f}", "maxWithdrawAmount": f"{available:.8f}",
          "marginAvailable": True, "updateTime": venue.now_ms()}]
    )  # fmt: skip
