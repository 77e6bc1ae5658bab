"""Persistence of a bot's `GroupBook` (strategy/groups.py): one `books` row, one `groups` row each.

The runner saves the book in the same transaction as the intents it is about to send and as each
fill it applies, so after a crash the book, the intent log and the fill ledger agree. A group that
leaves the book keeps its row with `closed_at` set (history, realized PnL). The codec follows the
dataclasses' type hints, so a field added to the engine's values needs no change here.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields, is_dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from backfuture_daemon.bots.db import Database
from backfuture_daemon.strategy.groups import Group, GroupBook


def encode(value: Any) -> Any:
    """A JSON-ready form: dataclass -> dict, Decimal -> str, Enum -> value, tuple -> list."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    return value


def decode(hint: Any, raw: Any) -> Any:
    """The inverse of `encode`, driven by the target's type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if raw is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return decode(inner, raw)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in raw)
        return tuple(decode(a, v) for a, v in zip(args, raw, strict=True))
    if isinstance(hint, type) and is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(
            **{f.name: decode(hints[f.name], raw[f.name]) for f in fields(hint) if f.name in raw}
        )
    if hint is Decimal:
        return Decimal(raw)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(raw)
    if hint is float:
        return float(raw)
    return raw


class BookStore:
    """Load and save one bot's book (strategy, mode) in the shared database."""

    def __init__(self, db: Database, strategy: str, mode: str) -> None:
        self.db, self.strategy, self.mode = db, strategy, mode

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
        dust = decode(tuple[tuple[str, Decimal], ...], json.loads(head[3]))
        return GroupBook(
            groups=tuple(decode(Group, json.loads(r[0])) for r in rows),
            next_group_id=int(head[0]),
            realized_pnl=Decimal(head[1]),
            closed_groups=int(head[2]),
            dust=dust,
        )

    def save(self, book: GroupBook, now: float) -> None:
        """Upsert the header and every open group; close the rows of groups that left the book."""
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO books (strategy, mode, next_group_id, realized_pnl, closed_groups,"
                " dust, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(strategy, mode) DO UPDATE SET next_group_id=excluded.next_group_id,"
                " realized_pnl=excluded.realized_pnl, closed_groups=excluded.closed_groups,"
                " dust=excluded.dust, updated_at=excluded.updated_at",
                (self.strategy, self.mode, book.next_group_id, str(book.realized_pnl),
                 book.closed_groups, json.dumps(encode(book.dust)), now),
            )  # fmt: skip
            open_ids = {str(g.id) for g in book.groups}
            for g in book.groups:
                c.execute(
                    "INSERT INTO groups (strategy, mode, group_id, pair, opened_at, closed_at,"
                    " body) VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT(strategy, mode, group_id)"
                    " DO UPDATE SET body=excluded.body, closed_at=NULL",
                    (self.strategy, self.mode, str(g.id), g.pair, g.opened_at,
                     json.dumps(encode(g))),
                )  # fmt: skip
            stale = c.execute(
                "SELECT group_id FROM groups WHERE strategy=? AND mode=? AND closed_at IS NULL",
                (self.strategy, self.mode),
            ).fetchall()
            for (group_id,) in stale:
                if group_id not in open_ids:
                    c.execute(
                        "UPDATE groups SET closed_at=? WHERE strategy=? AND mode=? AND group_id=?",
                        (now, self.strategy, self.mode, group_id),
                    )
