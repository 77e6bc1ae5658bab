"""The ccxt async client factory: the only place ccxt instances are constructed.

Used by markets.MarketCache (public, credential-free market loaders) and by the per-exchange
adapters (one client per connection). Clients share one aiohttp session and one TLS context, so a
thousand connections cost a thousand small objects, not a thousand connection pools.
The session never follows HTTP redirects (egress.py): signed requests carry the API key.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges.adapter import ClientSpec
from backfuture_daemon.exchanges.egress import no_redirects

if TYPE_CHECKING:
    import aiohttp

    from backfuture_daemon.configuration.models import Connection


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
        client.ssl_context = ssl_context
        # ccxt's close() sleeps 250 ms for websocket teardown; these REST clients have none.
        client.timeout_on_exit = 0
        return client

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
