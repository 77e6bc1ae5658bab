"""The live send site's gatekeeper: before the runner writes any intent, Places are dropped
while the bot is not cleared to send (bots/live_guard.refusal, a check independent of the gate)
and buys while the account's free quote does not cover them (`insufficient_funds`). Called by
bots/runner.py on every tick of a live bot.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from backfuture_daemon.bots.live_guard import funds_needed, opens, refusal, shortfall
from backfuture_daemon.logs import log_event
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.orders import OrderCommand, OrderKey, Place

if TYPE_CHECKING:
    from backfuture_daemon.bots.runner import BotRunner

log = logging.getLogger("backfuture.bots")


async def live_checks(
    runner: BotRunner, commands: tuple[OrderCommand, ...], book: GroupBook, now: float
) -> tuple[tuple[OrderCommand, ...], GroupBook]:
    """Live only, before any intent is written: no Place while the bot is not cleared to send
    (bots/live_guard.refusal, independent of the gate); no buy while the account's free quote
    does not cover the buys (held with `insufficient_funds`, looked at again after
    `reject_backoff`)."""
    places = [c for c in commands if isinstance(c, Place)]
    if runner.spec.mode != "live" or not places:
        return commands, book
    drop: set[OrderKey] = set()
    why = refusal(runner.spec)
    buys = [p for p in places if opens(runner.spec, p)]  # futures: opening orders
    if why is not None:
        drop, runner.hold_reason = {p.key for p in places}, why
    elif buys and now < runner.hold_until:
        drop = {p.key for p in buys}
    elif buys:
        quote = runner.market_data.quote
        needed = sum((funds_needed(runner.spec, p, quote(p.pair)) for p in buys), Decimal(0))
        short = shortfall(await runner.port.balances(), runner.spec.quote_currency, needed)
        runner.hold_reason = ""
        if short is not None:
            drop, runner.hold_until = {p.key for p in buys}, now + runner.reject_backoff
            runner.hold_reason = (
                f"insufficient_funds: the buys need {short[0]} "
                f"{runner.spec.quote_currency}, {short[1]} free; buys paused"
            )
            log_event(log, "WARNING", "bot paused its buys", strategy=runner.spec.strategy,
                      reason=runner.hold_reason)  # fmt: skip
    else:
        runner.hold_reason = ""
    for key in drop:
        book = book.cancelled(key)
    kept = tuple(c for c in commands if not (isinstance(c, Place) and c.key in drop))
    return kept, book
