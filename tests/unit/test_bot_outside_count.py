"""The count of groups closed outside the bot (bots/outside.py) is kept in SQLite: the closing
save marks the group's row `closed_outside` (bots/books.py), a runner started or reloaded on the
same file reads the count and the last time back, and its snapshot shows them; groups the
strategy closed, other bots and the other mode do not count."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

from backfuture_daemon.bots.books import BookStore
from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.outside import OutsideWatch, watch_positions
from tests.unit.test_bot_outside import GROUP, Stub
from tests.unit.test_bot_runner import World


async def test_the_closing_save_names_the_groups_closed_outside() -> None:
    r = Stub(D(0))
    await watch_positions(r, 10.0)  # type: ignore[arg-type]
    assert (r.outside.closed, r.outside.last_at) == (0, None)
    await watch_positions(r, 11.0)  # type: ignore[arg-type]
    assert r.book.groups == ()
    assert r.books.outside[-1] == {GROUP.id}
    assert (r.outside.closed, r.outside.last_at) == (1, 11.0)


async def test_the_count_is_read_back_from_sqlite(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)
    r = Stub(D(0))
    books = BookStore(db, "S", "live")
    books.save(r.book, 1.0)
    r.books = books  # type: ignore[assignment]
    await watch_positions(r, 10.0)  # type: ignore[arg-type]
    await watch_positions(r, 11.0)  # type: ignore[arg-type]
    assert books.load().groups == ()
    assert books.closed_outside() == (1, 11.0)
    watch = OutsideWatch()
    watch.restore(BookStore(db, "S", "live"))
    assert (watch.closed, watch.last_at) == (1, 11.0)
    for other in (BookStore(db, "S", "paper"), BookStore(db, "T", "live")):
        assert other.closed_outside() == (0, None)
    db.close()


def _close(books: BookStore, group_id: int, at: float, *, outside: bool) -> None:
    """Open group `group_id` in `books`, then close it (outside the bot, or by the strategy)."""
    group = replace(GROUP, id=group_id)
    book = replace(books.load(), groups=(group,), next_group_id=group_id + 1)
    books.save(book, at - 1)
    closed = replace(book, groups=(), closed_groups=book.closed_groups + 1)
    books.save(closed, at, book, outside={group_id} if outside else ())


def test_a_runner_shows_the_count_of_its_book_after_a_restart_and_a_reload(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    first = world.runner()
    assert (first.snapshot().closed_outside, first.snapshot().closed_outside_at) == (0, None)
    books = BookStore(Database.in_dir(tmp_path), first.spec.strategy, first.spec.mode)
    _close(books, 7, 500.0, outside=True)
    _close(books, 8, 600.0, outside=False)  # a take profit: not outside the bot
    restarted = world.runner()
    snap = restarted.snapshot()
    assert (snap.closed_outside, snap.closed_outside_at) == (1, 500.0)
    assert snap.as_status()["closed_outside"] == 1
    _close(books, 9, 700.0, outside=True)  # another runner of this bot wrote the book
    restarted.reload()
    assert (restarted.snapshot().closed_outside, restarted.outside.last_at) == (2, 700.0)
    assert restarted.book == books.load()
    assert books.load().closed_groups == 3
    books.db.close()
