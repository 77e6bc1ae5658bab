"""Plumbing every ccxt-backed adapter shares, and the ONE guarded-call helper.

mexc.py and kucoin.py subclass `CcxtAdapter` (built by registry.py, driven by probes.py): it owns
the connection's ccxt client, its clock, and `guarded()`, which runs one exchange call and hands
back a classified `Refused` for the refusals the caller can interpret (missing scope, a business
rule's code outside the table, no such endpoint) — everything else re-raises unchanged, for the
tester to classify with the response's status and Retry-After.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from backfuture_daemon.exchanges.classify import Classified, classify_error
from backfuture_daemon.exchanges.clients import ClientSpec, take_response
from backfuture_daemon.exchanges.port import ResponseMeta, ServerTime
from backfuture_daemon.redaction import Redactor

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What every adapter shares: the client factory (session, timeout) and the clock."""

    make_client: Callable[[ClientSpec, Connection | None], Any]
    #: wall clock in seconds (injected: tests control it).
    clock: Callable[[], float]


@dataclass(frozen=True, slots=True)
class Refused:
    """An exchange call the exchange refused, classified (short, redacted detail)."""

    c: Classified

    @property
    def scope_missing(self) -> bool:
        """The key lacks the scope this endpoint needs."""
        return self.c.scope_missing

    @property
    def business_rule(self) -> bool:
        """An exchange code outside the table answered: a business rule (price, size, ...) ran,
        so the gateway's key and scope checks had already passed."""
        return self.c.code is not None and not self.c.known_code

    @property
    def not_found(self) -> bool:
        """The endpoint does not exist on this deployment (HTTP 404, KuCoin 404000)."""
        return self.c.http_status == 404 or self.c.code == "404000"


class CcxtAdapter:
    """Base of the ccxt adapters: one signed client per connection, closed by `close()`."""

    exchange: str

    def __init__(self, connection: Connection, ctx: AdapterContext, spec: ClientSpec) -> None:
        self._ctx = ctx
        self._spec = spec
        self._client: Any = ctx.make_client(spec, connection)
        self._redact = Redactor(connection.secret_values())

    def _now_ms(self) -> float:
        return self._ctx.clock() * 1000.0

    async def _time_sample(
        self, fetch: Callable[[], Awaitable[Any]], server_ms: Callable[[Any], Any]
    ) -> ServerTime:
        """Time one server-clock request with the local clock on both sides."""
        sent = self._now_ms()
        response = await fetch()
        received = self._now_ms()
        return ServerTime(float(server_ms(response)), sent, received)

    async def guarded(
        self, call: Callable[[], Awaitable[T]], *, keep: Callable[[Refused], bool]
    ) -> T | Refused:
        """Run one exchange call. A ccxt refusal that `keep` accepts comes back as `Refused` (the
        caller decides what it proves); any other error propagates unchanged."""
        import ccxt

        try:
            return await call()
        except ccxt.BaseError as e:
            refused = Refused(classify_error(e, self.exchange, redact=self._redact))
            if keep(refused):
                return refused
            raise

    def compensate_clock(self, skew_ms: float) -> None:
        self._client.options["timeDifference"] = round(skew_ms)

    def take_response(self) -> ResponseMeta:
        return take_response(self._client)

    def market_id_of(self, symbols: tuple[str, ...], fallback: str) -> str:
        """The exchange id of the first configured pair the markets know (probes need a real
        symbol to get a permission answer rather than "unknown symbol"), else `fallback`."""
        markets: dict[str, Any] = self._client.markets or {}
        for s in symbols:
            if s in markets:
                return str(markets[s]["id"])
        return fallback

    async def close(self) -> None:
        await self._client.close()


def market_problem(market: dict[str, Any] | None, pair: str, kind: str, venue: str) -> str | None:
    """None when `market` exists and is active; else why the pair cannot be traded."""
    if market is None:
        return f"{pair}: no such {kind} market on {venue}"
    if not market.get("active"):
        return f"{pair}: {kind} market not active or not tradable by API"
    return None


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
