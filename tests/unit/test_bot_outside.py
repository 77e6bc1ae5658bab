"""bots/outside.py on a stub runner: a futures position smaller than the book makes the pair
suspect (its Places held) and closes the group only after the visibility window, with its
resting orders cancelled first and a loss estimated at the exit-side quote, never worse than the
isolated margin plus entry fees; a fill landing between the two reads makes the look
inconclusive (nothing suspected); spot and paper bots are never looked at."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from decimal import Decimal as D

from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.outside import OutsideWatch, watch_positions
from backfuture_daemon.bots.spec import RunnerSpec
from backfuture_daemon.strategy.groups import Group, GroupBook, RestingOrder
from backfuture_daemon.strategy.orders import Cancel, OrderKey, OrderSide, Purpose
from backfuture_daemon.strategy.params import Side
from tests.unit.test_live_guard_futures import PARAMS

PAIR = "BTC/USDT"
TP = OrderKey(1, Purpose.TAKE_PROFIT, 0, 2)
GROUP = Group(id=1, pair=PAIR, opened_at=0.0, sizing=PARAMS.sizing, base_price=D(60000),
              base_amount=D("0.002"), amount=D("0.002"), cost=D(120), entry_fees=D("0.1"),
              orders=(RestingOrder(TP, OrderSide.SELL, D(61000), D("0.002"), D("0.002")),),
              serial=2)  # fmt: skip


class Port:
    def __init__(self, held: D | None) -> None:
        self.held, self.reads = held, 0

    async def position(self, pair: str) -> D | None:
        self.reads += 1
        return self.held


class Books:
    def __init__(self) -> None:
        self.saved: list[GroupBook] = []
        self.outside: list[set[int]] = []

    def save(
        self,
        book: GroupBook,
        now: float,
        previous: GroupBook | None = None,
        *,
        outside: Collection[int] = (),
    ) -> None:
        self.saved.append(book)
        self.outside.append(set(outside))


class Stub:
    """What watch_positions uses of a BotRunner."""

    def __init__(self, held: D | None, market: str = "futures", mode: str = "live") -> None:
        self.spec = RunnerSpec("S", "C", mode, PARAMS, "USDT", market=market, leverage=2)
        self.port = Port(held)
        self.outside = OutsideWatch()
        self.visibility_window = 1.0
        self.book = GroupBook(groups=(GROUP,), next_group_id=2)
        self.books = Books()
        self.market_data = ManualMarketData()
        self.market_data.set_price(PAIR, D(59000), spread=D(0))
        self.cancelled: list[OrderKey] = []
        self.fill_on_read: GroupBook | None = None

    async def collect_fills(self, pairs: list[str]) -> None:
        if self.fill_on_read is not None:
            self.book, self.fill_on_read = self.fill_on_read, None

    async def cancel(self, cancel: Cancel) -> None:
        self.cancelled.append(cancel.key)
        self.book = self.book.cancelled(cancel.key)

    def adopt(self, book: GroupBook) -> None:
        self.book = book


async def test_a_matching_position_is_left_alone() -> None:
    r = Stub(D("0.002"))
    await watch_positions(r, 0.0)  # type: ignore[arg-type]
    assert (r.port.reads, r.outside.suspects, r.book.groups) == (1, {}, (GROUP,))
    await watch_positions(r, 1.0)  # type: ignore[arg-type]
    assert r.port.reads == 1  # not due again before CHECK_INTERVAL


async def test_no_position_closes_the_group_after_the_visibility_window() -> None:
    r = Stub(D(0))
    await watch_positions(r, 10.0)  # type: ignore[arg-type]
    assert r.outside.suspects == {PAIR: 10.0}  # suspect: its Places are held by the runner
    assert r.book.groups == (GROUP,)
    assert r.cancelled == []
    await watch_positions(r, 10.5)  # type: ignore[arg-type]
    assert r.book.groups == (GROUP,)  # inside the window: a late fill may still explain it
    await watch_positions(r, 11.0)  # type: ignore[arg-type]
    assert r.cancelled == [TP]
    assert r.book.groups == ()
    # marked at the bid: 0.002 · 59,000 − 120 − 0.1 entry fees
    assert r.book.realized_pnl == D("-2.1")
    assert (r.book.closed_groups, r.outside.closed, r.outside.suspects) == (1, 1, {})
    assert r.outside.note.startswith("position_closed_outside: BTC/USDT group(s) 1 closed")
    assert "still holds" not in r.outside.note
    assert r.books.saved[-1] == r.book


async def test_the_loss_is_never_worse_than_the_isolated_margin() -> None:
    r = Stub(D(0))
    r.market_data.set_price(PAIR, D(10000), spread=D(0))  # far below the liquidation price
    await watch_positions(r, 0.0)  # type: ignore[arg-type]
    await watch_positions(r, 5.0)  # type: ignore[arg-type]
    assert r.book.realized_pnl == D("-60.1")  # 120 / leverage 2, plus the entry fees


async def test_a_fill_between_the_reads_makes_the_look_inconclusive() -> None:
    r = Stub(D(0))
    filled = replace(GROUP, amount=D(0), cost=D(0), sold_amount=D("0.002"), orders=())
    r.fill_on_read = GroupBook(groups=(filled,), next_group_id=2)  # the TP fill shows up late
    await watch_positions(r, 0.0)  # type: ignore[arg-type]
    assert r.outside.suspects == {}
    assert r.cancelled == []
    assert r.outside.closed == 0


async def test_a_short_the_exchange_holds_is_left_alone_and_spot_is_never_read() -> None:
    short = Stub(D("-0.002"))
    short.book = GroupBook(groups=(replace(GROUP, side=Side.SHORT),))
    await watch_positions(short, 0.0)  # type: ignore[arg-type]
    assert short.outside.suspects == {}
    flipped = Stub(D("0.002"))  # a long position under a short group: not ours
    flipped.book = short.book
    await watch_positions(flipped, 0.0)  # type: ignore[arg-type]
    assert flipped.outside.suspects == {PAIR: 0.0}
    for stub in (Stub(D(0), market="spot"), Stub(D(0), mode="paper")):
        await watch_positions(stub, 0.0)  # type: ignore[arg-type]
        assert stub.port.reads == 0


async def test_a_suspect_pair_stays_held_through_an_inconclusive_look() -> None:
    r = Stub(D(0))
    await watch_positions(r, 0.0)  # type: ignore[arg-type]
    assert r.outside.suspects == {PAIR: 0.0}
    add = replace(GROUP, amount=D("0.003"), cost=D(179))  # an add filled in between
    r.fill_on_read = GroupBook(groups=(add,), next_group_id=2)
    await watch_positions(r, 1.0)  # type: ignore[arg-type]
    assert r.outside.suspects == {PAIR: 0.0}  # still held; looked at again at once
    assert (r.outside.due, r.outside.closed, r.cancelled) == (1.0, 0, [])
    await watch_positions(r, 1.0)  # type: ignore[arg-type]
    assert r.book.groups == ()  # the exchange still holds nothing of it
    assert r.outside.closed == 1
