"""Bybit v5 signed endpoints on the sandbox: the unified wallet (`GET /v5/account/wallet-balance`),
account info, the key's own facts (`GET /v5/user/query-api`: permission groups, readOnly, ips,
deadlineDay / expiredAt), and the route table of the Bybit port: orders by `category` — spot
(bybit/trading.py: create and cancel behind `Spot.SpotTrade`) and USDT linear perpetuals
(bybit/linear.py, behind `ContractTrade.Order` or `Derivatives.DerivativesTrade` ⚠), each
checked before the order's own rules; real-time, history and executions for any key — and the
linear account's routes (bybit/linear_account.py: positions, leverage, margin and position
mode). server.py (or a test fixture) mounts `routes()`. Reference §3.2-§3.5.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from aiohttp import web

import backfuture_daemon.sandbox.bybit.market_data as md
from backfuture_daemon.sandbox.bybit import linear, trading
from backfuture_daemon.sandbox.bybit import linear_account as la
from backfuture_daemon.sandbox.bybit.gateway import (
    EXCHANGE,
    GROUPS,
    SPOT_TRADE,
    Params,
    PrivateHandler,
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
#: Either grants linear orders (reference §3.2: which one UTA linear orders need is unverified).
CONTRACT_TRADE: frozenset[str] = frozenset({"ContractTrade.Order", "Derivatives.DerivativesTrade"})
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
    w = la.usdt(acct)
    coins = []
    held = {"USDT"} if acct.futures.positions else set()
    for cur in sorted(set(acct.free) | set(acct.locked) | held):
        free, locked = acct.balance(cur)
        total = decimal_str(w["wallet"] if cur == "USDT" else free + locked)
        im = {"totalOrderIM": decimal_str(w["order_im"]),
              "totalPositionIM": decimal_str(w["position_im"])}  # fmt: skip
        im = im if cur == "USDT" else {}
        coins.append(
            {"coin": cur, "equity": total, "walletBalance": total, "locked": decimal_str(locked),
             "usdValue": total if cur == "USDT" else "", "unrealisedPnl": "0",
             "cumRealisedPnl": "0", "borrowAmount": "", "accruedInterest": "0",
             "totalOrderIM": "0", "totalPositionIM": "0", **im, "totalPositionMM": "0",
             "bonus": "0", "collateralSwitch": True, "marginCollateral": True,
             "spotHedgingQty": "0", "availableToWithdraw": "", "spotBorrow": "0"}
        )  # fmt: skip
    usdt = decimal_str(w["wallet"])
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
    venue = venue_of(request)
    now = venue.now_ms()
    return ok(
        {"unifiedMarginStatus": 6, "marginMode": la.state(venue, key).margin_mode,
         "isMasterTrader": False,
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


def by_category(spot: PrivateHandler, linear_handler: PrivateHandler, *, trade: bool
                ) -> PrivateHandler:  # fmt: skip
    """One v5 order route for both categories: `category=linear` goes to bybit/linear.py (a
    trading route behind CONTRACT_TRADE), anything else to the spot handler (behind
    `Spot.SpotTrade` when `trade`), which refuses what it does not know."""

    async def handler(request: web.Request, key: SandboxKey, params: Params) -> web.StreamResponse:
        linear_wanted = params.get("category") == "linear"
        needed = CONTRACT_TRADE if linear_wanted else frozenset({SPOT_TRADE})
        if trade and (read_only(key) or not needed & key.permissions):
            now = venue_of(request).now_ms()
            raise err(10005, "Permission denied, please check your API key permissions.", now)
        return await (linear_handler if linear_wanted else spot)(request, key, params)

    return handler


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
        (
            "POST",
            f"{v}/order/create",
            private(None, by_category(trading.create_order, linear.create_order, trade=True)),
        ),
        (
            "POST",
            f"{v}/order/cancel",
            private(None, by_category(trading.cancel, linear.cancel, trade=True)),
        ),
        (
            "GET",
            f"{v}/order/realtime",
            private(None, by_category(trading.realtime, linear.realtime, trade=False)),
        ),
        (
            "GET",
            f"{v}/order/history",
            private(None, by_category(trading.history, linear.history, trade=False)),
        ),
        (
            "GET",
            f"{v}/execution/list",
            private(None, by_category(trading.executions, linear.executions, trade=False)),
        ),
        ("GET", f"{v}/position/list", private(None, la.position_list)),
        ("POST", f"{v}/position/set-leverage", private(None, la.set_leverage)),
        ("POST", f"{v}/position/switch-isolated", private(None, la.switch_isolated)),
        ("POST", f"{v}/position/switch-mode", private(None, la.switch_mode)),
        ("POST", f"{v}/account/set-margin-mode", private(None, la.set_margin_mode)),
    ]
