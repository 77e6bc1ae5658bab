"""Where signed requests may go: the exchange client session never follows HTTP redirects.

Installed by clients.ClientFactory on its shared aiohttp session. A signed request carries the API
key in its headers (MEXC `X-MEXC-APIKEY`, KuCoin `KC-API-KEY`), and aiohttp would repeat those on a
redirect to any origin; a redirecting endpoint (a wrong port, a hijacked host) gets nothing.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import aiohttp


class RedirectRefused(ConnectionError):
    """An exchange endpoint answered with a redirect; requests (and keys) never follow one.

    Not an aiohttp error on purpose: ccxt turns those into a bare ExchangeError, while this
    message (the target host, never its URL) reaches the connection test's reason.
    """


async def _refuse_redirect(
    _session: aiohttp.ClientSession,
    _ctx: SimpleNamespace,
    params: aiohttp.TraceRequestRedirectParams,
) -> None:
    target = params.response.headers.get("Location", "")
    host = urlsplit(target).netloc.rpartition("@")[2][:80] or "the same host"
    raise RedirectRefused(
        f"HTTP {params.response.status} redirect to {host} refused: requests with API keys "
        "are never sent to another URL; check the connection's endpoint"
    )


def no_redirects() -> aiohttp.TraceConfig:
    """A trace config that aborts a request at its first redirect, before it is followed."""
    import aiohttp

    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(_refuse_redirect)
    return trace
