"""Public market data derived from the sandbox's price feed: candles, a synthetic order book
around the last price (its mid is the price), recent trades at the price path, and a perpetual's
price (the spot path × (1 + the controlled basis)) with its book in whole contracts. Used by the
mexc/ and kucoin/ market-data handlers; pure functions of (feed, instrument, time).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from backfuture_daemon.sandbox.catalogue import Contract, Instrument
from backfuture_daemon.sandbox.engine import PriceFeed, mix


@dataclass(frozen=True, slots=True)
class Candle:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def candles(
    feed: PriceFeed, symbol: str, interval_ms: int, end_ms: int, *, start_ms: int | None = None,
    limit: int = 500,
) -> list[Candle]:  # fmt: skip
    """Candles of the seeded path, oldest first: the last `limit` up to `end_ms`, or those from
    `start_ms` on. High/low are looked up at a few points per candle (cheap, not exact)."""
    last_open = (end_ms // interval_ms) * interval_ms
    first_open = last_open - (limit - 1) * interval_ms
    if start_ms is not None:
        first_open = max(first_open, -(-start_ms // interval_ms) * interval_ms)
        last_open = min(last_open, first_open + (limit - 1) * interval_ms)
    out: list[Candle] = []
    for t in range(first_open, last_open + 1, interval_ms):
        close_t = min(t + interval_ms - 1, end_ms)
        points = [feed.price(symbol, t + (close_t - t) * k // 4) for k in range(5)]
        vol = Decimal(mix(t ^ feed.seed) % 100_000) / 1000
        out.append(Candle(t, points[0], max(points), min(points), points[-1], vol))
    return out


def book(
    feed: PriceFeed, inst: Instrument, now_ms: int, depth: int
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """A synthetic order book around the last price: (bids high→low, asks low→high)."""
    last = feed.price(inst.symbol, now_ms)
    tick = inst.price_tick
    size = max(inst.min_amount, Decimal(1000) / Decimal(inst.start_price)).quantize(
        inst.amount_tick
    )
    bids = [(last - tick * (i + 1), size * (i + 1)) for i in range(depth)]
    asks = [(last + tick * (i + 1), size * (i + 1)) for i in range(depth)]
    return bids, asks


def perp_price(feed: PriceFeed, c: Contract, now_ms: int) -> Decimal:
    """The perpetual's last price: its spot symbol's path times (1 + basis), on the contract's
    tick (control.PriceControl.basis; 0 unless a test set one)."""
    spot = feed.price(c.underlying, now_ms)
    basis = feed.control.basis(c.underlying)
    if not basis:
        return spot.quantize(c.price_tick, rounding=ROUND_HALF_EVEN)
    raw = spot * (1 + basis) / c.price_tick
    return max(c.price_tick, raw.to_integral_value(ROUND_HALF_EVEN) * c.price_tick)


def contract_book(
    feed: PriceFeed, c: Contract, now_ms: int, depth: int
) -> tuple[list[tuple[Decimal, int]], list[tuple[Decimal, int]]]:
    """A synthetic perpetual book one tick either side of `perp_price`, sizes in whole contracts
    (about 1000 quote per level, growing with depth): (bids high→low, asks low→high)."""
    last = perp_price(feed, c, now_ms)
    tick = c.price_tick
    lots = max(1, int(Decimal(1000) / (last * c.multiplier))) if last > 0 else 1
    bids = [
        (last - tick * (i + 1), lots * (i + 1)) for i in range(depth) if last - tick * (i + 1) > 0
    ]
    asks = [(last + tick * (i + 1), lots * (i + 1)) for i in range(depth)]
    return bids, asks


@dataclass(frozen=True, slots=True)
class Trade:
    time_ms: int
    price: Decimal
    amount: Decimal
    side: str  #: the taker's side: buy (price ticked up or held) or sell


def trades(
    feed: PriceFeed, inst: Instrument, end_ms: int, limit: int, *, start_ms: int | None = None
) -> list[Trade]:
    """Recent public trades, oldest first: one per second up to `end_ms` (the last at `end_ms`
    itself), none before `start_ms`, at most `limit`; each at the price path at its instant, so
    the tape follows the (possibly controlled) price."""
    limit = max(1, limit)
    base = end_ms // 1000 * 1000
    times = [base - 1000 * k for k in range(limit - 1, 0, -1) if base - 1000 * k < end_ms]
    times.append(end_ms)
    if start_ms is not None:
        times = [t for t in times if t >= start_ms]
    unit = max(inst.min_amount, inst.amount_tick)
    previous = feed.price(inst.symbol, times[0] - 1000) if times else Decimal(0)
    out: list[Trade] = []
    for t in times:
        price = feed.price(inst.symbol, t)
        amount = unit * (1 + mix(t ^ feed.seed) % 50)
        out.append(Trade(t, price, amount, "buy" if price >= previous else "sell"))
        previous = price
    return out
