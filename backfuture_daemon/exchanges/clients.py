"""The ccxt async client factory: the only place ccxt instances are constructed.

Used by markets.MarketCache and market_data.MarketDataHub (public, credential-free clients) and by
the per-exchange adapters (one client per connection), each describing its client as a
`ClientSpec`. Clients share one aiohttp session and one TLS context, so a thousand connections
cost a thousand small objects, not a thousand connection pools. The session never follows HTTP
redirects (egress.py): signed requests carry the API key.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges.egress import no_redirects
from backfuture_daemon.exchanges.port import ResponseMeta

if TYPE_CHECKING:
    import aiohttp

    from backfuture_daemon.configuration.models import Connection


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """How to build one ccxt client: the ccxt id, URL overrides and options (no credentials)."""

    ccxt_id: str
    urls: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    #: options replaced wholesale after construction (ccxt deep-merges constructor options).
    options_replace: dict[str, Any] = field(default_factory=dict)
    has: dict[str, Any] = field(default_factory=dict)
    #: params for load_markets (e.g. KuCoin `marginables: False`).
    load_markets_params: dict[str, Any] = field(default_factory=dict)
    loopback: bool = False

    @property
    def cache_key(self) -> tuple[str, str]:
        """Public data is shared per (ccxt id, endpoint): one copy for every connection."""
        return (self.ccxt_id, repr(sorted(_flatten(self.urls))))


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", str(v)))
    return out


class ClientFactory:
    """Builds ccxt async clients for specs; owns the shared aiohttp session (close() it)."""

    def __init__(self, timeout: float = 10.0, *, pool_limit: int = 200) -> None:
        # ccxt logs every request's headers (API key, signature) at DEBUG: never let a
        # debug-level root logger print them.
        logging.getLogger("ccxt").setLevel(max(logging.getLogger("ccxt").level, logging.INFO))
        self.timeout = timeout
        self._pool_limit = pool_limit
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None

    def _shared(self) -> tuple[aiohttp.ClientSession, ssl.SSLContext]:
        if self._session is None or self._ssl is None:
            import aiohttp
            import certifi

            self._ssl = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(
                ssl=self._ssl, limit=self._pool_limit, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, trace_configs=[no_redirects()]
            )
        return self._session, self._ssl

    def __call__(self, spec: ClientSpec, connection: Connection | None) -> Any:
        import ccxt.async_support as ccxt_async

        session, ssl_context = self._shared()
        config: dict[str, Any] = {
            "timeout": int(self.timeout * 1000),
            # Real exchanges: keep ccxt's client-side throttle so a key is never banned.
            # The loopback sandbox has no limits worth protecting, and tests need speed.
            "enableRateLimit": not spec.loopback,
            "session": session,
            "options": dict(spec.options),
        }
        if spec.urls:
            config["urls"] = {"api": spec.urls}
        if spec.has:
            config["has"] = dict(spec.has)
        if connection is not None:
            config["apiKey"] = connection.api_key.get_secret_value()
            config["secret"] = connection.api_secret.get_secret_value()
            if connection.passphrase is not None:
                config["password"] = connection.passphrase.get_secret_value()
        client = getattr(ccxt_async, spec.ccxt_id)(config)
        for key, value in spec.options_replace.items():
            client.options[key] = value
        _record_responses(client)
        client.ssl_context = ssl_context
        # ccxt's close() sleeps 250 ms for websocket teardown; these REST clients have none.
        client.timeout_on_exit = 0
        return client

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


_META = "_backfuture_last_response"


def _record_responses(client: Any) -> None:
    """Keep the last response's status and rate-limit headers on the client.

    ccxt's exception message carries the HTTP status only when it found no exchange code, and
    never the headers; `on_rest_response` is ccxt's per-response hook (it returns the body).
    """
    original = client.on_rest_response

    def hook(
        code: Any, reason: Any, url: Any, method: Any, headers: Any, body: Any, *rest: Any
    ) -> Any:
        setattr(client, _META, ResponseMeta(int(code), retry_after(headers or {})))
        return original(code, reason, url, method, headers, body, *rest)

    client.on_rest_response = hook


def take_response(client: Any) -> ResponseMeta:
    """The last recorded response of `client` (empty if none since the last take), forgotten."""
    meta = getattr(client, _META, None) or ResponseMeta()
    setattr(client, _META, None)
    return meta


def retry_after(headers: dict[str, Any]) -> float | None:
    """Seconds to wait from `Retry-After` (delta-seconds form), else KuCoin's
    `gw-ratelimit-reset` (milliseconds); None when neither is usable."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    for name, scale in (("retry-after", 1.0), ("gw-ratelimit-reset", 0.001)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            seconds = float(value.strip()) * scale
        except ValueError:
            continue  # an HTTP-date: not worth a clock here; the backoff still applies
        if seconds >= 0:
            return seconds
    return None
