"""HistoryPager reads a history whole against fake exchanges that page as MEXC/Binance (oldest
`limit` from the start) and KuCoin (newest `limit` of a range of at most 7 days) do: every row
once across page boundaries that cut one millisecond, windows walked, closed empty windows not
walked twice, and the bound on pages logged (ascending: a complete prefix) or raised (newest
first), never a silent drop."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from backfuture_daemon.exchanges.history_paging import (
    DAY_MS,
    MAX_PAGES,
    HistoryPager,
    Paging,
    Row,
)
from backfuture_daemon.exchanges.port import TradingUnavailable

NOW = 1_800_000_000_000
WEEK = 7 * DAY_MS


class FakeHistory:
    """Rows (id, timestamp) served like an exchange's history endpoint."""

    def __init__(self, stamps: list[int], *, newest_first: bool, window: int | None = None):
        self.rows: list[Row] = [
            {"id": f"t{i:06d}", "timestamp": t} for i, t in enumerate(sorted(stamps))
        ]
        self.newest_first, self.window = newest_first, window
        self.calls: list[tuple[int, int | None, int]] = []

    async def fetch(self, start: int, end: int | None, limit: int) -> list[Row]:
        self.calls.append((start, end, limit))
        if self.window is not None:
            end = start + self.window if end is None else end
            assert end - start <= self.window, "a range wider than the exchange serves"
        inside = [r for r in self.rows if stamp(r) >= start
                  and (end is None or stamp(r) <= end)]  # fmt: skip
        return inside[-limit:][::-1] if self.newest_first else inside[:limit]


def key(row: Row) -> str:
    return str(row["id"])


def stamp(row: Row) -> int:
    return int(row["timestamp"])


async def read(pager: HistoryPager, fake: FakeHistory, since: int) -> list[dict[str, Any]]:
    return await pager.read("BTC/USDT", fake.fetch, since, NOW, key=key, stamp=stamp)


async def test_oldest_first_pages_forward_and_returns_each_row_once() -> None:
    # 250 rows, three per millisecond: every page boundary cuts one millisecond
    stamps = [NOW - 3_600_000 + i // 3 for i in range(250)]
    fake = FakeHistory(stamps, newest_first=False)
    rows = await read(HistoryPager(Paging(limit=100), "fills"), fake, NOW - 3_600_000)
    assert sorted(key(r) for r in rows) == [key(r) for r in fake.rows]
    assert len(fake.calls) == 3
    assert [c[0] for c in fake.calls][1:] == sorted({c[0] for c in fake.calls[1:]})


async def test_newest_first_walks_seven_day_windows_back_to_front_each_row_once() -> None:
    stamps = [NOW - 20 * DAY_MS + i * 3_000_000 for i in range(570)]  # ~20 days, every 50 min
    fake = FakeHistory(stamps, newest_first=True, window=WEEK)
    paging = Paging(newest_first=True, window_ms=WEEK, lookback_ms=WEEK)
    rows = await read(HistoryPager(paging, "fills"), fake, NOW - 20 * DAY_MS)
    assert sorted(key(r) for r in rows) == [key(r) for r in fake.rows]
    assert {c[2] for c in fake.calls} == {100}
    assert len(fake.calls) >= 570 // 100 + 3  # pages inside each of three windows


async def test_since_zero_reads_the_lookback() -> None:
    stamps = [NOW - 40 * DAY_MS, NOW - 20 * DAY_MS, NOW - 60_000]
    fake = FakeHistory(stamps, newest_first=False)
    rows = await read(HistoryPager(Paging(lookback_ms=30 * DAY_MS), "fills"), fake, 0)
    assert [stamp(r) for r in sorted(rows, key=stamp)] == stamps[1:]
    assert fake.calls[0][0] == NOW - 30 * DAY_MS


async def test_closed_empty_windows_are_not_walked_again_for_the_same_start() -> None:
    fake = FakeHistory([NOW - 30 * DAY_MS, NOW - 3_600_000], newest_first=True, window=WEEK)
    pager = HistoryPager(Paging(newest_first=True, window_ms=WEEK), "fills")
    since = NOW - 30 * DAY_MS + 1  # the first row is just before it: every window but the last
    assert [stamp(r) for r in await read(pager, fake, since)] == [NOW - 3_600_000]
    first = len(fake.calls)
    assert first == 5  # 30 days: five windows
    assert [stamp(r) for r in await read(pager, fake, since)] == [NOW - 3_600_000]
    assert len(fake.calls) - first == 1  # only the window that reaches now
    other = await read(pager, fake, since - 1)  # another start: walked whole
    assert len(other) == 2


async def test_more_rows_in_one_millisecond_than_a_page_is_raised_not_skipped() -> None:
    for newest_first in (False, True):
        fake = FakeHistory([NOW - 1000] * 150, newest_first=newest_first)
        pager = HistoryPager(Paging(newest_first=newest_first), "fills")
        with pytest.raises(TradingUnavailable, match=r"nothing new .* not read further"):
            await read(pager, fake, NOW - 5000)


async def test_the_page_bound_returns_a_complete_prefix_oldest_first_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    n = MAX_PAGES * 100 + 250
    fake = FakeHistory([NOW - 10 * DAY_MS + i * 1000 for i in range(n)], newest_first=False)
    with caplog.at_level(logging.WARNING, logger="backfuture.exchanges"):
        rows = await read(HistoryPager(Paging(), "mexc fills"), fake, NOW - 10 * DAY_MS)
    assert sorted(key(r) for r in rows) == [key(r) for r in fake.rows[: len(rows)]]
    assert len(rows) >= MAX_PAGES * 99
    assert len(fake.calls) == MAX_PAGES
    assert "more than 50 pages" in caplog.text
    rest = await read(HistoryPager(Paging(), "mexc fills"), fake, max(map(stamp, rows)))
    assert {key(r) for r in rows} | {key(r) for r in rest} == {key(r) for r in fake.rows}


async def test_the_page_bound_newest_first_is_raised() -> None:
    n = MAX_PAGES * 100 + 250
    fake = FakeHistory([NOW - 6 * DAY_MS + i * 10 for i in range(n)], newest_first=True,
                       window=WEEK)  # fmt: skip
    pager = HistoryPager(Paging(newest_first=True, window_ms=WEEK), "kucoin fills")
    with pytest.raises(TradingUnavailable, match="more than 50 pages"):
        await read(pager, fake, NOW - 6 * DAY_MS)


async def test_the_window_reaching_now_is_open_for_an_exchange_clock_ahead_of_ours() -> None:
    fake = FakeHistory([NOW - 5000, NOW + 800], newest_first=True, window=WEEK)
    pager = HistoryPager(Paging(newest_first=True, window_ms=WEEK), "fills")
    rows = await read(pager, fake, NOW - DAY_MS)
    assert sorted(map(stamp, rows)) == [NOW - 5000, NOW + 800]
    assert fake.calls == [(NOW - DAY_MS, None, 100)]
