"""Bybit v5's API gateway as the sandbox plays it: private-endpoint checks (timestamp/recv_window
-> key -> signature over the bytes as received -> IP binding -> expiry -> account ban -> UID rate
limit -> key permission), every business error as HTTP 200 with `retCode` and Bybit's texts, and
how faults and unknown URLs look on the Bybit port. Used by bybit/account.py, market_data.py and
server.py (reference §B, §3.2-§3.5). ⚠ the order of the first three checks is not documented.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.bybit.signing import payload_of, verify
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import ApiError, Venue, client_ip, json_response, venue_of

EXCHANGE = "bybit"
Params = Mapping[str, Any]
PrivateHandler = Callable[[web.Request, SandboxKey, Params], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]

#: `GET /v5/user/query-api` permission groups (docs/v5/user/apikey-info.mdx); a sandbox key's
#: `permissions` holds `Group.Permission` pairs, e.g. `Spot.SpotTrade`, `Wallet.Withdraw`.
GROUPS: dict[str, tuple[str, ...]] = {
    "ContractTrade": ("Order", "Position"),
    "Spot": ("SpotTrade",),
    "Wallet": ("AccountTransfer", "SubMemberTransfer", "Withdraw"),
    "Options": ("OptionsTrade",),
    "Derivatives": ("DerivativesTrade",),
    "CopyTrading": ("CopyTrading",),
    "BlockTrade": ("BlockTrade",),
    "Exchange": ("ExchangeHistory",),
    "NFT": ("NFTQueryProductList",),
    "Affiliate": ("Affiliate",),
    "Earn": ("Earn",),
}
PERMISSIONS: frozenset[str] = frozenset(f"{g}.{p}" for g, ps in GROUPS.items() for p in ps)
#: A key with none of these is a read-only key (`readOnly: 1`).
TRADE_PERMISSIONS: frozenset[str] = frozenset(
    {
        "Spot.SpotTrade",
        "ContractTrade.Order",
        "ContractTrade.Position",
        "Options.OptionsTrade",
        "Derivatives.DerivativesTrade",
        "CopyTrading.CopyTrading",
        "BlockTrade.BlockTrade",
    }
)
SPOT_TRADE = "Spot.SpotTrade"
#: "No ip bound api key will be invalid after 90 days" (create-subuid-apikey.mdx, §3.5).
NO_IP_VALID_DAYS = 90
DEFAULT_RECV_WINDOW = 5000
_DAY_MS = 86_400_000
#: Per-endpoint UID limit shown in X-Bapi-Limit (the sandbox's value for every private route).
UID_LIMIT = 50


def body(ret_code: int, msg: str, result: Any, now_ms: int) -> dict[str, Any]:
    """Every Bybit v5 answer: retCode/retMsg/result/retExtInfo/time (ccxt reads retCode, §C.6)."""
    return {"retCode": ret_code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms}


def ok(result: Any, now_ms: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return json_response(body(0, "OK", result, now_ms), 200, headers)


def err(ret_code: int, msg: str, now_ms: int, headers: Mapping[str, str] | None = None) -> ApiError:
    """A business error: HTTP 200 with the code in the body (docs/v5/error.mdx)."""
    return ApiError(200, body(ret_code, msg, {}, now_ms), headers)


def read_only(key: SandboxKey) -> bool:
    return not (key.permissions & TRADE_PERMISSIONS)


def expires_at_ms(key: SandboxKey) -> int | None:
    """An explicit `expires_in_days`, else Bybit's rule: a key bound to no IP lapses 90 days
    after creation; an IP-bound key is permanent (None)."""
    if key.expires_in_days is not None:
        return key.expires_at_ms()
    if key.ip_whitelist:
        return None
    return key.created_ms + NO_IP_VALID_DAYS * _DAY_MS


def limit_headers(remaining: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-Bapi-Limit": str(UID_LIMIT),
        "X-Bapi-Limit-Status": str(remaining),
        "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
    }


def private(
    permission: str | None, handler: PrivateHandler
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A signed endpoint; `permission` is the key permission it needs (None: any key)."""

    async def checked(request: web.Request) -> web.StreamResponse:
        raw = await request.text() if request.can_read_body else ""
        venue = venue_of(request)
        key = authenticate(venue, request, raw)
        now = venue.now_ms()
        if permission is not None and (permission not in key.permissions or read_only(key)):
            raise err(10005, "Permission denied, please check your API key permissions.", now)
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise err(10001, "request body is not valid json", now) from None
            if not isinstance(parsed, dict):
                raise err(10001, "request body must be a json object", now)
            params.update(parsed)
        response = await handler(request, key, params)
        response.headers.update(limit_headers(UID_LIMIT - 1, now))
        return response

    return checked


