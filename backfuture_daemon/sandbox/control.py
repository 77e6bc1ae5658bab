"""The sandbox market under test control: per symbol, a timeline of segments that override the
seeded walk — hold a price, move linearly through a path of points then hold, or resume the walk —
and the basis of the perpetuals that follow a symbol (their price = spot × (1 + basis)).

`PriceFeed.price` (engine.py) asks `PriceControl.price` first; the engine asks `breakpoints` for
the instants where a controlled price turns, so a resting order crossed between two whole-second
samples still fills. Commands come from `POST /__sandbox/market` (admin.py) or
`Sandbox.set_market`, validated here by `parse_command`; `{"symbol", "basis": 0.01}` (or
`PriceControl.set_basis`) sets the basis KuCoin futures market data quote at (kucoin/futures.py).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

#: Bounds on a command: a path point may lie up to a week ahead, a path has at most this many
#: points, and a price must be positive and at most this (keeps Decimal maths exact and cheap).
MAX_PATH_POINTS = 1_000
MAX_PATH_SECONDS = 7 * 86_400
MAX_PRICE = Decimal(10) ** 12
#: Segments kept per symbol; the walk answers for instants older than the oldest one kept.
MAX_SEGMENTS = 256
#: A perpetual's basis to its spot symbol is kept within ±this fraction.
MAX_BASIS = Decimal("0.5")

Point = tuple[int, Decimal]  #: (epoch ms, price)


@dataclass(frozen=True, slots=True)
class Segment:
    """From `start_ms` on: the seeded walk (no points), a held price (one point), or a linear path
    through `points` that holds its last price afterwards."""

    start_ms: int
    points: tuple[Point, ...] = ()

    @property
    def mode(self) -> str:
        return "walk" if not self.points else "hold" if len(self.points) == 1 else "path"

    def price(self, t_ms: int) -> Decimal | None:
        """The controlled price at `t_ms` (None: the seeded walk answers)."""
        points = self.points
        if not points:
            return None
        if t_ms >= points[-1][0]:
            return points[-1][1]
        if t_ms <= points[0][0]:
            return points[0][1]
        i = bisect.bisect_right(points, t_ms, key=lambda p: p[0])
        (t0, p0), (t1, p1) = points[i - 1], points[i]
        return p0 + (p1 - p0) * Decimal(t_ms - t0) / Decimal(t1 - t0)


@dataclass(frozen=True, slots=True)
class Command:
    """A validated `POST /__sandbox/market` body."""

    symbol: str
    price: Decimal | None = None
    path: tuple[tuple[float, Decimal], ...] = ()  #: (seconds from now, price)
    resume: bool = False
    basis: Decimal | None = None  #: the perpetuals' premium over spot, as a fraction


def describe(segment: Segment | None, symbol: str, price: Decimal) -> dict[str, Any]:
    """What `GET/POST /__sandbox/market` answer: the mode, the price now and the plan."""
    return {
        "symbol": symbol,
        "mode": segment.mode if segment is not None else "walk",
        "price": format(price.normalize(), "f"),
        "since_ms": segment.start_ms if segment is not None else None,
        "points": [[t, format(p.normalize(), "f")] for t, p in segment.points] if segment else [],
    }


class PriceControl:
    """Timelines of control segments per symbol. Lookups are O(log segments); a symbol never
    controlled costs one dict lookup."""

    def __init__(self) -> None:
        self._lines: dict[str, list[Segment]] = {}
        self._starts: dict[str, list[int]] = {}
        self._basis: dict[str, Decimal] = {}

    def basis(self, symbol: str) -> Decimal:
        """The basis of the perpetuals following `symbol` (0 unless set): perp = spot × (1 + b)."""
        return self._basis.get(symbol, Decimal(0))

    def set_basis(self, symbol: str, basis: Decimal) -> None:
        if not -MAX_BASIS <= basis <= MAX_BASIS:
            raise CommandError(f"basis: must be between -{MAX_BASIS} and {MAX_BASIS}")
        self._basis[symbol] = basis

    def _segment(self, symbol: str, t_ms: int) -> Segment | None:
        starts = self._starts.get(symbol)
        if not starts:
            return None
        i = bisect.bisect_right(starts, t_ms)
        return self._lines[symbol][i - 1] if i else None

    def price(self, symbol: str, t_ms: int) -> Decimal | None:
        """The controlled price of `symbol` at `t_ms`, or None where the seeded walk applies."""
        if symbol not in self._starts:
            return None
        segment = self._segment(symbol, t_ms)
        return segment.price(t_ms) if segment is not None else None

    def segment(self, symbol: str, t_ms: int) -> Segment | None:
        """The segment in force at `t_ms` (None: never controlled, or older than those kept)."""
        return self._segment(symbol, t_ms)

    def breakpoints(self, symbol: str, start_ms: int, end_ms: int) -> list[int]:
        """Instants in (start_ms, end_ms] where the controlled price turns or jumps (segment
        starts and path points), oldest first: between them the price is linear."""
        starts = self._starts.get(symbol)
        if not starts or end_ms <= start_ms:
            return []
        out: list[int] = []
        first = max(0, bisect.bisect_right(starts, start_ms) - 1)
        for segment in self._lines[symbol][first:]:
            if segment.start_ms > end_ms:
                break
            times = [segment.start_ms, *(t for t, _ in segment.points)]
            out.extend(t for t in times if start_ms < t <= end_ms)
        return sorted(set(out))

    def apply(
        self, command: Command, now_ms: int, current: Decimal, tick: Decimal
    ) -> Segment | None:
        """Start a segment at `now_ms`. A path starts from `current` (the price just before).
        A basis command only sets the basis (the spot price path is left as it is: None)."""
        if command.basis is not None:
            self.set_basis(command.symbol, command.basis)
            return None
        if command.resume:
            segment = Segment(now_ms)
        elif command.price is not None:
            segment = Segment(now_ms, ((now_ms, _on_tick(command.price, tick)),))
        else:
            points = [(now_ms, current)]
            for seconds, price in command.path:
                at = now_ms + round(seconds * 1000)
                points.append((max(at, points[-1][0]), _on_tick(price, tick)))
            segment = Segment(now_ms, tuple(points))
        line = self._lines.setdefault(command.symbol, [])
        starts = self._starts.setdefault(command.symbol, [])
        # A new command replaces whatever was planned from `now_ms` on.
        keep = bisect.bisect_left(starts, now_ms)
        del line[keep:], starts[keep:]
        line.append(segment)
        starts.append(now_ms)
        if len(line) > MAX_SEGMENTS:
            del line[:-MAX_SEGMENTS], starts[:-MAX_SEGMENTS]
        return segment


def _on_tick(price: Decimal, tick: Decimal) -> Decimal:
    return max(tick, (price / tick).to_integral_value(ROUND_HALF_EVEN) * tick)


class CommandError(ValueError):
    """A market command that is not valid; the message names the field and the rule."""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(f"{where}: must be a number")
    if not math.isfinite(value):
        raise CommandError(f"{where}: must be a finite number")
    return float(value)


def _price(value: Any, where: str) -> Decimal:
    number = _number(value, where)
    price = Decimal(repr(number)) if isinstance(value, float) else Decimal(value)
    if not 0 < price <= MAX_PRICE:
        raise CommandError(f"{where}: must be a price above 0 and at most {MAX_PRICE:,}")
    return price


def parse_command(body: Mapping[str, Any], symbols: Collection[str]) -> Command:
    """`{"symbol", and exactly one of "price" | "path" | "resume": true | "basis"}` -> Command."""
    allowed = {"symbol", "price", "path", "resume", "basis"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise CommandError(f"unknown field(s) {', '.join(unknown)}; known: {sorted(allowed)}")
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or symbol not in symbols:
        shown = ", ".join(itertools.islice(symbols, 5)) + (", ..." if len(symbols) > 5 else "")
        raise CommandError(f"symbol: must be a listed spot symbol such as {shown}")
    modes = [name for name in ("price", "path", "resume", "basis") if name in body]
    if len(modes) != 1:
        raise CommandError('give exactly one of "price", "path", "resume" or "basis"')
    if "basis" in body:
        number = _number(body["basis"], "basis")
        if not -MAX_BASIS <= Decimal(repr(number)) <= MAX_BASIS:
            raise CommandError(f"basis: must be between -{MAX_BASIS} and {MAX_BASIS}")
        return Command(symbol, basis=Decimal(repr(number)))
    if "resume" in body:
        if body["resume"] is not True:
            raise CommandError("resume: must be true")
        return Command(symbol, resume=True)
    if "price" in body:
        return Command(symbol, price=_price(body["price"], "price"))
    raw = body["path"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PATH_POINTS:
        raise CommandError(
            f"path: must be a list of 1 to {MAX_PATH_POINTS} [seconds_from_now, price] points"
        )
    path: list[tuple[float, Decimal]] = []
    for i, point in enumerate(raw):
        where = f"path[{i}]"
        if not isinstance(point, list) or len(point) != 2:
            raise CommandError(f"{where}: must be [seconds_from_now, price]")
        seconds = _number(point[0], f"{where}[0]")
        if not 0 <= seconds <= MAX_PATH_SECONDS:
            raise CommandError(f"{where}[0]: seconds from now must be 0 to {MAX_PATH_SECONDS}")
        if path and seconds <= path[-1][0]:
            raise CommandError(f"{where}[0]: seconds must increase from point to point")
        path.append((seconds, _price(point[1], f"{where}[1]")))
    return Command(symbol, path=tuple(path))
