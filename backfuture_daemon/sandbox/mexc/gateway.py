"""MEXC's spot API gateway as the sandbox plays it: the auth checks in MEXC's order (key ->
signature over the raw query -> timestamp window -> IP whitelist -> account state -> scope) with
MEXC's real codes and bodies, and how faults and unknown URLs look on the MEXC port (spot and
contract paths). Used by mexc/spot.py, market_data.py and server.py (reference §2, §5, §9).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from backfuture_daemon.sandbox import signing
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import (
    ApiError,
    Venue,
    client_ip,
    json_response,
    venue_of,
)

Params = MultiMapping[str]
PrivateHandler = Callable[[web.Request, SandboxKey, Params], Awaitable[web.StreamResponse]]


Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


def err(code: int, msg: str, status: int = 400) -> ApiError:
    return ApiError(status, {"code": code, "msg": msg})


def private(scope: str | None, handler: PrivateHandler) -> Callable[[web.Request], Awaitable[Any]]:
    async def checked(request: web.Request) -> web.StreamResponse:
        venue = venue_of(request)
        key = authenticate(venue, request, scope)
        return await handler(request, key, request.query)

    return checked


def authenticate(venue: Venue, request: web.Request, scope: str | None) -> SandboxKey:
    now = venue.now_ms()
    api_key = request.headers.get("X-MEXC-APIKEY", "")
    if not api_key:
        raise err(400, "api key required")
    key = venue.keys.get("mexc", api_key)
    if key is None or key.expired(now):
        raise err(10072, "Api key info invalid")
    parts = signing.split_mexc_spot_query(request.raw_path)
    if parts is None or not parts[1]:
        raise err(
            700004,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        )
    if not signing.verify_mexc_spot(key.secret_bytes, parts[0], parts[1]):
        raise err(700002, "Signature for this request is not valid.")
    params = request.query
    try:
        recv_window = int(params.get("recvWindow", "5000"))
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise err(700003, "Timestamp for this request is outside of the recvWindow.") from None
    if recv_window > 60000:
        raise err(700005, "recvWindow must less than 60000")
    if not (timestamp < now + 1000 and now - timestamp <= recv_window):
        raise err(700003, "Timestamp for this request is outside of the recvWindow.")
    ip = client_ip(request)
    if not key.ip_allowed(ip):
        raise err(700006, f"IP [{ip}] not in the ip white list")
    if key.frozen:
        raise err(60005, "your account is abnormal")
    if scope is not None and scope not in key.permissions:
        raise err(700007, "No permission to access the endpoint.")
    return key


def fault_response(
    venue: Venue, request: web.Request, over_budget: bool = False
) -> web.Response | None:
    """Exchange-wide faults as MEXC shows them (contract paths get the contract envelope)."""
    f = venue.faults
    contract = request.path.startswith("/api/v1/")

    def body(code: int, msg: str) -> dict[str, Any]:
        if contract:
            return {"success": False, "code": code, "message": msg}
        return {"code": code, "msg": msg}

    if f.maintenance:
        return json_response(body(801, "System under maintenance"), status=503)
    if f.rate_limit or over_budget:
        code, msg = (510, "Requests are too frequent!") if contract else (429, "Too Many Requests")
        return json_response(body(code, msg), 429, {"Retry-After": str(f.retry_after_s)})
    if f.http_5xx:
        if f.http_5xx == 503:
            return json_response(body(503, "service not available, please try again"), 503)
        return web.Response(
            text=f"<html><body><h1>{f.http_5xx} Server Error</h1></body></html>",
            status=f.http_5xx,
            content_type="text/html",
        )
    return None


def not_found(status: int) -> web.Response:
    return json_response(
        {"code": status, "msg": "Not Found" if status == 404 else "Method Not Allowed"}, status
    )
