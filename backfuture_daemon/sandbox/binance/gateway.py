"""Binance's spot API gateway as the sandbox plays it: SIGNED-endpoint checks (key -> signature
over the bytes as received -> timestamp/recvWindow -> IP whitelist -> key permission) with
Binance's real codes, bodies and HTTP statuses, and how faults and unknown URLs look on the
Binance port. Used by binance/spot.py, market_data.py and server.py (reference §B, §1.2, §1.4).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy, MultiMapping

from backfuture_daemon.sandbox.binance.signing import split_signed, verify
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.venue import ApiError, Venue, client_ip, json_response, venue_of

EXCHANGE = "binance"
Params = MultiMapping[str]
PrivateHandler = Callable[[web.Request, SandboxKey, Params], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]

#: The key-permission flags `GET /sapi/v1/account/apiRestrictions` reports; a sandbox key's
#: `permissions` holds the ones that are true (reference §1.2).
FLAGS: tuple[str, ...] = (
    "enableReading",
    "enableSpotAndMarginTrading",
    "enableFutures",
    "enableMargin",
    "enableWithdrawals",
    "enableInternalTransfer",
    "permitsUniversalTransfer",
    "enableVanillaOptions",
    "enablePortfolioMarginTrading",
    "enableFixApiTrade",
    "enableFixReadOnly",
)
TRADE = "enableSpotAndMarginTrading"
#: Keys without an IP restriction lose "Enable Spot & Margin Trading" 30 days after creation
#: (Binance announcement 2021-07-08, reference §1.5).
UNRESTRICTED_TRADING_DAYS = 30
_DAY_MS = 86_400_000
_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{64}")
MAX_RECV_WINDOW = 60_000

INVALID_PERMS = "Invalid API-key, IP, or permissions for action."


def err(code: int, msg: str, status: int = 400) -> ApiError:
    return ApiError(status, {"code": code, "msg": msg})


def trading_expires_ms(key: SandboxKey) -> int | None:
    """When an unrestricted key's trading permission lapses; None for IP-restricted keys or
    keys that never had it."""
    if key.ip_whitelist or TRADE not in key.permissions:
        return None
    return key.created_ms + UNRESTRICTED_TRADING_DAYS * _DAY_MS


def has_permission(key: SandboxKey, flag: str, now_ms: int) -> bool:
    if flag not in key.permissions:
        return False
    if flag == TRADE:
        expires = trading_expires_ms(key)
        return expires is None or now_ms < expires
    return True


def private(flag: str | None, handler: PrivateHandler) -> Callable[[web.Request], Awaitable[Any]]:
    """A SIGNED (TRADE / USER_DATA) endpoint: `flag` is the key permission it needs."""

    async def checked(request: web.Request) -> web.StreamResponse:
        body = await request.text() if request.can_read_body else ""
        key = authenticate(venue_of(request), request, body, flag)
        params: MultiDict[str] = MultiDict(request.query)
        params.extend(parse_qsl(body, keep_blank_values=True))
        return await handler(request, key, MultiDictProxy(params))

    return checked


def authenticate(venue: Venue, request: web.Request, body: str, flag: str | None) -> SandboxKey:
    now = venue.now_ms()
    api_key = request.headers.get("X-MBX-APIKEY", "")
    key = venue.keys.get(EXCHANGE, api_key) if api_key else None
    if key is None:
        if not _KEY_FORMAT.fullmatch(api_key):
            raise err(-2014, "API-key format invalid.", 401)
        # A well-formed key Binance does not know (deleted, or created on the testnet): field
        # reports show -2008 (ccxt#11045, ccxt#16777, freqtrade#11401) ⚠ not in errors.md.
        raise err(-2008, "Invalid Api-Key ID.", 401)
    parts = split_signed(request.raw_path, body)
    if parts is None or not parts[1]:
        raise err(
            -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
        )
    if not verify(key.secret_bytes, parts[0], parts[1]):
        raise err(-1022, "Signature for this request is not valid.")
    params = dict(request.query)
    params.update(parse_qsl(body, keep_blank_values=True))
    try:
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise err(
            -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        ) from None
    try:
        recv_window = int(params.get("recvWindow", "5000"))
    except ValueError:
        raise err(-1100, "Illegal characters found in parameter 'recvWindow'.") from None
    if recv_window > MAX_RECV_WINDOW:
        raise err(-1131, "recvWindow must be less than 60000")
    if timestamp >= now + 1000:
        raise err(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - timestamp > recv_window:
        raise err(-1021, "Timestamp for this request is outside of the recvWindow.")
    ip = client_ip(request)
    refused = INVALID_PERMS
    if request.path.startswith("/fapi/"):
        # USDⓈ-M futures name the caller's address (ccxt#14993; reference §1.4).
        refused = f"{INVALID_PERMS[:-1]}, request ip: {ip}"
    if not key.ip_allowed(ip):
        raise err(-2015, refused, 401)
    if flag is not None and not has_permission(key, flag, now):
        raise err(-2015, refused, 401)
    return key


#: Served while `maintenance` is on, so a client can learn why everything else answers 503.
_MAINTENANCE_OPEN = frozenset({"/sapi/v1/system/status", "/api/v3/time", "/api/v3/ping"})


#: Requests an IP may send inside a 429's Retry-After before Binance bans it (418): "failing to
#: back off after receiving 429s will result in an automated IP ban" (rest-api.md, LIMITS).
BAN_AFTER_IGNORED_429 = 3
#: Bans scale from 2 minutes to 3 days on Binance; the sandbox always bans for the shortest.
BAN_SECONDS = 120


@dataclass(slots=True)
class _Strikes:
    """One venue's 429 bookkeeping per IP: until when it must wait, how often it did not."""

    venue: Venue
    wait_until: dict[str, float] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)
    banned_until: dict[str, float] = field(default_factory=dict)


