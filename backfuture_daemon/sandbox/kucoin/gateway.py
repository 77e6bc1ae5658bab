"""KuCoin's API gateway as the sandbox plays it, shared by the spot and futures ports: the auth
checks in KuCoin's order (headers -> key -> passphrase -> timestamp +-5 s -> signature -> IP ->
account frozen -> permission) with its real codes, HTTP statuses and bodies, the response envelope,
and how faults and unknown URLs look. Used by spot.py, futures.py, server.py (reference §4, §6, §9).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox import signing
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import (
    BODY,
    ApiError,
    Venue,
    client_ip,
    json_response,
    venue_of,
)

Handler = Callable[[web.Request, SandboxKey], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


_SKEW_MS = 5_000
_AUTH_HEADERS = ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")


def fail(code: str, msg: str, status: int = 400) -> ApiError:
    return ApiError(status, {"code": code, "msg": msg})


def ok(data: Any) -> web.Response:
    return json_response({"code": "200000", "data": data})


_V1_V2 = "V1 & V2 API keys are no longer supported by this API. Please create a V3 API key."


def mask_ip(ip: str) -> str:
    """KuCoin shows whitelisted IPs as first and last octet only: 203.**.154."""
    parts = ip.split(".")
    return f"{parts[0]}.**.{parts[-1]}" if len(parts) == 4 else ip


def private(scope: str, handler: Handler) -> Callable[[web.Request], Awaitable[Any]]:
    async def checked(request: web.Request) -> web.StreamResponse:
        venue = venue_of(request)
        body = await request.text() if request.can_read_body else ""
        key = authenticate(venue, request, body, scope)
        request[BODY] = body
        return await handler(request, key)

    return checked


def authenticate(venue: Venue, request: web.Request, body: str, scope: str) -> SandboxKey:
    h = request.headers
    if not all(h.get(name) for name in _AUTH_HEADERS):
        raise fail("400001", "Please check the URL of your request.", 401)
    key = venue.keys.get("kucoin", h["KC-API-KEY"])
    if key is None:
        raise fail("400003", "KC-API-KEY does not exist.", 401)
    if key.api_version < 2:
        raise fail("400008", _V1_V2, 401)
    if h.get("KC-API-KEY-VERSION") not in ("2", "3"):
        raise fail("400009", "Invalid KC-API-KEY-VERSION.", 401)
    assert key.passphrase is not None
    if not signing.verify_kucoin_passphrase(
        key.secret_bytes, key.passphrase, h["KC-API-PASSPHRASE"]
    ):
        raise fail("400004", "Invalid KC-API-PASSPHRASE.", 401)
    timestamp = h["KC-API-TIMESTAMP"]
    try:
        skew = abs(venue.now_ms() - int(timestamp))
    except ValueError:
        skew = _SKEW_MS + 1
    if skew > _SKEW_MS:
        raise fail("400002", "Invalid KC-API-TIMESTAMP.", 401)
    endpoint = signing.kucoin_endpoint(request.raw_path)
    if not signing.verify_kucoin(
        key.secret_bytes, timestamp, request.method, endpoint, body, h["KC-API-SIGN"]
    ):
        raise fail("400005", "Invalid KC-API-SIGN.", 401)
    ip = client_ip(request)
    if not key.ip_allowed(ip):
        raise fail("400006", f"Invalid request IP, the current client IP is: {ip}", 403)
    if key.frozen:
        raise fail("411100", "User are frozen", 403)
    if scope not in key.permissions:
        raise fail("400007", "Access denied, require more permission.", 403)
    return key


def parse_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(request[BODY] or "{}")
    except ValueError:
        raise fail("400100", "Parameter Error") from None
    if not isinstance(body, dict):
        raise fail("400100", "Parameter Error")
    return body


async def timestamp(request: web.Request) -> web.Response:
    return json_response({"code": "200000", "msg": "success", "data": venue_of(request).now_ms()})


async def status(request: web.Request) -> web.Response:
    down = venue_of(request).faults.maintenance
    return ok({"status": "close" if down else "open", "msg": "maintenance" if down else ""})


def fault_response(
    venue: Venue, request: web.Request, over_budget: bool = False
) -> web.Response | None:
    f = venue.faults
    if f.maintenance and request.path != "/api/v1/status":
        return web.Response(
            text="<html><body><h1>503 Service Temporarily Unavailable</h1>"
            "<p>System maintenance</p></body></html>",
            status=503,
            content_type="text/html",
        )
    if f.rate_limit or over_budget:
        return json_response(
            {"code": "429000", "msg": "Too many requests. System-level rate limit exceeded."},
            429,
            {
                "Retry-After": str(f.retry_after_s),
                "gw-ratelimit-limit": "4000",
                "gw-ratelimit-remaining": "0",
                "gw-ratelimit-reset": str(f.retry_after_s * 1000),
            },
        )
    if f.http_5xx:
        if f.http_5xx == 500:
            return json_response({"code": "500000", "msg": "Internal Server Error"}, 500)
        return web.Response(
            text=f"<html><body><h1>{f.http_5xx} Server Error</h1></body></html>",
            status=f.http_5xx,
            content_type="text/html",
        )
    return None


def not_found(status: int) -> web.Response:
    if status == 405:
        return json_response({"code": "405", "msg": "Method Not Allowed"}, 405)
    return json_response({"code": "404000", "msg": "Url Not Found"}, 404)
