"""KuCoin spot on the sandbox: the endpoint table (classic and HF families), account mode, key
info with masked IPs and balances; the order handlers live in kucoin/trading.py.

server.py mounts `routes()` on the KuCoin spot port. Reference: shared/reference/exchanges.md §4.
"""

from __future__ import annotations

import zlib
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.kucoin.gateway import (
    Route,
    fail,
    mask_ip,
    ok,
    private,
    status,
    timestamp,
)
from backfuture_daemon.sandbox.kucoin.market_data import (
    all_tickers,
    currencies,
    histories,
    level1,
    market_candles,
    orderbook_20,
    orderbook_100,
    orderbook_full,
    stats,
    symbols,
)
from backfuture_daemon.sandbox.kucoin.trading import (
    cancel_all,
    cancel_order,
    cancel_order_by_client,
    cancel_order_hf,
    cancel_order_hf_by_client,
    create_order,
    create_order_hf,
    get_order,
    get_order_hf,
    list_fills,
    list_fills_hf,
    list_orders,
    list_orders_hf_active,
    list_orders_hf_done,
    order_test,
)
from backfuture_daemon.sandbox.venue import venue_of


async def account_mode(request: web.Request, key: SandboxKey) -> web.Response:
    return ok({"selfAccountMode": "CLASSIC", "accountMode": "CLASSIC"})


async def margin_symbols(request: web.Request, key: SandboxKey) -> web.Response:
    return ok({"timestamp": venue_of(request).now_ms(), "items": []})


async def isolated_symbols(request: web.Request, key: SandboxKey) -> web.Response:
    return ok([])


async def hf_opened(request: web.Request, key: SandboxKey) -> web.Response:
    return ok(key.hf)


async def api_key_info(request: web.Request, key: SandboxKey) -> web.Response:
    data: dict[str, Any] = {
        "remark": key.note or "sandbox",
        "apiKey": key.api_key,
        "apiVersion": key.api_version,
        "permission": ",".join(p for p in _PERMISSION_ORDER if p in key.permissions),
        "createdAt": key.created_ms,
        "uid": 165111215,
        "isMaster": True,
    }
    if key.ip_whitelist:
        data["ipWhitelist"] = ",".join(mask_ip(ip) for ip in key.ip_whitelist)
    return ok(data)


_PERMISSION_ORDER = ("General", "Futures", "Spot", "Earn", "InnerTransfer", "Transfer", "Margin")


async def accounts(request: web.Request, key: SandboxKey) -> web.Response:
    venue = venue_of(request)
    wanted = request.query.get("type")
    acct = venue.engine.account("kucoin", key.api_key, key.balances)
    venue.engine.refresh(acct, venue.now_ms())
    kind = wanted or ("trade_hf" if key.hf else "trade")
    if wanted and wanted not in ("trade", "trade_hf", "main", "margin"):
        raise fail("400100", "type not in the given range!")
    rows = []
    if kind == ("trade_hf" if key.hf else "trade"):
        currency = request.query.get("currency")
        for cur in sorted(set(acct.free) | set(acct.locked)):
            if currency and cur != currency:
                continue
            free, locked = acct.balance(cur)
            rows.append(
                {
                    "id": f"{zlib.crc32(f'{key.api_key}/{cur}'.encode()):024x}",
                    "currency": cur,
                    "type": kind,
                    "balance": decimal_str(free + locked),
                    "available": decimal_str(free),
                    "holds": decimal_str(locked),
                }
            )
    return ok(rows)


def routes() -> list[Route]:
    v1, hf = "/api/v1", "/api/v1/hf"
    return [
        ("GET", f"{v1}/timestamp", timestamp),
        ("GET", f"{v1}/status", status),
        ("GET", "/api/v3/currencies", currencies),
        ("GET", "/api/v2/symbols", symbols),
        ("GET", f"{v1}/market/allTickers", all_tickers),
        ("GET", f"{v1}/market/stats", stats),
        ("GET", f"{v1}/market/orderbook/level1", level1),
        ("GET", f"{v1}/market/orderbook/level2_20", orderbook_20),
        ("GET", f"{v1}/market/orderbook/level2_100", orderbook_100),
        ("GET", "/api/v3/market/orderbook/level2", private("General", orderbook_full)),
        ("GET", f"{v1}/market/candles", market_candles),
        ("GET", f"{v1}/market/histories", histories),
        ("GET", "/api/ua/v1/account/mode", private("General", account_mode)),
        ("GET", "/api/v3/margin/symbols", private("General", margin_symbols)),
        ("GET", f"{v1}/isolated/symbols", private("General", isolated_symbols)),
        ("GET", f"{hf}/accounts/opened", private("General", hf_opened)),
        ("GET", f"{v1}/user/api-key", private("General", api_key_info)),
        ("GET", f"{v1}/accounts", private("General", accounts)),
        ("POST", f"{v1}/orders/test", private("Spot", order_test)),
        ("POST", f"{v1}/orders", private("Spot", create_order)),
        ("DELETE", f"{v1}/orders", private("Spot", cancel_all)),
        ("GET", f"{v1}/orders", private("General", list_orders)),
        ("DELETE", f"{v1}/orders/{{order_id}}", private("Spot", cancel_order)),
        ("GET", f"{v1}/orders/{{order_id}}", private("General", get_order)),
        ("GET", f"{v1}/order/client-order/{{client_oid}}", private("General", get_order)),
        (
            "DELETE",
            f"{v1}/order/client-order/{{client_oid}}",
            private("Spot", cancel_order_by_client),
        ),
        ("POST", f"{hf}/orders/test", private("Spot", order_test)),
        ("POST", f"{hf}/orders", private("Spot", create_order_hf)),
        ("GET", f"{v1}/fills", private("General", list_fills)),
        ("GET", f"{hf}/fills", private("General", list_fills_hf)),
        ("GET", f"{hf}/orders/active", private("General", list_orders_hf_active)),
        ("GET", f"{hf}/orders/done", private("General", list_orders_hf_done)),
        ("GET", f"{hf}/orders/client-order/{{client_oid}}", private("General", get_order_hf)),
        (
            "DELETE",
            f"{hf}/orders/client-order/{{client_oid}}",
            private("Spot", cancel_order_hf_by_client),
        ),
        ("DELETE", f"{hf}/orders/{{order_id}}", private("Spot", cancel_order_hf)),
        ("GET", f"{hf}/orders/{{order_id}}", private("General", get_order_hf)),
    ]
