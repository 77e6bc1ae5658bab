"""Reading an account's trade or order history completely, page by page (exchanges/trading.py's
`fills_since` and `orders_since`).

Exchanges answer a history request with at most `limit` rows of a time range: MEXC and Binance the
OLDEST rows from `startTime` on (paged by moving the start past the last row's time), KuCoin the
NEWEST rows of a range of at most 7 days (paged by moving the range's end back to the first row's
time, then the next 7 days). A page boundary may cut through one millisecond, so the next page
starts AT the last time and rows are de-duplicated by id. The number of pages is bounded; reaching
the bound is logged (ascending: the rows read so far are a complete prefix, the caller's next
`since` continues from them) or raised (newest first: the oldest rows are the ones still missing),
never silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backfuture_daemon.exchanges.port import TradingErrorClass, TradingUnavailable
from backfuture_daemon.logs import log_event

log = logging.getLogger("backfuture.exchanges")

Row = dict[str, Any]
#: (start ms, end ms or None for "up to now", limit) -> the exchange's rows of that range
Fetch = Callable[[int, int | None, int], Awaitable[list[Row]]]

DAY_MS = 86_400_000
#: Pages one `read` may request: 50 x 100 = 5,000 rows per pair and call.
MAX_PAGES = 50
#: Windows one `read` may walk (KuCoin: 60 x 7 days, about 14 months).
MAX_WINDOWS = 60


@dataclass(frozen=True, slots=True)
class Paging:
    """How one exchange pages a history endpoint."""

    #: rows per request (MEXC myTrades and KuCoin HF fills serve at most 100)
    limit: int = 100
    #: the exchange answers the newest `limit` rows of the range (KuCoin), not the oldest
    newest_first: bool = False
    #: the longest start..end range the exchange serves (KuCoin 7 days); None: unbounded
    window_ms: int | None = None
    #: where a read "since the beginning" (since 0) starts: this far before now
    lookback_ms: int = 30 * DAY_MS


class HistoryPager:
    """Pages one endpoint of one connection. Remembers, per (scope, start), the windows that were
    read closed and empty, so an idle bot's next call does not walk them again."""

    def __init__(self, paging: Paging, what: str) -> None:
        self.paging, self.what = paging, what
        self._empty_until: dict[tuple[str, int], int] = {}

    async def read(
        self,
        scope: str,
        fetch: Fetch,
        since_ms: int,
        now_ms: int,
        *,
        key: Callable[[Row], str],
        stamp: Callable[[Row], int],
    ) -> list[Row]:
        """Every row of `scope` (a pair) from `since_ms` (0: `lookback_ms` ago) to now, each
        once, in no particular order."""
        p = self.paging
        start = since_ms if since_ms > 0 else max(now_ms - p.lookback_ms, 0)
        rows: dict[str, Row] = {}
        pages = 0
        if p.window_ms is None:
            await self._range(scope, fetch, start, None, rows, key, stamp)
            return list(rows.values())
        memo = (scope, start) if since_ms > 0 else None
        ws = max(start, self._empty_until.get(memo, start)) if memo else start
        if now_ms - ws > p.window_ms * MAX_WINDOWS:
            skipped = ws
            ws = now_ms - p.window_ms * MAX_WINDOWS
            log_event(log, "WARNING", f"{self.what} history older than {MAX_WINDOWS} windows "
                      "is not read", scope=scope, from_ms=skipped, read_from_ms=ws)  # fmt: skip
        leading_empty = True
        while True:
            we = min(ws + p.window_ms, now_ms)
            # the window reaching now is left open: the exchange's clock may run ahead of ours
            end = we if ws + p.window_ms < now_ms else None
            before = len(rows)
            pages += await self._range(
                scope, fetch, ws, end, rows, key, stamp, pages, newest_first=p.newest_first
            )
            if leading_empty and len(rows) == before and we < now_ms - 60_000:
                if memo is not None:
                    self._remember(memo, we)  # closed and empty: skipped by the next call
            else:
                leading_empty = False
            if we >= now_ms or pages >= MAX_PAGES:  # the bound: a complete prefix (logged)
                return list(rows.values())
            ws = we

    def _remember(self, memo: tuple[str, int], until: int) -> None:
        if memo not in self._empty_until and len(self._empty_until) >= 256:
            self._empty_until.pop(next(iter(self._empty_until)))
        self._empty_until[memo] = until

    async def _range(
        self,
        scope: str,
        fetch: Fetch,
        start: int,
        end: int | None,
        rows: dict[str, Row],
        key: Callable[[Row], str],
        stamp: Callable[[Row], int],
        done: int = 0,
        *,
        newest_first: bool = False,
    ) -> int:
        """Every page of one range until a page is short; how many pages were read. Oldest rows
        first: the start moves to the last row's time (at the bound: logged, a complete prefix).
        Newest first: the end moves back to the first row's time (at the bound: raised)."""
        limit, pages = self.paging.limit, 0
        while True:
            page = await fetch(start, end, limit)
            pages += 1
            new = _merge(rows, page, key)
            if len(page) < limit:
                return pages
            if newest_first:
                first = min(stamp(r) for r in page)
                if not new or (end is not None and first > end):
                    raise self._stuck(scope, first)
                end = first
            else:
                last = max(stamp(r) for r in page)
                if not new or last < start:
                    raise self._stuck(scope, start)
                start = last
            if done + pages < MAX_PAGES:
                continue
            if newest_first:
                raise TradingUnavailable(
                    TradingErrorClass.EXCHANGE_UNAVAILABLE,
                    f"{self.what} on {scope}: more than {MAX_PAGES} pages of {limit} between "
                    f"{start} and {end} ms; not read further (the oldest would be missing)",
                )
            log_event(log, "WARNING", f"{self.what}: more than {MAX_PAGES} pages in one "
                      "read; the rest is read from here on the next call", scope=scope,
                      read_up_to_ms=start)  # fmt: skip
            return pages

    def _stuck(self, scope: str, at_ms: int) -> TradingUnavailable:
        return TradingUnavailable(
            TradingErrorClass.EXCHANGE_UNAVAILABLE,
            f"{self.what} on {scope}: a full page of {self.paging.limit} brought nothing new at "
            f"{at_ms} ms (more rows in one millisecond than a page holds); not read further",
        )


def row_id(raw: Row) -> str:
    """A ccxt row's id (an order's or a trade's), the key rows are de-duplicated by."""
    return str(raw.get("id") or "")


def row_stamp(raw: Row) -> int:
    """A ccxt row's time in epoch ms (0 when it has none), what pages move by."""
    stamp = raw.get("timestamp")
    return int(stamp) if isinstance(stamp, int | float) else 0


def _merge(rows: dict[str, Row], page: list[Row], key: Callable[[Row], str]) -> int:
    """Add the page's rows not seen yet; how many were new."""
    new = 0
    for row in page:
        k = key(row)
        if k not in rows:
            rows[k] = row
            new += 1
    return new
