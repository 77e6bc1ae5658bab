"""An in-memory `ExchangeAdapter` with scripted answers: the fake at the port for unit tests.

Passed to `ConnectionTester(adapters=FakeExchange(...).adapter)` so the tester's orchestration
(step order, sampling, retry hints) is tested in milliseconds without HTTP; anything involving
ccxt itself is tested against the sandbox instead. Failures are real ccxt exceptions, raised
where the script says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backfuture_daemon.exchanges.port import FuturesSupport, KeyInfo, ResponseMeta, ServerTime

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection
    from backfuture_daemon.exchanges.ccxt_base import AdapterContext
    from backfuture_daemon.exchanges.port import MarketSource

FULL_KEY = KeyInfo(
    read=True, trade=True, futures=False, withdraw=False, ip_whitelist=("203.0.113.10",)
)


@dataclass
class FakeExchange:
    """The script every adapter built from it follows, and what they were asked (`calls`)."""

    #: (skew_ms, rtt_ms) per server-time call, in order; the last one repeats.
    clock: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, 10.0)])
    key_info: KeyInfo | None = FULL_KEY
    #: method name -> exception raised on its n-th call (a callable builds it per call).
    fail: dict[str, Callable[[int], BaseException | None]] = field(default_factory=dict)
    clock_window_ms: float = 5000.0
    clock_ahead_ms: float = 1000.0
    calls: list[str] = field(default_factory=list)
    compensated: list[float] = field(default_factory=list)

    def adapter(self, connection: Connection, ctx: AdapterContext) -> FakeAdapter:
        return FakeAdapter(self)


class FakeAdapter:
    exchange = "mexc"  # classified with MEXC's table
    supports_futures = False

    def __init__(self, script: FakeExchange) -> None:
        self._s = script
        self.clock_window_ms = script.clock_window_ms
        self.clock_ahead_ms = script.clock_ahead_ms

    def _called(self, name: str) -> None:
        self._s.calls.append(name)
        build = self._s.fail.get(name)
        exc = build(self._s.calls.count(name)) if build is not None else None
        if exc is not None:
            raise exc

    async def server_time(self) -> ServerTime:
        n = self._s.calls.count("server_time")
        self._called("server_time")
        skew, rtt = self._s.clock[min(n, len(self._s.clock) - 1)]
        server = 1_700_000_000_000.0
        mid = server + skew
        return ServerTime(server, mid - rtt / 2, mid + rtt / 2)

    async def maintenance(self) -> str | None:
        self._called("maintenance")
        return None

    def compensate_clock(self, skew_ms: float) -> None:
        self._s.compensated.append(skew_ms)

    async def balance(self, currencies: tuple[str, ...]) -> str:
        self._called("balance")
        return "spot account: " + ", ".join(f"{c} 1000 free" for c in currencies)

    def take_response(self) -> ResponseMeta:
        return ResponseMeta()

    async def key_info(self) -> KeyInfo | None:
        self._called("key_info")
        return self._s.key_info

    async def trade_probe(self, symbols: tuple[str, ...]) -> bool:
        self._called("trade_probe")
        return True

    async def futures_probe(self, quote: str) -> FuturesSupport:
        self._called("futures_probe")
        return FuturesSupport(False, "futures not offered by the fake")

    async def attach_markets(self, cache: MarketSource, *, futures: bool) -> None:
        self._called("attach_markets")

    def pair_problem(self, pair: str, *, futures: bool) -> str | None:
        return None

    async def close(self) -> None:
        return None
