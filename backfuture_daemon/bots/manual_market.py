"""A `MarketDataPort` whose prices the caller sets by hand: for unit tests, benchmarks and replays.

The daemon's bots read the shared MarketDataHub (exchanges/market_data.py); this stands in for it
where no exchange is polled. `set_price` builds a symmetric book around a mid price so that a paper
exchange on top behaves as it would on a real, liquid book.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from backfuture_daemon.exchanges.port import MarketFailure, OrderBook, Quote

Levels = tuple[tuple[Decimal, Decimal], ...]


class ManualMarketData:
    def __init__(self, clock: Callable[[], float] = lambda: 0.0) -> None:
        self._clock = clock
        self._books: dict[str, OrderBook] = {}
        self.reads = 0

    def set_book(self, pair: str, bids: Levels, asks: Levels) -> None:
        self._books[pair] = OrderBook(pair, bids, asks, self._clock())

    def set_price(
        self,
        pair: str,
        mid: Decimal,
        *,
        spread: Decimal = Decimal("0.0002"),
        depth: Decimal = Decimal(1000),
    ) -> None:
        """One deep level each side, `spread` (fraction) apart around `mid`."""
        half = mid * spread / 2
        self.set_book(pair, ((mid - half, depth),), ((mid + half, depth),))

    def quote(self, pair: str) -> Quote | None:
        self.reads += 1
        book = self._books.get(pair)
        if book is None:
            return None
        bid = book.bids[0][0] if book.bids else None
        ask = book.asks[0][0] if book.asks else None
        last = (bid + ask) / 2 if bid is not None and ask is not None else bid or ask
        return Quote(pair, bid, ask, last, book.timestamp)

    def order_book(self, pair: str) -> OrderBook | None:
        return self._books.get(pair)

    def failure(self, pair: str) -> MarketFailure | None:
        return None
