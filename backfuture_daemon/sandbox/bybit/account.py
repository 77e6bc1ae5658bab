"""Bybit v5 signed endpoints on the sandbox: the unified wallet (`GET /v5/account/wallet-balance`),
account info, the key's own facts (`GET /v5/user/query-api`: permission groups, readOnly, ips,
deadlineDay / expiredAt), and the route table of the Bybit port: spot orders (bybit/trading.py:
create and cancel behind `Spot.SpotTrade`, checked before the order's own rules; real-time,
history and executions for any key). server.py (or a test fixture) mounts `routes()`.
Reference §3.2-§3.5.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import web

import backfuture_daemon.sandbox.bybit.market_data as md
from backfuture_daemon.sandbox.bybit import trading
from backfuture_daemon.sandbox.bybit.gateway import (
    EXCHANGE,
    GROUPS,
    SPOT_TRADE,
    Params,
    Route,
    err,
    expires_at_ms,
    ok,
    private,
    read_only,
)
from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import venue_of

_DAY_MS = 86_400_000
_EPOCH = "1970-01-01T00:00:00Z"


def _uid(key: SandboxKey) -> int:
    return 10**8 + zlib.crc32(key.api_key.encode()) % 10**8


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def wallet_balance(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """The unified trading account (every sandbox key's account is UTA: `uta: 1`)."""
    venue = venue_of(request)
    now = venue.now_ms()
    if params.get("accountType") != "UNIFIED":
        raise err(10001, "accountType only support UNIFIED.", now)
    acct = venue.engine.account(EXCHANGE, key.api_key, key.balances)
    venue.engine.refresh(acct, now)
    coins = []
    for cur in sorted(set(acct.free) | set(acct.locked)):
        free, locked = acct.balance(cur)
        total = decimal_str(free + locked)
        coins.append(
            {"coin": cur, "equity": total, "walletBalance": total, "locked": decimal_str(locked),
             "usdValue": total if cur == "USDT" else "", "unrealisedPnl": "0",
             "cumRealisedPnl": "0", "borrowAmount": "", "accruedInterest": "0",
             "totalOrderIM": "0", "totalPositionIM": "0", "totalPositionMM": "0",
             "bonus": "0", "collateralSwitch": True, "marginCollateral": True,
             "spotHedgingQty": "0", "availableToWithdraw": "", "spotBorrow": "0"}
        )  # fmt: skip
    usdt = decimal_str(sum((acct.balance("USDT")[i] for i in (0, 1)), Decimal(0)))
    return ok(
        {"list": [
            {"accountType": "UNIFIED", "totalEquity": usdt, "totalWalletBalance": usdt,
             "totalMarginBalance": usdt, "totalAvailableBalance": usdt,
             "totalPerpUPL": "0", "totalInitialMargin": "0", "totalMaintenanceMargin": "0",
             "accountIMRate": "0", "accountMMRate": "0", "accountLTV": "0", "coin": coins}
        ]},
        now,
    )  # fmt: skip


async def account_info(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    now = venue_of(request).now_ms()
    return ok(
        {"unifiedMarginStatus": 6, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False,
         "spotHedgingStatus": "OFF", "updatedTime": str(key.created_ms), "dcpStatus": "OFF",
         "timeWindow": 10, "smpGroup": 0},
        now,
    )  # fmt: skip


async def query_api(request: web.Request, key: SandboxKey, params: Params) -> web.Response:
    """Any key may read its own facts. No IP bound: `ips: ["*"]` and the days left of its 90;
    IP-bound: permanent (`deadlineDay: -2`, expiredAt at the epoch)."""
    now = venue_of(request).now_ms()
    expiry = expires_at_ms(key)
    permissions = {
        group: [p for p in perms if f"{group}.{p}" in key.permissions]
        for group, perms in GROUPS.items()
    }
    return ok(
        {"id": str(_uid(key) % 10**7), "note": key.note, "apiKey": key.api_key,
         "readOnly": 1 if read_only(key) else 0, "secret": "", "permissions": permissions,
         "ips": list(key.ip_whitelist) or ["*"], "type": 1,
         "deadlineDay": -2 if expiry is None else max(0, -(-(expiry - now) // _DAY_MS)),
         "expiredAt": _EPOCH if expiry is None else _iso(expiry),
         "createdAt": _iso(key.created_ms), "unified": 0, "uta": 1, "userID": _uid(key),
         "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
         "rsaPublicKey": "", "isMaster": True, "parentUid": "0", "kycLevel": "LEVEL_1",
         "kycRegion": ""},
        now,
    )  # fmt: skip


def routes() -> list[Route]:
    """Spot and linear share Bybit's one v5 host; the sandbox serves them on one port."""
    v = "/v5"
    return [
        ("GET", f"{v}/market/time", md.server_time),
        ("GET", f"{v}/system/status", md.system_status),
        ("GET", f"{v}/market/instruments-info", md.instruments_info),
        ("GET", f"{v}/market/tickers", md.tickers),
        ("GET", f"{v}/market/orderbook", md.orderbook),
        ("GET", f"{v}/account/wallet-balance", private(None, wallet_balance)),
        ("GET", f"{v}/account/info", private(None, account_info)),
        ("GET", f"{v}/user/query-api", private(None, query_api)),
        ("POST", f"{v}/order/create", private(SPOT_TRADE, trading.create_order)),
        ("POST", f"{v}/order/cancel", private(SPOT_TRADE, trading.cancel)),
        ("GET", f"{v}/order/realtime", private(None, trading.realtime)),
        ("GET", f"{v}/order/history", private(None, trading.history)),
        ("GET", f"{v}/execution/list", private(None, trading.executions)),
    ]
