"""The sandbox's loopback-only admin routes (`/__sandbox/...`), mounted on every venue port by
server.py: faults, keys, the market under test control, order audits and request counters. They
exist for tests, benchmarks and the demo; the middleware in server.py refuses any caller that
`is_loopback` rejects.
"""

from __future__ import annotations

import ipaddress
import json
import math
from typing import TYPE_CHECKING, Any

from aiohttp import web

from backfuture_daemon.errors import ConfigError
from backfuture_daemon.sandbox.keys import parse_key
from backfuture_daemon.sandbox.venue import VENUE, json_response

if TYPE_CHECKING:
    from backfuture_daemon.sandbox.server import Sandbox

PREFIX = "/__sandbox/"


def is_loopback(ip: str | None) -> bool:
    """127.0.0.0/8, ::1, and their IPv4-mapped form (a dual-stack listener's view of 127.0.0.1)."""
    try:
        addr = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


class BadBody(Exception):
    """An admin request body that is not what the route takes; the message says why."""


_MAX_DEPTH = 8  #: admin bodies are flat objects with small lists inside ("path": [[t, p], ...])


def _no_constant(name: str) -> Any:
    raise BadBody(f"body: {name} is not a number the sandbox takes (JSON has no {name})")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadBody(f"body: {text[:20]} is not a finite number")
    return value


def _bracket_depth(text: str) -> int:
    """Deepest [ / { nesting of raw JSON text, strings skipped: checked before parsing so a
    hostile body never reaches the recursive parser."""
    if text.count("[") + text.count("{") <= _MAX_DEPTH:
        return 0  # cannot nest deeper than the limit: skip the character walk
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object of finite numbers nested at most `_MAX_DEPTH` deep, or BadBody
    with a message that says which rule it broke (never quoting the body)."""
    text = await request.text()
    if _bracket_depth(text) > _MAX_DEPTH:
        raise BadBody(f"body: JSON nested deeper than {_MAX_DEPTH} levels")
    try:
        body = json.loads(text or "{}", parse_constant=_no_constant, parse_float=_finite_float)
    except BadBody:
        raise
    except (ValueError, RecursionError):
        raise BadBody("body must be a JSON object (not valid JSON)") from None
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    return body


def _error(message: str, status: int = 400) -> web.Response:
    return json_response({"error": message}, status)


class AdminRoutes:
    """The admin handlers of one Sandbox (shared by all of its venue apps)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(PREFIX + "faults", self.get_faults)
        app.router.add_post(PREFIX + "faults", self.set_faults)
        app.router.add_post(PREFIX + "keys", self.add_key)
        app.router.add_post(PREFIX + "keys/{api_key}", self.update_key)
        app.router.add_get(PREFIX + "market", self.get_market)
        app.router.add_post(PREFIX + "market", self.set_market)
        app.router.add_get(PREFIX + "orders", self.orders)
        app.router.add_get(PREFIX + "requests", self.requests)
        app.router.add_delete(PREFIX + "requests", self.reset_requests)

    async def get_faults(self, request: web.Request) -> web.Response:
        return json_response(request.app[VENUE].faults.to_dict())

    async def set_faults(self, request: web.Request) -> web.Response:
        venue = request.app[VENUE]
        try:
            body = await json_object(request)
            if body.pop("reset", False):
                venue.faults.reset()
            venue.faults.update(body)
        except (BadBody, ValueError) as e:
            return _error(str(e))
        return json_response({"exchange": venue.exchange, "faults": venue.faults.to_dict()})

    async def update_key(self, request: web.Request) -> web.Response:
        try:
            body = await json_object(request)
            key = self.sandbox.update_key(request.match_info["api_key"], **body)
        except KeyError:
            return _error("no such sandbox key", 404)
        except (BadBody, ValueError) as e:
            return _error(str(e))
        return json_response(
            {
                "exchange": key.exchange,
                "permissions": sorted(key.permissions),
                "ip_whitelist": list(key.ip_whitelist),
                "frozen": key.frozen,
                "expires_in_days": key.expires_in_days,
            }
        )

    async def add_key(self, request: web.Request) -> web.Response:
        """Add (or replace) a key from a keys-file entry."""
        try:
            key = parse_key(await json_object(request), file="POST /__sandbox/keys")
        except BadBody as e:
            return _error(str(e))
        except ConfigError as e:
            return _error(str(e))
        self.sandbox.add_key(key)
        return json_response({"exchange": key.exchange, "added": True})

    async def requests(self, request: web.Request) -> web.Response:
        per_venue = self.sandbox.request_counts_by_venue()
        total = sum(sum(c.values()) for c in per_venue.values())
        return json_response({"total": total, "venues": per_venue})

    async def reset_requests(self, request: web.Request) -> web.Response:
        self.sandbox.reset_request_counts()
        return json_response({"total": 0})

    async def get_market(self, request: web.Request) -> web.Response:
        """`GET /__sandbox/market?symbol=BTC/USDT`: mode (walk|hold|path), price now, plan."""
        try:
            return json_response(self.sandbox.market_state(request.query.get("symbol", "")))
        except ValueError as e:
            return _error(str(e))

    async def set_market(self, request: web.Request) -> web.Response:
        """`POST /__sandbox/market` with {"symbol", one of "price" | "path" | "resume": true}."""
        try:
            return json_response(self.sandbox.control_market(await json_object(request)))
        except (BadBody, ValueError) as e:
            return _error(str(e))

    async def orders(self, request: web.Request) -> web.Response:
        """`GET /__sandbox/orders?api_key=K`: every order ever accepted for the key (audits)."""
        api_key = request.query.get("api_key", "")
        if not api_key:
            return _error("api_key: required (GET /__sandbox/orders?api_key=...)")
        try:
            return json_response(self.sandbox.orders_of(api_key))
        except KeyError:
            return _error("no such sandbox key", 404)
