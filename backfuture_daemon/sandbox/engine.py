"""The sandbox's market: a seeded price feed over the catalogue's instruments that moves over
time (or follows a test's control, control.py), and a small matching engine (limit orders rest
and fill when the price crosses; market orders fill at the last price) over per-key accounts.

Called by the venue handlers (mexc/, kucoin/); quotes.py derives candles, books and trades from
the same feed. Everything is in memory and O(1) or O(open orders of one key) per request.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from backfuture_daemon.sandbox.catalogue import Catalogue, Instrument
from backfuture_daemon.sandbox.control import Command, PriceControl, describe
from backfuture_daemon.sandbox.positions import PositionBook, closable

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
Status = Literal["open", "filled", "canceled"]

_MASK64 = (1 << 64) - 1


def mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _symbol_salt(seed: int, symbol: str) -> int:
    h = mix(seed)
    for byte in symbol.encode():
        h = mix(h ^ byte)
    return h


class PriceFeed:
    """Deterministic, seeded prices as a pure function of (symbol, time): smooth value noise in
    three octaves (5 s, 1 min, 10 min) around each instrument's start price, O(1) — unless a
    test took control of a symbol (`control`), whose segments then answer."""

    _OCTAVES: tuple[tuple[int, float], ...] = ((5_000, 0.0015), (60_000, 0.004), (600_000, 0.012))

    def __init__(self, seed: int = 7, catalogue: Catalogue | None = None) -> None:
        self.seed = seed
        self.catalogue = catalogue or Catalogue()
        instruments = self.catalogue.spot
        self._base = {i.symbol: i.start_price for i in instruments}
        self._tick = {i.symbol: i.price_tick for i in instruments}
        self._salt = {i.symbol: _symbol_salt(seed, i.symbol) for i in instruments}
        #: test control over the walk (POST /__sandbox/market); empty: the walk alone
        self.control = PriceControl()

    def _noise(self, salt: int, period: int, t_ms: int) -> float:
        k, rem = divmod(t_ms, period)
        a = mix(salt ^ k) / _MASK64 * 2.0 - 1.0
        b = mix(salt ^ (k + 1)) / _MASK64 * 2.0 - 1.0
        f = rem / period
        f = f * f * (3.0 - 2.0 * f)
        return a + (b - a) * f

    def price(self, symbol: str, t_ms: int) -> Decimal:
        controlled = self.control.price(symbol, t_ms)
        if controlled is not None:
            return controlled.quantize(self._tick[symbol], rounding=ROUND_DOWN)
        salt = self._salt[symbol]
        drift = sum(amp * self._noise(salt + p, p, t_ms) for p, amp in self._OCTAVES)
        raw = Decimal(repr(self._base[symbol] * math.exp(drift)))
        return raw.quantize(self._tick[symbol], rounding=ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of an order (the sandbox fills an order whole, so at most one per order)."""

    trade_id: str
    time_ms: int
    price: Decimal
    amount: Decimal
    maker: bool  #: True: the order rested and the price came to it; False: it took liquidity

    @property
    def cost(self) -> Decimal:
        return self.price * self.amount


@dataclass(slots=True)
class Order:
    id: str
    client_id: str
    symbol: str  #: spot symbol (contract orders: the underlying spot symbol)
    side: Side
    type: OrderType
    price: Decimal | None
    amount: Decimal  #: base amount (contracts: number of contracts)
    created_ms: int
    quote_amount: Decimal | None = None  #: market orders by cost (MEXC quoteOrderQty, KuCoin funds)
    time_in_force: str = "GTC"
    post_only: bool = False
    market: str = "spot"  #: spot | futures (futures orders move no balances)
    instrument_id: str = ""  #: the venue's id it was placed on (BTCUSDT, XBTUSDTM, ...)
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    status: Status = "open"
    updated_ms: int = 0
    checked_ms: int = 0
    reserved: Decimal = Decimal(0)  #: locked in `reserve_currency` while open
    reserve_currency: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def average(self) -> Decimal | None:
        return (self.cost / self.filled) if self.filled else None


class InsufficientFunds(Exception):
    pass


class UnknownOrder(Exception):
    pass


@dataclass(slots=True)
class Account:
    """One key's money and orders. Balances start from the key's `balances`."""

    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    open_ids: dict[str, None] = field(default_factory=dict)  #: insertion-ordered set
    by_client_id: dict[str, str] = field(default_factory=dict)
    futures: PositionBook = field(default_factory=PositionBook)  #: perpetual positions

    def reset_balances(self, balances: dict[str, Decimal]) -> None:
        self.free = dict(balances)
        self.locked = {c: Decimal(0) for c in balances}
        for oid in self.open_ids:
            o = self.orders[oid]
            if o.reserved:
                self.locked[o.reserve_currency] = self.locked.get(o.reserve_currency, Decimal(0))
                self.locked[o.reserve_currency] += o.reserved

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        return self.free.get(currency, Decimal(0)), self.locked.get(currency, Decimal(0))

    def _add(self, book: dict[str, Decimal], currency: str, amount: Decimal) -> None:
        book[currency] = book.get(currency, Decimal(0)) + amount


