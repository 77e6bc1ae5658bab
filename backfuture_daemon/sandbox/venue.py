"""What every sandbox venue (one listening exchange API) shares: its state object, the typed
app key handlers use to reach it, the error-to-response exception, and JSON responses.

Used by the mexc/ and kucoin/ handlers and server.py (wiring, middleware).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.engine import Engine
from backfuture_daemon.sandbox.faults import Faults
from backfuture_daemon.sandbox.keys import KeyStore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: (venue, request, over the rate budget) -> the injected answer, or None to serve normally
FaultResponder = Callable[["Venue", web.Request, bool], "web.Response | None"]


@dataclass(slots=True)
class Venue:
    """One exchange API on one port: its faults, clock, keys, market and request counters."""

    name: str  #: mexc | kucoin | kucoinfutures
    exchange: str  #: whose keys it accepts: mexc | kucoin
    keys: KeyStore
    engine: Engine
    faults: Faults = field(default_factory=Faults)
    counts: Counter[str] = field(default_factory=Counter)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    fault_responder: FaultResponder | None = None
    #: serialised static answers (market lists): built once, so a list costs no work per request
    cache: dict[str, bytes] = field(default_factory=dict)
    not_found: Callable[[int], web.Response] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _window: tuple[int, int] = (0, 0)  #: (second, requests in it) for rate_limit_per_s

    def over_budget(self) -> bool:
        """Count one request against `faults.rate_limit_per_s` (a fixed one-second window)."""
        limit = self.faults.rate_limit_per_s
        if not limit:
            return False
        second = int(time.monotonic())
        start, used = self._window
        used = used + 1 if start == second else 1
        self._window = (second, used)
        return used > limit

    def now_ms(self) -> int:
        return self.faults.now_ms()

    def next_id(self) -> int:
        return next(self._ids)


VENUE: web.AppKey[Venue] = web.AppKey("venue", Venue)
#: The raw request body, read once by the auth check (it is part of what was signed).
BODY: web.RequestKey[str] = web.RequestKey("body", str)


def venue_of(request: web.Request) -> Venue:
    return request.app[VENUE]


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def cached(venue: Venue, name: str, build: Callable[[], Any]) -> bytes:
    """`build()` as compact JSON bytes, computed once per venue."""
    body = venue.cache.get(name)
    if body is None:
        body = venue.cache[name] = json.dumps(build(), separators=(",", ":")).encode()
    return body


def raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


class ApiError(Exception):
    """Raised by a handler or an auth check; the middleware renders it as the exchange would."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers

    def response(self) -> web.Response:
        if isinstance(self.body, str):
            return web.Response(
                text=self.body, status=self.status, content_type="text/html", headers=self.headers
            )
        return json_response(self.body, self.status, self.headers)


def normalise_ip(ip: str) -> str:
    """An IPv4-mapped IPv6 address (how a dual-stack listener sees IPv4 callers) as plain IPv4,
    the form exchanges show and whitelists hold; anything else unchanged."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return ip


def client_ip(request: web.Request) -> str:
    """The caller's address as the TCP connection shows it: the only source of truth."""
    return normalise_ip(request.remote or "")
