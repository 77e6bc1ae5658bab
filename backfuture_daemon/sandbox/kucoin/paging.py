"""How KuCoin pages its history lists (fills, done orders), classic and HF: a time range of at
most 7 days (`startAt` alone: the 7 days after it; `endAt` alone: the 7 days before it; neither:
the last 7 days; a wider range is refused with 400100), newest first; classic lists page by
`currentPage` / `pageSize` (default 50, 10..500), HF lists by `limit` (default 20, at most 100)
and `lastId` (rows with a smaller id). Used by kucoin/trading.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from backfuture_daemon.sandbox.kucoin.gateway import fail

WEEK_MS = 7 * 86_400_000


def _int(q: Mapping[str, str], name: str, default: int) -> int:
    raw = q.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise fail("400100", "Parameter Error") from None


def window(q: Mapping[str, str], now_ms: int) -> tuple[int, int]:
    """The (start, end) ms a history request covers, both inclusive."""
    start, end = _int(q, "startAt", 0), _int(q, "endAt", 0)
    if start and end:
        if end < start or end - start > WEEK_MS:
            raise fail("400100", "Parameter Error: the time range cannot exceed 7 days")
        return start, end
    if start:
        return start, start + WEEK_MS
    if end:
        return end - WEEK_MS, end
    return now_ms - WEEK_MS, now_ms


def classic_page(items: list[dict[str, Any]], q: Mapping[str, str]) -> dict[str, Any]:
    """One page of a classic list (`items` newest first), KuCoin's envelope."""
    size = min(500, max(10, _int(q, "pageSize", 50)))
    current = max(1, _int(q, "currentPage", 1))
    total_pages = max(1, -(-len(items) // size))
    chosen = items[(current - 1) * size : current * size]
    return {"currentPage": current, "pageSize": size, "totalNum": len(items),
            "totalPage": total_pages, "items": chosen}  # fmt: skip


def hf_page(
    items: list[dict[str, Any]], q: Mapping[str, str], id_of: Callable[[dict[str, Any]], int]
) -> list[dict[str, Any]]:
    """One page of an HF list (`items` newest first): below `lastId`, at most `limit`."""
    limit = min(100, max(1, _int(q, "limit", 20)))
    last_id = _int(q, "lastId", 0)
    if last_id:
        items = [item for item in items if id_of(item) < last_id]
    return items[:limit]