_STRIKES: dict[int, _Strikes] = {}


def _strikes(venue: Venue) -> _Strikes:
    state = _STRIKES.get(id(venue))
    if state is None or state.venue is not venue:
        state = _STRIKES[id(venue)] = _Strikes(venue)
    return state


def _weight_error(status: int, msg: str, retry_after: int) -> web.Response:
    return json_response({"code": -1003, "msg": msg}, status, {"Retry-After": str(retry_after)})


def _rate_limited(venue: Venue, ip: str) -> web.Response:
    """429 with Retry-After; an IP that keeps calling inside its Retry-After is banned: 418."""
    state, now = _strikes(venue), time.monotonic()
    banned = state.banned_until.get(ip, 0.0)
    if banned > now:
        return _ban(int(banned - now) + 1)
    if state.wait_until.get(ip, 0.0) > now:
        state.ignored[ip] = state.ignored.get(ip, 0) + 1
        if state.ignored[ip] > BAN_AFTER_IGNORED_429:
            state.banned_until[ip] = now + BAN_SECONDS
            state.ignored[ip] = 0
            return _ban(BAN_SECONDS)
    else:
        state.ignored[ip] = 0
    retry = venue.faults.retry_after_s
    state.wait_until[ip] = now + retry
    return _weight_error(
        429,
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
        retry,
    )


def _ban(seconds: int) -> web.Response:
    until = int(time.time() * 1000) + seconds * 1000
    return _weight_error(
        418,
        f"Way too much request weight used; IP banned until {until}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
        seconds,
    )


def banned(venue: Venue, ip: str) -> bool:
    return _strikes(venue).banned_until.get(ip, 0.0) > time.monotonic()


def fault_response(
    venue: Venue, request: web.Request, over_budget: bool = False
) -> web.Response | None:
    """Exchange-wide faults as Binance shows them (errors.md; reference §1.4). An IP ban (418)
    outlives the rate-limit fault that caused it, as on Binance."""
    f = venue.faults
    ip = client_ip(request)
    if f.maintenance and request.path not in _MAINTENANCE_OPEN:
        return json_response(
            {
                "code": -1008,
                "msg": "Server is currently overloaded with other requests. "
                "Please try again in a few minutes.",
            },
            503,
        )
    if f.rate_limit or over_budget or banned(venue, ip):
        return _rate_limited(venue, ip)
    if f.http_5xx:
        return web.Response(
            text=f"<html><body><h1>{f.http_5xx} Server Error</h1></body></html>",
            status=f.http_5xx,
            content_type="text/html",
        )
    return None


def not_found(status: int) -> web.Response:
    """Binance answers an unknown path with an empty-bodied 404 (HTML from the edge) ⚠."""
    return web.Response(
        text="<html><body><h1>Not Found</h1></body></html>" if status == 404 else "",
        status=status,
        content_type="text/html",
    )
