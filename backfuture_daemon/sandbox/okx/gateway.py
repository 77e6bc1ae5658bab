"""OKX's v5 gateway as the sandbox plays it, for okx/account.py, trading.py and server.py: the
private checks in order (headers -> timestamp format, ±30 s -> key -> live environment ->
passphrase -> signature over the bytes as received -> IP -> blocked -> permission) with OKX's
real codes, bodies and statuses, the `"code":"0"` envelope, per-key account mode (acctLv), and
faults and unknown URLs as OKX shows them (reference §B, §C.5-6, §2.1-§2.4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.okx.signing import parse_timestamp, verify
from backfuture_daemon.sandbox.venue import (
    BODY,
    ApiError,
    Venue,
    client_ip,
    json_response,
    venue_of,
)

EXCHANGE = "okx"
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]
PrivateHandler = Callable[[web.Request, SandboxKey], Awaitable[web.StreamResponse]]

#: The key's `perm` values as `GET /api/v5/account/config` lists them (reference §2.2).
PERMS: tuple[str, ...] = ("read_only", "withdraw", "trade")
READ, TRADE, WITHDRAW = "read_only", "trade", "withdraw"
#: Account modes: 1 Spot, 2 Spot and futures, 3 Multi-currency margin, 4 Portfolio margin.
ACCOUNT_LEVELS: tuple[str, ...] = ("1", "2", "3", "4")
#: ⚠ OKX's default for a new account is not documented here; Spot and futures mode keeps a
#: default key usable for both markets (set "1" to play a Spot-mode account).
DEFAULT_ACCOUNT_LEVEL = "2"
#: ±30 s ⚠ (third-party summaries of OKX's docs, reference §B).
WINDOW_MS = 30_000
_HEADERS = (
    ("OK-ACCESS-KEY", "50103", 'Request header "OK-ACCESS-KEY" cannot be empty.'),
    ("OK-ACCESS-PASSPHRASE", "50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'),
    ("OK-ACCESS-SIGN", "50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.'),
    ("OK-ACCESS-TIMESTAMP", "50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'),
)
NO_PERMISSION = "This API key doesn't have permission to use this function"


@dataclass(slots=True)
class OkxState:
    """What OKX keeps per account beyond the shared key store: the account mode (acctLv)."""

    account_levels: dict[str, str] = field(default_factory=dict)

    def level(self, key: SandboxKey) -> str:
        return self.account_levels.get(key.api_key) or str(
            getattr(key, "acct_lv", None) or DEFAULT_ACCOUNT_LEVEL
        )


OKX_STATE: web.AppKey[OkxState] = web.AppKey("okx_state", OkxState)


def state_of(request: web.Request) -> OkxState:
    state = request.app.get(OKX_STATE)
    if state is None:
        state = OkxState()
    return state


def fail(code: str, msg: str, status: int = 400) -> ApiError:
    return ApiError(status, {"msg": msg, "code": code})


def ok(data: Any) -> web.Response:
    """OKX's success envelope: ccxt treats a body without `"code":"0"` as an error (§C.6)."""
    return json_response({"code": "0", "msg": "", "data": data})


def private(perm: str | None, handler: PrivateHandler) -> Callable[[web.Request], Awaitable[Any]]:
    """A signed endpoint needing the key permission `perm` (None: any valid key)."""

    async def checked(request: web.Request) -> web.StreamResponse:
        body = await request.text() if request.can_read_body else ""
        key = authenticate(venue_of(request), request, body, perm)
        request[BODY] = body
        return await handler(request, key)

    return checked


def authenticate(venue: Venue, request: web.Request, body: str, perm: str | None) -> SandboxKey:
    h = request.headers
    for name, code, msg in _HEADERS:
        if not h.get(name):
            raise fail(code, msg, 401)
    sent = parse_timestamp(h["OK-ACCESS-TIMESTAMP"])
    if sent is None:
        raise fail("50112", "Invalid OK-ACCESS-TIMESTAMP", 401)
    if abs(venue.now_ms() - sent) > WINDOW_MS:
        raise fail("50102", "Timestamp request expired", 401)
    key = venue.keys.get(EXCHANGE, h["OK-ACCESS-KEY"])
    if key is None:
        raise fail("50111", "Invalid OK-ACCESS-KEY", 401)
    if h.get("x-simulated-trading") == "1":
        # Sandbox keys play live-trading keys; a demo-trading request names the other one.
        raise fail("50101", "APIKey does not match current environment.", 401)
    if h["OK-ACCESS-PASSPHRASE"] != (key.passphrase or ""):
        raise fail("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
    target = request.raw_path
    if not verify(
        key.secret_bytes, h["OK-ACCESS-TIMESTAMP"], request.method, target, body,
        h["OK-ACCESS-SIGN"],
    ):  # fmt: skip
        raise fail("50113", "Invalid signature", 401)
    ip = client_ip(request)
    if not key.ip_allowed(ip):
        raise fail("50110", f"Your IP {ip} is not included in your API key's IP whitelist.", 401)
    if key.frozen:
        raise fail("50007", "Account blocked.", 200)
    if perm is not None and perm not in key.permissions:
        # ⚠ HTTP status of 50120 unverified (reference §2.4).
        raise fail("50120", NO_PERMISSION, 401)
    return key


#: Served during maintenance, so a client can learn why everything else answers 503.
MAINTENANCE_OPEN = frozenset({"/api/v5/system/status", "/api/v5/public/time"})


def fault_response(
    venue: Venue, request: web.Request, over_budget: bool = False
) -> web.Response | None:
    """Exchange-wide faults as OKX shows them (reference §2.4): 503 50001 under maintenance,
    429 50011 (no Retry-After ⚠), 500 50026, other 5xx from the edge as HTML."""
    f = venue.faults
    if f.maintenance and request.path not in MAINTENANCE_OPEN:
        return json_response(
            {"msg": "Service temporarily unavailable. Please try again later.", "code": "50001"},
            503,
        )
    if f.rate_limit or over_budget:
        return json_response({"msg": "Too Many Requests", "code": "50011"}, 429)
    if f.http_5xx == 500:
        return json_response({"msg": "System error. Try again later.", "code": "50026"}, 500)
    if f.http_5xx:
        return web.Response(
            text=f"<html><body><h1>{f.http_5xx} Server Error</h1></body></html>",
            status=f.http_5xx,
            content_type="text/html",
        )
    return None


def not_found(status: int) -> web.Response:
    if status == 405:
        return json_response({"msg": "Invalid request method.", "code": "50115"}, 405)
    return web.Response(
        text="<html><body><h1>404 Not Found</h1></body></html>",
        status=404,
        content_type="text/html",
    )
