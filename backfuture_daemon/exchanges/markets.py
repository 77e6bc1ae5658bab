"""Public market data, loaded once per (exchange, endpoint) and shared by every connection.

Adapters call `MarketCache.source(spec)` and then `client.set_markets_from_exchange(source)`, which
only assigns references (reference/exchanges.md §10: ~0.1 MB per client instead of ~6 MB).
Concurrent first loads are coalesced into one request set; data older than `refresh_interval`
is reloaded in the background while the previous copy keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backfuture_daemon.exchanges.clients import ClientSpec


@dataclass(slots=True)
class _Entry:
    source: Any | None = None
    loaded_at: float = 0.0
    loading: asyncio.Task[Any] | None = None


class MarketCache:
    """Shared, credential-free market loaders keyed by `ClientSpec.cache_key`."""

    def __init__(
        self,
        make_client: Callable[[ClientSpec, None], Any],
        *,
        refresh_interval: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_client = make_client
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._retired: list[Any] = []
        self.loads = 0  # completed network loads, for tests and benchmarks

    async def source(self, spec: ClientSpec) -> Any:
        """A ccxt instance with loaded markets for this spec (never carries credentials)."""
        entry = self._entries.setdefault(spec.cache_key, _Entry())
        if entry.source is not None:
            stale = self._clock() - entry.loaded_at >= self._refresh_interval
            if stale and entry.loading is None:
                entry.loading = asyncio.create_task(self._load(spec, entry))
                entry.loading.add_done_callback(_consume)
            return entry.source
        if entry.loading is None:
            entry.loading = asyncio.create_task(self._load(spec, entry))
            entry.loading.add_done_callback(_consume)
        return await asyncio.shield(entry.loading)

    async def _load(self, spec: ClientSpec, entry: _Entry) -> Any:
        client = self._make_client(spec, None)
        try:
            await client.load_markets(False, dict(spec.load_markets_params))
        except BaseException:
            await client.close()
            entry.loading = None
            raise
        if entry.source is not None:
            # Connections already attached keep reading the old dicts; only close its client.
            self._retired.append(entry.source)
        entry.source, entry.loaded_at, entry.loading = client, self._clock(), None
        self.loads += 1
        return client

    async def close(self) -> None:
        for entry in self._entries.values():
            if entry.loading is not None:
                entry.loading.cancel()
                with contextlib.suppress(BaseException):
                    await entry.loading
            if entry.source is not None:
                self._retired.append(entry.source)
        self._entries.clear()
        retired, self._retired = self._retired, []
        for client in retired:
            await client.close()


def _consume(task: asyncio.Task[Any]) -> None:
    # A background refresh that fails must not log "exception was never retrieved";
    # the next caller retries (the entry keeps serving its previous copy).
    if not task.cancelled():
        task.exception()
