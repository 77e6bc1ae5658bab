"""Persistence of a bot's `GroupBook` (strategy/groups.py): one `books` row, one `groups` row each.

The runner saves the book in the same transaction as the intents it is about to send and as each
fill it applies, so after a crash the book, the intent log and the fill ledger agree. A group that
leaves the book keeps its row with `closed_at` set (history), and `close_reason`
`closed_outside` when it left because the exchange no longer held its position (bots/outside.py;
`closed_outside()` counts them, so the count survives a restart). Group bodies are written with
the engine's versioned codec (strategy/codec.py), so a shape change is refused, never misread.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from decimal import Decimal

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.spec import RunnerSpec
from backfuture_daemon.strategy.codec import book_from_data, book_to_data
from backfuture_daemon.strategy.groups import Group, GroupBook

#: `groups.close_reason` of a group closed because the exchange no longer held its position.
CLOSED_OUTSIDE = "closed_outside"


def venue(spec: RunnerSpec) -> str:
    """Where a runner of `spec` trades: `spot:1`, or `futures:<leverage>`."""
    return f"{spec.market}:{spec.leverage if spec.market == 'futures' else 1}"


def _group_json(g: Group) -> str:
    """One group as the engine's versioned codec writes it (a one-group book)."""
    return json.dumps(book_to_data(GroupBook(groups=(g,))))


def _group_from_json(text: str) -> Group:
    (g,) = book_from_data(json.loads(text)).groups
    return g


class BookStore:
    """Load and save one bot's book (strategy, mode) in the shared database. `venue`
    (`market:leverage`, e.g. `spot:1`, `futures:3`): where the runner saving it trades; kept in
    the `meta` table with each save, so a daemon started after a market or leverage change in git
    knows where the book's open groups live (bots/supervisor.py holds the change until they are
    closed)."""

    def __init__(self, db: Database, strategy: str, mode: str, venue: str | None = None) -> None:
        self.db, self.strategy, self.mode = db, strategy, mode
        self.venue = venue

    def _venue_key(self) -> str:
        return f"book_venue\0{self.mode}\0{self.strategy}"

    def stored_venue(self) -> str | None:
        """The venue of the runner that last saved this book; None when never recorded."""
        row = self.db.conn.execute(
            "SELECT value FROM meta WHERE key=?", (self._venue_key(),)
        ).fetchone()
        return None if row is None else str(row[0])

    def epoch(self) -> str:
        """A random tag fixed when the book is first written (client order ids include it)."""
        with self.db.transaction() as c:
            row = c.execute(
                "SELECT epoch FROM books WHERE strategy=? AND mode=?", (self.strategy, self.mode)
            ).fetchone()
            if row is not None:
                return str(row[0])
            self.save(GroupBook(), 0.0)
            row = c.execute(
                "SELECT epoch FROM books WHERE strategy=? AND mode=?", (self.strategy, self.mode)
            ).fetchone()
            return str(row[0])

    def exists(self) -> bool:
        """Has this book ever been written (a header row)?"""
        row = self.db.conn.execute(
            "SELECT 1 FROM books WHERE strategy=? AND mode=?", (self.strategy, self.mode)
        ).fetchone()
        return row is not None

    def load(self) -> GroupBook:
        c = self.db.conn
        head = c.execute(
            "SELECT next_group_id, realized_pnl, closed_groups, dust FROM books"
            " WHERE strategy=? AND mode=?",
            (self.strategy, self.mode),
        ).fetchone()
        if head is None:
            return GroupBook()
        rows = c.execute(
            "SELECT body FROM groups WHERE strategy=? AND mode=? AND closed_at IS NULL"
            " ORDER BY CAST(group_id AS INTEGER)",
            (self.strategy, self.mode),
        ).fetchall()
        dust = tuple((str(pair), Decimal(amount)) for pair, amount in json.loads(head[3]))
        return GroupBook(
            groups=tuple(_group_from_json(r[0]) for r in rows),
            next_group_id=int(head[0]),
            realized_pnl=Decimal(head[1]),
            closed_groups=int(head[2]),
            dust=dust,
        )

    def closed_outside(self) -> tuple[int, float | None]:
        """How many of this book's groups were closed outside the bot, and when the last was."""
        row = self.db.conn.execute(
            "SELECT count(*), max(closed_at) FROM groups WHERE strategy=? AND mode=?"
            " AND close_reason=?",
            (self.strategy, self.mode, CLOSED_OUTSIDE),
        ).fetchone()
        return int(row[0]), None if row[1] is None else float(row[1])

    def save(
        self,
        book: GroupBook,
        now: float,
        previous: GroupBook | None = None,
        *,
        outside: Collection[int] = (),
    ) -> None:
        """Upsert the header and the open groups; close the rows of groups that left the book.

        `previous`: the book as last committed (the runner's own), so only the groups that
        changed are written; None writes every group and looks the stale rows up. `outside`:
        ids of groups leaving the book because they were closed outside the bot (their rows get
        `close_reason` CLOSED_OUTSIDE, in the same transaction)."""
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO books (strategy, mode, next_group_id, realized_pnl, closed_groups,"
                " dust, epoch, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(strategy, mode) DO UPDATE SET next_group_id=excluded.next_group_id,"
                " realized_pnl=excluded.realized_pnl, closed_groups=excluded.closed_groups,"
                " dust=excluded.dust, updated_at=excluded.updated_at",
                (self.strategy, self.mode, book.next_group_id, str(book.realized_pnl),
                 book.closed_groups, json.dumps([[p, str(a)] for p, a in book.dust]),
                 secrets.token_hex(4), now),
            )  # fmt: skip
            before = {g.id: g for g in previous.groups} if previous is not None else {}
            for g in book.groups:
                if before.get(g.id) == g:
                    continue
                c.execute(
                    "INSERT INTO groups (strategy, mode, group_id, pair, opened_at, closed_at,"
                    " body) VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT(strategy, mode, group_id)"
                    " DO UPDATE SET body=excluded.body, closed_at=NULL, close_reason=NULL",
                    (self.strategy, self.mode, str(g.id), g.pair, g.opened_at,
                     _group_json(g)),
                )  # fmt: skip
            if self.venue is not None:  # with every save: a rolled-back one leaves no gap
                c.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (self._venue_key(), self.venue),
                )
            open_ids = {str(g.id) for g in book.groups}
            if previous is not None:
                stale = [str(gid) for gid in before if str(gid) not in open_ids]
            else:
                rows = c.execute(
                    "SELECT group_id FROM groups WHERE strategy=? AND mode=? AND closed_at IS NULL",
                    (self.strategy, self.mode),
                ).fetchall()
                stale = [str(r[0]) for r in rows if str(r[0]) not in open_ids]
            for group_id in stale:
                c.execute(
                    "UPDATE groups SET closed_at=? WHERE strategy=? AND mode=? AND group_id=?",
                    (now, self.strategy, self.mode, group_id),
                )
            for gid in sorted(str(i) for i in outside if str(i) not in open_ids):
                c.execute(
                    "UPDATE groups SET close_reason=?, closed_at=coalesce(closed_at, ?)"
                    " WHERE strategy=? AND mode=? AND group_id=?",
                    (CLOSED_OUTSIDE, now, self.strategy, self.mode, gid),
                )
