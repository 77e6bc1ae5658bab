"""OKX's signed account endpoints on the sandbox and the route table of the OKX port: the trading
account's balance (`GET /api/v5/account/balance`) and the key's own facts
(`GET /api/v5/account/config`: perm, ip, label, acctLv, ...), both behind the read permission;
orders (okx/trading.py, swaps okx/swap.py) behind `trade` to change, `read_only` to look, and
their history (okx/history.py: orders-history, fills) behind `read_only`; the swap settings and
positions (okx/swap_account.py: set-leverage, set-position-mode behind `trade`, positions). The
USDT balance is the unified account's: swap margin held moves from available to frozen.

server.py (or a test fixture) mounts `routes()` on the OKX port. Reference §2.2-§2.3.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.okx import history, market_data, swap_account, trading
from backfuture_daemon.sandbox.okx.gateway import (
    EXCHANGE,
    PERMS,
    READ,
    TRADE,
    Route,
    ok,
    private,
    state_of,
)
from backfuture_daemon.sandbox.venue import venue_of


def uid(key: SandboxKey) -> str:
    return str(44_705_892_343_619_584 + zlib.crc32(key.api_key.encode()))


def _detail(ccy: str, free: Decimal, locked: Decimal, now: int) -> dict[str, Any]:
    total = decimal_str(free + locked)
    return {
        "ccy": ccy, "eq": total, "cashBal": total, "uTime": str(now), "isoEq": "0",
        "availEq": decimal_str(free), "disEq": total, "fixedBal": "0",
        "availBal": decimal_str(free), "frozenBal": decimal_str(locked),
        "ordFrozen": decimal_str(locked), "liab": "", "upl": "", "uplLiab": "", "crossLiab": "",
        "rewardBal": "0", "isoLiab": "", "mgnRatio": "", "interest": "", "twap": "0",
        "maxLoan": "", "eqUsd": total, "borrowFroz": "", "notionalLever": "", "stgyEq": "0",
        "isoUpl": "", "spotInUseAmt": "", "clSpotInUseAmt": "", "maxSpotInUse": "",
        "spotIsoBal": "0", "smtSyncEq": "0", "spotCopyTradingEq": "0", "spotBal": "",
        "openAvgPx": "", "accAvgPx": "", "spotUpl": "", "spotUplRatio": "", "totalPnl": "",
        "totalPnlRatio": "", "imr": "", "mmr": "", "colRes": "0",
        "colBorrAutoConversion": "0", "collateralEnabled": False, "autoLendStatus": "off",
        "autoLendMtAmt": "0",
    }  # fmt: skip


async def balance(request: web.Request, key: SandboxKey) -> web.Response:
    """The trading account; `ccy` (comma list) picks currencies, else every non-zero one."""
    venue = venue_of(request)
    now = venue.now_ms()
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, now)
    wanted = [c.strip().upper() for c in request.query.get("ccy", "").split(",") if c.strip()]
    currencies = wanted or sorted(set(acct.free) | set(acct.locked))
    details = []
    total = Decimal(0)
    for ccy in currencies:
        free, locked = swap_account.usdt_balance(acct) if ccy == "USDT" else acct.balance(ccy)
        if wanted or free or locked:
            details.append(_detail(ccy, free, locked, now))
            total += free + locked if ccy in ("USDT", "USDC", "USD") else 0
    return ok(
        [{"adjEq": "", "availEq": "", "borrowFroz": "", "details": details, "imr": "",
          "isoEq": "0", "mgnRatio": "", "mmr": "", "notionalUsd": "", "notionalUsdForBorrow": "",
          "notionalUsdForFutures": "", "notionalUsdForOption": "", "notionalUsdForSwap": "",
          "ordFroz": "", "totalEq": decimal_str(total), "uTime": str(now), "upl": ""}]
    )  # fmt: skip


async def config(request: web.Request, key: SandboxKey) -> web.Response:
    """The key and account facts (reference §2.2): `perm` lists the key's permissions, `ip`
    its bound IPs ("" = none), `acctLv` the account mode; OKX shows no expiry."""
    level = state_of(request).level(key)
    pos_mode = swap_account.settings(venue_of(request)).pos_mode(key.api_key)
    perm = ",".join(p for p in PERMS if p in key.permissions)
    return ok(
        [{"acctLv": level, "acctStpMode": "cancel_maker", "autoLoan": False,
          "ctIsoMode": "automatic", "enableSpotBorrow": False, "greeksType": "PA",
          "feeType": "0", "ip": ",".join(key.ip_whitelist), "type": "0", "kycLv": "2",
          "label": key.note or "backfuture sandbox", "level": "Lv1", "levelTmp": "",
          "liquidationGear": "-1", "mainUid": uid(key), "mgnIsoMode": "automatic",
          "opAuth": "0", "perm": perm,
          "posMode": pos_mode, "roleType": "0",
          "spotBorrowAutoRepay": False, "spotOffsetType": "", "spotRoleType": "0",
          "spotTraderInsts": [], "traderInsts": [], "uid": uid(key), "settleCcy": "USDT",
          "settleCcyList": ["USD", "USDC", "USDG"]}]
    )  # fmt: skip


def routes() -> list[Route]:
    """Every OKX path on one port (OKX serves them all from one host)."""
    v = "/api/v5"
    return [
        ("GET", f"{v}/public/time", market_data.server_time),
        ("GET", f"{v}/system/status", market_data.system_status),
        ("GET", f"{v}/public/instruments", market_data.instruments),
        ("GET", f"{v}/market/ticker", market_data.ticker),
        ("GET", f"{v}/market/tickers", market_data.tickers),
        ("GET", f"{v}/market/books", market_data.books),
        ("GET", f"{v}/account/balance", private(READ, balance)),
        ("GET", f"{v}/account/config", private(READ, config)),
        ("GET", f"{v}/account/positions", private(READ, swap_account.positions)),
        ("GET", f"{v}/account/leverage-info", private(READ, swap_account.leverage_info)),
        ("POST", f"{v}/account/set-leverage", private(TRADE, swap_account.set_leverage)),
        ("POST", f"{v}/account/set-position-mode", private(TRADE, swap_account.set_position_mode)),
        ("POST", f"{v}/trade/order", private(TRADE, trading.place)),
        ("POST", f"{v}/trade/batch-orders", private(TRADE, trading.place_batch)),
        ("GET", f"{v}/trade/order", private(READ, trading.get_order)),
        ("POST", f"{v}/trade/cancel-order", private(TRADE, trading.cancel)),
        ("GET", f"{v}/trade/orders-pending", private(READ, history.orders_pending)),
        ("GET", f"{v}/trade/orders-history", private(READ, history.orders_history(7))),
        ("GET", f"{v}/trade/orders-history-archive", private(READ, history.orders_history(90))),
        ("GET", f"{v}/trade/fills", private(READ, history.fills(3, inst_type_required=False))),
        (
            "GET",
            f"{v}/trade/fills-history",
            private(READ, history.fills(90, inst_type_required=True)),
        ),
    ]