def authenticate(venue: Venue, request: web.Request, raw_body: str) -> SandboxKey:
    now = venue.now_ms()
    headers = request.headers
    api_key = headers.get("X-BAPI-API-KEY", "")
    timestamp = headers.get("X-BAPI-TIMESTAMP", "")
    recv_raw = headers.get("X-BAPI-RECV-WINDOW", str(DEFAULT_RECV_WINDOW))
    signature = headers.get("X-BAPI-SIGN", "")
    if not api_key or not timestamp or not signature:
        raise err(10003, "API key is invalid.", now)
    try:
        ts, recv_window = int(timestamp), int(recv_raw)
    except ValueError:
        raise err(10001, "params error: timestamp or recv_window is invalid", now) from None
    # server_time - recv_window <= timestamp < server_time + 1000 (docs/v5/guide.mdx)
    if not now - recv_window <= ts < now + 1000:
        raise err(
            10002,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{recv_window}]",
            now,
        )
    key = venue.keys.get(EXCHANGE, api_key)
    if key is None:
        raise err(10003, "API key is invalid.", now)
    payload = payload_of(request.method, request.raw_path, raw_body)
    if not verify(key.secret_bytes, timestamp, api_key, recv_raw, payload, signature):
        # Bybit quotes what it expected to be signed (the key is in it; clients redact).
        raise err(10004, f"error sign! origin_string[{timestamp}{api_key}{recv_raw}{payload}]", now)
    if not key.ip_allowed(client_ip(request)):
        raise err(10010, "Unmatched IP, please check your API key's bound IP addresses.", now)
    expiry = expires_at_ms(key)
    if expiry is not None and now >= expiry:
        raise err(33004, "Your api key has expired.", now)
    if key.frozen:
        raise err(10008, "User had been banned.", now)
    if venue.faults.rate_limit:
        reset = now + venue.faults.retry_after_s * 1000
        raise err(10006, "Too many visits!", now, limit_headers(0, reset))
    return key


#: Served while `maintenance` is on, so a client can learn why everything else fails.
_MAINTENANCE_OPEN = frozenset({"/v5/market/time", "/v5/system/status"})


def fault_response(
    venue: Venue, request: web.Request, over_budget: bool = False
) -> web.Response | None:
    """Exchange-wide faults as Bybit shows them. Over the IP limit (600 requests / 5 s) Bybit's
    edge answers a bare HTTP 403 (ccxt: RateLimitExceeded, §C.7); the UID limit (`rate_limit`)
    is retCode 10006 on signed calls (authenticate). Maintenance: 10016 ⚠ (text unverified)."""
    f = venue.faults
    now = venue.now_ms()
    if f.maintenance and request.path not in _MAINTENANCE_OPEN:
        return json_response(body(10016, "Server error.", {}, now))
    if over_budget:
        return web.Response(text="access too frequent", status=403, content_type="text/plain")
    if f.http_5xx:
        return web.Response(
            text=f"<html><body><h1>{f.http_5xx} Server Error</h1></body></html>",
            status=f.http_5xx,
            content_type="text/html",
        )
    return None


def not_found(status: int) -> web.Response:
    """An unknown path: HTTP 404 from the edge, no retCode ⚠ (unverified)."""
    return web.Response(
        text="<html><body><h1>404 Not Found</h1></body></html>" if status == 404 else "",
        status=status,
        content_type="text/html",
    )
