"""The exchange ports: what the rest of the daemon may ask of an exchange, and the values it gets.

`ExchangeAdapter` is driven by probes.ConnectionTester (mexc.py, kucoin.py implement it);
`MarketDataPort` (market_data.py) and `TradingPort` (live adapters, later the paper exchange) are
what bots/ import. No ccxt here: prices and amounts are `Decimal`, timestamps epoch seconds.
Adapters raise ccxt exceptions unchanged; classify.py turns them into ErrorClass values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from backfuture_daemon.errors import PermanentError, TemporaryError
from backfuture_daemon.health import ErrorClass

# ---- the connection test's port ----------------------------------------------------------


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
        """Local clock minus server clock, at the request's midpoint (positive: we are ahead).
        Only known to within ±latency/2: the server read its clock somewhere in the round trip."""
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
    #: Unix time the key was created, where the exchange reports it (Binance, KuCoin, Bybit):
    #: old keys no strategy uses are the ones to delete.
    created_at: float | None = None


def epoch_seconds(raw: object) -> float | None:
    """An exchange's creation time in epoch milliseconds (number or digits) -> seconds."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        ms = float(raw)
    except ValueError:
        return None
    return ms / 1000.0 if 1e11 < ms < 1e14 else None


@dataclass(frozen=True, slots=True)
class ResponseMeta:
    """The last HTTP answer of a client: status and Retry-After (seconds)."""

    status: int | None = None
    retry_after: float | None = None


class MarketSource(Protocol):
    """Shared, credential-free market data per client spec (markets.MarketCache)."""

    async def source(self, spec: Any) -> Any: ...


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

    async def attach_markets(self, cache: MarketSource, *, futures: bool) -> None:
        """Point this connection's clients at the shared market data (loaded once)."""
        ...

    def pair_problem(self, pair: str, *, futures: bool) -> str | None:
        """None when the pair exists, is active and API-tradable; else why not."""
        ...

    async def close(self) -> None: ...


# ---- market data ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid/ask and last price of one pair (`BTC/USDT`) at `timestamp` (epoch seconds)."""

    pair: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class OrderBook:
    """The top of one pair's book: (price, amount) levels, best first, at `timestamp`."""

    pair: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    timestamp: float


@dataclass(frozen=True, slots=True)
class MarketFailure:
    """Why the latest poll of a pair failed: a classified, short and redacted reason."""

    error_class: ErrorClass
    detail: str
    at: float
    #: seconds the exchange asked us to wait (Retry-After); polls of its endpoint pause.
    retry_after: float | None = None


class MarketDataPort(Protocol):
    """The latest public market data of a pair; None until the first successful poll."""

    def quote(self, pair: str) -> Quote | None: ...

    def order_book(self, pair: str) -> OrderBook | None: ...

    def failure(self, pair: str) -> MarketFailure | None:
        """The last poll's failure, None when it succeeded."""
        ...


# ---- trading (spot) ------------------------------------------------------------------------


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class OrderState(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order to place. `client_order_id` makes placing idempotent and findable after a
    crash; `price` is None for market orders; `amount` is in the base currency. `reduce_only`:
    the order only closes what its group holds (take profit, stop loss, close), decided by the
    order's purpose, never by the bot's current side; futures ports send it reduce-only, spot
    ports ignore it."""

    pair: str
    side: Side
    type: OrderType
    amount: Decimal
    client_order_id: str
    price: Decimal | None = None
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class OrderAck:
    """What the exchange says about one order (after place, cancel or lookup)."""

    client_order_id: str
    order_id: str
    pair: str
    side: Side
    state: OrderState
    amount: Decimal
    filled: Decimal
    price: Decimal | None = None
    average_price: Decimal | None = None
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (trade) of an order; `fee` in `fee_currency`."""

    trade_id: str
    order_id: str
    client_order_id: str | None
    pair: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class Balance:
    """One currency of the trading account: free to use and locked in open orders."""

    currency: str
    free: Decimal
    locked: Decimal


class TradingErrorClass(StrEnum):
    """Why a trading call failed; decides what the bot does next."""

    INSUFFICIENT_FUNDS = "insufficient_funds"  # permanent for this order: size it down or wait
    ORDER_REJECTED = "order_rejected"  # permanent: price/size/pair rules, unknown order
    AUTH_REJECTED = "auth_rejected"  # permanent: key, permission, IP; the connection re-tests
    RATE_LIMITED = "rate_limited"  # temporary: wait `retry_after`
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"  # temporary: timeout, 5xx, maintenance


class OrderRejected(PermanentError):
    """The exchange refused the call for good; the same request would fail the same way."""

    def __init__(self, error_class: TradingErrorClass, detail: str) -> None:
        super().__init__(f"{error_class}: {detail}")
        self.error_class = error_class
        self.detail = detail


class TradingUnavailable(TemporaryError):
    """The call may succeed later (rate limited, exchange down); the outcome of a `place` that
    timed out is unknown until `fetch_order_by_client_id` answers."""

    def __init__(
        self, error_class: TradingErrorClass, detail: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{error_class}: {detail}", retry_after)
        self.error_class = error_class
        self.detail = detail


class TradingPort(Protocol):
    """Spot trading on one account. Live adapters and the paper exchange implement it alike, so a
    bot cannot tell them apart. Methods raise OrderRejected or TradingUnavailable, never a vendor
    exception."""

    async def place(self, order: OrderRequest) -> OrderAck: ...

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck: ...

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        """None when the exchange knows no order with that id (never placed)."""
        ...

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]: ...

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]: ...

    async def balances(self) -> Mapping[str, Balance]: ...
