"""Applying one exchange fill to a bot: recorded once in the fill ledger (keyed by trade id) and
reflected in the book in the same commit, the intent marked filled once its order is gone. Fills
of orders this bot never sent (another bot's, a human's) are left alone. Called by
bots/runner.py's `collect_fills` for every fill the port reports.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from backfuture_daemon.exchanges.port import Fill
from backfuture_daemon.logs import log_event
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.orders import OrderKey

if TYPE_CHECKING:
    from backfuture_daemon.bots.runner import BotRunner

log = logging.getLogger("backfuture.bots")


def apply_fill(runner: BotRunner, fill: Fill) -> None:
    """Book `fill` once; a fill the book cannot place is logged (WARNING) and kept as history."""
    spec = runner.spec
    if runner.intents.has_fill(fill.trade_id):
        return  # seen before: no write transaction for it (fills_since overlaps on purpose)
    intent = runner.intents.intent(fill.client_order_id) if fill.client_order_id else None
    if intent is None:
        # Another bot's or a human's trade on the same account: not this bot's ledger.
        log_event(log, "DEBUG", "fill of an order this bot never sent",
                  strategy=spec.strategy, trade_id=fill.trade_id)  # fmt: skip
        return
    with runner.intents.db.transaction():
        if not runner.intents.record_fill(fill):
            return
        fee = fill.fee if fill.fee_currency == spec.quote_currency else fill.fee * fill.price
        try:
            book = runner.book.fill(intent.key, fill.amount, fill.price, fee)
        except (KeyError, ValueError) as e:
            log_event(log, "WARNING", "fill does not match the book", strategy=spec.strategy,
                      trade_id=fill.trade_id, error=str(e))  # fmt: skip
            return
        runner.books.save(book, runner.clock(), runner.book)
        if _order_gone(book, intent.key):
            runner.intents.filled(intent.client_order_id)
    key = intent.key
    log_event(log, "INFO", "bot fill", strategy=spec.strategy, mode=spec.mode, pair=fill.pair,
              group=key.group_id, purpose=key.purpose.value, step=key.step,
              side=fill.side.value, price=str(fill.price), amount=str(fill.amount))  # fmt: skip
    runner.adopt(book)


def _order_gone(book: GroupBook, key: OrderKey) -> bool:
    group = next((g for g in book.groups if g.id == key.group_id), None)
    return group is None or group.order(key) is None
