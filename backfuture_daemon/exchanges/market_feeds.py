"""What one market-data feed polls: a spot pair on the exchange's spot host, or (market futures)
the pair's USDT perpetual on its futures host, read back under the config's pair.

Used by market_data.MarketDataHub. A bot keeps its config pair (`BTC/USDT`); a futures feed
polls `BTC/USDT:USDT` (KuCoin XBTUSDTM) with a credential-free `kucoinfutures` client (public
routes only: contracts, ticker, level-2 depth), turns the book's sizes from contracts into BASE
amounts (× contractSize) and hands out the contract's rules (kucoin_futures_trading
.contract_rules: the contract's tick, one lot as the amount step and minimum). Futures market
data exists for the exchanges in `FUTURES_MARKET_DATA`; others raise ValueError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges import binance, kucoin
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.kucoin_futures_trading import contract_rules, perpetual
from backfuture_daemon.exchanges.market_rules import TICK_SIZE, rules_from_market
from backfuture_daemon.exchanges.registry import public_spec
from backfuture_daemon.strategy.params import MarketRules

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Endpoints

#: exchanges whose perpetuals' own public market data the hub can poll.
FUTURES_MARKET_DATA = frozenset({"kucoin", "bybit", "binance", "okx"})
MARKETS = ("spot", "futures")


@dataclass(frozen=True, slots=True)
class FeedVenue:
    """The public client spec a feed polls and whether it reads perpetuals."""

    spec: ClientSpec
    futures: bool = False

    def symbol(self, pair: str) -> str:
        """The ccxt symbol polled for the config's `pair`."""
        return perpetual(pair) if self.futures else pair

    def rules(
        self, market: Mapping[str, Any], precision_mode: int = TICK_SIZE
    ) -> MarketRules | None:
        """The rules a bot sizes by: the spot pair's, or the contract's in BASE units."""
        if self.futures:
            return contract_rules(market, None)
        return rules_from_market(market, precision_mode)

    def unit(self, market: object) -> Decimal:
        """BASE per unit of the venue's book sizes: 1 on spot, the contract size on futures
        (None when a contract does not say: its book cannot be read in base amounts)."""
        if not self.futures:
            return Decimal(1)
        size = dec(market.get("contractSize")) if isinstance(market, dict) else None
        if size is None or size <= 0:
            raise ValueError("the contract has no contractSize: its book sizes are unreadable")
        return size


def feed_venue(exchange: str, endpoints: Endpoints | None, market: str = "spot") -> FeedVenue:
    """Where `exchange`'s `market` (spot | futures) public data is polled; ValueError when the
    hub has no futures market data for `exchange`."""
    if market == "spot":
        return FeedVenue(public_spec(exchange, endpoints))
    if market != "futures":
        raise ValueError(f"unknown market {market!r}; known: {', '.join(MARKETS)}")
    if exchange == "kucoin":
        return FeedVenue(kucoin.client_spec(endpoints, futures=True), futures=True)
    if exchange == "bybit":  # linear on the one v5 host (category=linear), contractSize 1
        return FeedVenue(public_spec(exchange, endpoints), futures=True)
    if exchange == "binance":  # binanceusdm: /fapi/v1 on the API host, contractSize 1
        return FeedVenue(binance.client_spec(endpoints, futures=True), futures=True)
    if exchange == "okx":  # SWAP instruments on the one v5 host, contractSize = ctVal
        return FeedVenue(public_spec(exchange, endpoints), futures=True)
    raise ValueError(
        f"no futures market data for {exchange!r} "
        f"(futures market data: {', '.join(sorted(FUTURES_MARKET_DATA))})"
    )


def dec(value: object) -> Decimal | None:
    """A finite Decimal from a ccxt number or string; None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def levels(
    rows: object, limit: int, unit: Decimal = Decimal(1)
) -> tuple[tuple[Decimal, Decimal], ...]:
    """ccxt book rows -> at most `limit` (price, BASE amount) levels; sizes × `unit`."""
    out: list[tuple[Decimal, Decimal]] = []
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, list | tuple) and len(row) >= 2:
            price, amount = dec(row[0]), dec(row[1])
            if price is not None and amount is not None:
                out.append((price, amount * unit))
        if len(out) >= limit:
            break
    return tuple(out)
