"""Reconciliation of one bot's book with its exchange (start, resume after PAUSE, after any
unknown outcome): unanswered intents are looked up by client order id before anything else is
sent — found: adopted; absent after the visibility window: not placed — then missed fills are
applied, orders the exchange no longer holds leave the book, and open orders carrying the bot's
prefix without an intent are reported (never cancelled); a live futures bot's positions are
looked at right after (bots/outside.py). Called by bots/runner.py only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from backfuture_daemon.bots.live_guard import orphans
from backfuture_daemon.bots.live_rebuild import rebuild
from backfuture_daemon.exchanges.port import OrderState
from backfuture_daemon.logs import log_event
from backfuture_daemon.strategy.groups import OrderState as BookOrderState
from backfuture_daemon.strategy.orders import Cancel

if TYPE_CHECKING:
    from backfuture_daemon.bots.runner import BotRunner

log = logging.getLogger("backfuture.bots")
_GONE = (OrderState.CANCELED, OrderState.REJECTED)
#: seconds an accepted order may take to show up in a lookup by client order id: the default of
#: `BotRunner.visibility_window` for live bots (the daemon sets BACKFUTURE_ORDER_VISIBILITY_SECONDS
#: through bots/supervisor.py).
VISIBILITY_WINDOW = 5.0


async def settle_intents(runner: BotRunner) -> bool:
    """Look every unanswered intent up; False while one is still inside its visibility window
    (nothing else may be sent until it is settled)."""
    settled = True
    for intent in runner.intents.unsettled():
        ack = await runner.port.fetch_order_by_client_id(intent.pair, intent.client_order_id)
        if ack is not None:
            runner.intents.answered(ack)
            log_event(log, "INFO", "order outcome resolved: adopted", strategy=runner.spec.strategy,
                      client_order_id=intent.client_order_id, state=ack.state.value)  # fmt: skip
            continue
        if runner.clock() - intent.updated_at < runner.visibility_window:
            settled = False
            continue
        runner.intents.lost(intent.client_order_id)
        runner.forget(intent.key)
        log_event(log, "INFO", "order outcome resolved: never placed",
                  strategy=runner.spec.strategy,
                  client_order_id=intent.client_order_id)  # fmt: skip
    return settled


async def reconcile(runner: BotRunner) -> bool:
    """Make the book agree with the port; False when it must run again (an intent unsettled)."""
    if runner.needs_rebuild:
        await rebuild(runner)
        runner.needs_rebuild = False
    if not await settle_intents(runner):
        return False
    await runner.collect_fills(runner.pairs())
    runner.outside.due = 0.0  # positions are looked at this tick (bots/outside.py)
    known: set[str] = set()
    for group in runner.book.groups:
        if not group.orders:
            continue
        held = {a.client_order_id for a in await runner.port.open_orders(group.pair)}
        for order in group.orders:
            cid = runner.intents.client_id(order.key)
            if cid in held:
                if order.state is BookOrderState.CANCELLING:
                    await runner.cancel(Cancel(order.key, group.pair, "cancel re-sent"))
                continue
            ack = await runner.port.fetch_order_by_client_id(group.pair, cid)
            if ack is None or ack.state in _GONE:
                runner.forget(order.key)
    if runner.spec.mode == "live":
        found: list[str] = []
        for pair in runner.pairs():
            acks = await runner.port.open_orders(pair)
            ids = [a.client_order_id for a in acks if runner.intents.intent(a.client_order_id)]
            known.update(ids)
            found.extend(orphans(acks, runner.intents.prefix(), known))
        for cid in sorted(set(found) - set(runner.orphans)):
            log_event(log, "WARNING", "open order with this bot's id prefix but no intent: "
                      "reported, not cancelled", strategy=runner.spec.strategy,
                      client_order_id=cid)  # fmt: skip
        runner.orphans = tuple(sorted(set(found)))
    return True