class Engine:
    """Matches orders against the price feed. Fills are evaluated lazily, when a key looks at its
    orders or balances, by walking the price path since the last look (bounded work)."""

    _GRID_MS = 1_000
    _MAX_SAMPLES = 3_600

    def __init__(self, feed: PriceFeed) -> None:
        self.feed = feed
        self.catalogue = feed.catalogue
        self._accounts: dict[tuple[str, str], Account] = {}
        self._trade_ids = itertools.count(1)

    def account(self, exchange: str, api_key: str, balances: dict[str, Decimal]) -> Account:
        acct = self._accounts.get((exchange, api_key))
        if acct is None:
            acct = Account()
            acct.reset_balances(balances)
            self._accounts[(exchange, api_key)] = acct
        return acct

    def find_account(self, exchange: str, api_key: str) -> Account | None:
        """The key's account if it ever made a private call that needed one (audits)."""
        return self._accounts.get((exchange, api_key))

    def reset_account(self, exchange: str, api_key: str, balances: dict[str, Decimal]) -> None:
        acct = self._accounts.get((exchange, api_key))
        if acct is not None:
            acct.reset_balances(balances)

    def last_price(self, symbol: str, now_ms: int) -> Decimal:
        return self.feed.price(symbol, now_ms)

    def control_market(self, command: Command, now_ms: int) -> dict[str, Any]:
        """Hold, path or resume one symbol's price from `now_ms` on; resting orders fill as the
        new path crosses them (on their owner's next look, like any fill)."""
        inst = self.catalogue.by_symbol[command.symbol]
        current = self.feed.price(command.symbol, now_ms)
        self.feed.control.apply(command, now_ms, current, inst.price_tick)
        return self.market_state(command.symbol, now_ms)

    def market_state(self, symbol: str, now_ms: int) -> dict[str, Any]:
        segment = self.feed.control.segment(symbol, now_ms)
        return describe(segment, symbol, self.feed.price(symbol, now_ms))

    def trade_price(self, symbol: str, market: str, now_ms: int) -> Decimal:
        """Where `symbol` trades on `market`: the spot path, or on futures the perpetual's, the
        spot path times (1 + basis) (control.PriceControl.basis; quotes.perp_price shows it)."""
        spot = self.feed.price(symbol, now_ms)
        basis = self.feed.control.basis(symbol) if market == "futures" else 0
        return spot * (1 + basis) if basis else spot

    def place(self, acct: Account, order: Order, now_ms: int) -> Order:
        """Validate funds, lock them, and fill what is immediately fillable."""
        inst = self.catalogue.by_symbol[order.symbol]
        last = self.trade_price(order.symbol, order.market, now_ms)
        order.updated_ms = order.checked_ms = now_ms
        if order.market == "spot":
            self._reserve(acct, inst, order, last)
        acct.orders[order.id] = order
        acct.by_client_id[order.client_id] = order.id
        if order.type == "market":
            self._fill(acct, order, last, now_ms, maker=False)
            return order
        assert order.price is not None
        crosses = order.price >= last if order.side == "buy" else order.price <= last
        if crosses and order.post_only:
            self._cancel(acct, order, now_ms)
        elif crosses:
            self._fill(acct, order, last, now_ms, maker=False)  # taker: at the market price
        elif order.time_in_force in ("IOC", "FOK"):
            self._cancel(acct, order, now_ms)
        else:
            acct.open_ids[order.id] = None
        return order

    def _reserve(self, acct: Account, inst: Instrument, order: Order, last: Decimal) -> None:
        if order.side == "buy":
            currency = inst.quote
            if order.quote_amount is not None:
                need = order.quote_amount
            else:
                need = order.amount * (
                    order.price if order.type == "limit" and order.price else last
                )
        else:
            currency = inst.base
            need = order.amount
        free, _ = acct.balance(currency)
        if need > free:
            raise InsufficientFunds(currency)
        acct._add(acct.free, currency, -need)
        acct._add(acct.locked, currency, need)
        order.reserved, order.reserve_currency = need, currency

    def _release(self, acct: Account, order: Order) -> None:
        if order.reserved:
            acct._add(acct.locked, order.reserve_currency, -order.reserved)
            acct._add(acct.free, order.reserve_currency, order.reserved)
            order.reserved = Decimal(0)

    def _fill(
        self, acct: Account, order: Order, price: Decimal, now_ms: int, *, maker: bool
    ) -> None:
        inst = self.catalogue.by_symbol[order.symbol]
        amount = order.amount
        if order.market == "futures" and order.extra.get("reduceOnly") is True:
            # Reduce-only: only what closes the position fills; the rest is cancelled.
            amount = min(amount, closable(acct.futures.positions.get(order.instrument_id),
                                          order.side))  # fmt: skip
            if amount <= 0:
                self._cancel(acct, order, now_ms)
                return
        if order.quote_amount is not None and order.type == "market":
            amount = (order.quote_amount / price).quantize(inst.amount_tick, rounding=ROUND_DOWN)
            order.amount = amount
        cost = amount * price
        if order.market == "spot":
            # Settle: spend the reservation, return what is left, credit the other side.
            spent = cost if order.side == "buy" else amount
            acct._add(acct.locked, order.reserve_currency, -order.reserved)
            acct._add(acct.free, order.reserve_currency, order.reserved - spent)
            order.reserved = Decimal(0)
            if order.side == "buy":
                acct._add(acct.free, inst.base, amount)
            else:
                acct._add(acct.free, inst.quote, cost)
        order.filled, order.cost = amount, cost
        multiplier = order.extra.get("multiplier")
        if order.market == "futures" and isinstance(multiplier, Decimal):
            leverage = order.extra.get("leverage_value", Decimal(1))
            assert isinstance(leverage, Decimal)
            pos = acct.futures.get(order.instrument_id, order.symbol, multiplier)
            pos.fill(order.side, amount, price, leverage, now_ms)
        trade_id = f"{0x5C35C02709E4F6000000 + next(self._trade_ids):020x}"
        order.fills.append(Fill(trade_id, now_ms, price, amount, maker))
        order.status = "filled" if amount >= order.amount else "canceled"
        order.updated_ms = now_ms
        acct.open_ids.pop(order.id, None)

    def _cancel(self, acct: Account, order: Order, now_ms: int) -> None:
        self._release(acct, order)
        order.status = "canceled"
        order.updated_ms = now_ms
        acct.open_ids.pop(order.id, None)

    def refresh(self, acct: Account, now_ms: int) -> None:
        """Fill resting limit orders whose price was crossed since they were last checked, then
        liquidate perpetual positions whose mark crossed their liquidation price."""
        for oid in list(acct.open_ids):
            order = acct.orders[oid]
            # `>=`: a test may move the price within the millisecond of the last look.
            if now_ms >= order.checked_ms:
                assert order.price is not None
                below = order.side == "buy"
                at = self._first_touch(order.symbol, order.price, below, order.checked_ms, now_ms,
                                       order.market)  # fmt: skip
                if at is not None:
                    self._fill(acct, order, order.price, at, maker=True)  # at its own price
            order.checked_ms = now_ms
        for pos in acct.futures.open():
            level = pos.liquidation_price()
            if level is not None and now_ms >= pos.checked_ms:
                at = self._first_touch(pos.symbol, level, pos.qty > 0, pos.checked_ms, now_ms,
                                       "futures")  # fmt: skip
                if at is not None:
                    pos.liquidate(at)
                    for oid in list(acct.open_ids):  # its reduce-only orders go with it
                        o = acct.orders[oid]
                        if o.instrument_id == pos.instrument_id and o.extra.get("reduceOnly"):
                            self._cancel(acct, o, at)
            pos.checked_ms = now_ms

    def _first_touch(
        self, symbol: str, level: Decimal, below: bool, start: int, end: int, market: str = "spot"
    ) -> int | None:
        """First time in (start, end] the price reached `level` (from above when `below`),
        looking at the price path on a whole-second grid (coarser beyond an hour: at most
        `_MAX_SAMPLES` looks) and at every turn of a controlled price (linear in between, so no
        crossing is missed)."""
        turns = self.feed.control.breakpoints(symbol, start, end)
        for t in heapq.merge(self._grid(start, end), turns):
            p = self.trade_price(symbol, market, t)
            if p <= level if below else p >= level:
                return t
        return None

    def _grid(self, start: int, end: int) -> Iterator[int]:
        step = max(self._GRID_MS, -(-(end - start) // self._MAX_SAMPLES))
        step = -(-step // self._GRID_MS) * self._GRID_MS
        t = (start // step + 1) * step
        while t < end:
            yield t
            t += step
        yield end

    def cancel(self, acct: Account, order_id: str, now_ms: int) -> Order:
        self.refresh(acct, now_ms)
        order = acct.orders.get(order_id)
        if order is None or not order.is_open:
            raise UnknownOrder(order_id)
        self._cancel(acct, order, now_ms)
        return order

    def get(self, acct: Account, order_id: str, now_ms: int) -> Order:
        self.refresh(acct, now_ms)
        order = acct.orders.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        return order

    def open_orders(self, acct: Account, now_ms: int, symbol: str | None = None) -> list[Order]:
        self.refresh(acct, now_ms)
        orders = (acct.orders[i] for i in acct.open_ids)
        return [o for o in orders if symbol is None or o.symbol == symbol]


def decimal_str(value: Decimal | None) -> str:
    """Plain decimal text without exponent or trailing zeros ("0.001", "30000")."""
    if value is None:
        return "0"
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
