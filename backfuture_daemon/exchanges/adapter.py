"""The per-exchange probe interface: what the connection test asks of one exchange.

probes.ConnectionTester drives an `ExchangeAdapter` through the fixed step sequence; each exchange
(mexc.py, kucoin.py, later binance.py ...) implements it over ccxt and is listed in registry.py.
Adapters raise ccxt exceptions unchanged; classify.py turns them into ErrorClass values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.markets import MarketCache


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
        """Market data is shared per (ccxt id, endpoint): one copy for every connection."""
        return (self.ccxt_id, repr(sorted(_flatten(self.urls))))


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", str(v)))
    return out


@dataclass(frozen=True, slots=True)
class ServerTime:
    """One server-time sample: local clock (ms) before and after the request, server clock (ms)."""

    server_ms: float
    sent_ms: float
    received_ms: float

    @property
    def latency_ms(self) -> float:
        return max(self.received_ms - self.sent_ms, 0.0)

    @property
    def skew_ms(self) -> float:
        """Local clock minus server clock, at the request's midpoint (positive: we are ahead)."""
        return (self.sent_ms + self.received_ms) / 2.0 - self.server_ms


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the exchange says about the key itself. None means "not readable"."""

    read: bool | None
    trade: bool | None
    futures: bool | None
    withdraw: bool | None
    #: () = no IP restriction; entries may be masked (`203.**.154`, KuCoin).
    ip_whitelist: tuple[str, ...] | None
    expires_in_days: float | None = None
    valid: bool = True
    scopes: tuple[str, ...] = ()
    #: why the key is not valid (`valid=False`), in the exchange's terms, with what to do.
    invalid_reason: str = ""
    #: scopes that move funds between the user's own accounts only (KuCoin InnerTransfer):
    #: not a withdrawal, but more than a trading bot needs — the withdraw step warns.
    transfer_scopes: tuple[str, ...] = ()
    #: withdrawal-related scopes that cannot move funds (MEXC SPOT_WITHDRAW_READ), named in the
    #: withdraw step's reason so the user sees they were looked at.
    withdraw_read_scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseMeta:
    """The last HTTP answer of an adapter's client: status and Retry-After (seconds)."""

    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class FuturesSupport:
    """Whether futures trading by API is possible for this key (after any probe)."""

    available: bool
    detail: str


class ExchangeAdapter(Protocol):
    """One connection's view of one exchange. Methods raise ccxt errors; never swallow them."""

    exchange: str
    #: signed requests are rejected when the local clock is this far (ms) behind the server...
    clock_window_ms: float
    #: ...or this far ahead of it.
    clock_ahead_ms: float
    #: False when the exchange offers no futures trading by API at all (MEXC since 2022).
    supports_futures: bool

    async def server_time(self) -> ServerTime: ...

    async def maintenance(self) -> str | None:
        """None when the exchange reports normal operation, else what it reports."""
        ...

    def compensate_clock(self, skew_ms: float) -> None:
        """Sign later requests with the server's clock (ccxt options.timeDifference)."""
        ...

    async def balance(self, currencies: tuple[str, ...]) -> str:
        """A signed read (balances): proves the key is valid and can read. Returns a short
        summary naming the account read and the free amount of `currencies` (quote assets)."""
        ...

    def take_response(self) -> ResponseMeta:
        """The last HTTP answer's status / Retry-After, then forget it (see clients.py)."""
        ...

    async def key_info(self) -> KeyInfo | None:
        """The key's own permissions and IP list; None when the exchange has no such endpoint."""
        ...

    async def trade_probe(self, symbols: tuple[str, ...]) -> bool:
        """Prove the trade permission without placing an order (test-order endpoint)."""
        ...

    async def futures_probe(self, quote: str) -> FuturesSupport:
        """Futures trading possible with this key (settlement currency `quote`)?"""
        ...

    async def attach_markets(self, cache: MarketCache, *, futures: bool) -> None:
        """Point this connection's clients at the shared market data (loaded once)."""
        ...

    def pair_problem(self, pair: str, *, futures: bool) -> str | None:
        """None when the pair exists, is active and API-tradable; else why not."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What every adapter shares: the client factory (session, timeout) and market cache."""

    make_client: Callable[[ClientSpec, Connection | None], Any]
    markets: MarketCache
    #: wall clock in seconds (injected: tests control it).
    clock: Callable[[], float]


AdapterFactory = Callable[["Connection", AdapterContext], ExchangeAdapter]


def endpoints_loopback(endpoints: Endpoints | None) -> bool:
    from backfuture_daemon.configuration.models import is_loopback_host

    return endpoints is not None and all(is_loopback_host(h) for h in endpoints.hosts())


def split_list(value: object) -> tuple[str, ...]:
    """Exchanges send lists as `"a,b"` or `["a", "b"]` (permissions, IP whitelists)."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(p.strip() for p in str(value).split(",") if p.strip())


def balance_summary(account: str, free: dict[str, str], currencies: tuple[str, ...]) -> str:
    """`spot account: USDT 1000 free` — the account read and the strategies' quote assets."""
    shown = ", ".join(f"{c} {free.get(c.upper(), '0')} free" for c in currencies)
    return f"{account}: {shown}" if shown else account
