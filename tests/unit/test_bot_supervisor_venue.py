"""A change of market (spot <-> futures) or leverage in git (bots/supervisor.py): while the book
has open groups on the old venue the change is HELD (the runner keeps its venue, RUN becomes
CLOSE_ONLY: no new group, no new add; /status's hold_reason says why); once the last group has
closed, a runner on the new venue takes over the same book. A daemon started after the change
holds it the same way (the book's venue is stored). Git changing back cancels the hold."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

from backfuture_daemon.bots.books import BookStore
from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.model import Gate as BotGate
from backfuture_daemon.bots.runner import BotRunner
from backfuture_daemon.bots.supervisor import BotSupervisor
from backfuture_daemon.strategy.params import Gate
from tests.unit.test_bot_supervisor import PAIR, SPEC, supervisor, until

FUTURES = replace(SPEC, market="futures", leverage=2)


async def opened(sup: BotSupervisor, md: ManualMarketData) -> BotRunner:
    md.set_price(PAIR, D(100))
    sup.apply(SPEC, BotGate.RUN)
    runner = sup.runners["BTC Bot"]
    await until(lambda: len(runner.book.groups) == 1 and len(runner.book.groups[0].orders) == 3)
    return runner


async def test_a_market_change_is_held_until_the_spot_groups_closed(tmp_path: Path) -> None:
    md, db = ManualMarketData(), Database.in_dir(tmp_path)
    sup = supervisor(db, md)
    spot = await opened(sup, md)
    group = spot.book.groups[0]

    sup.apply(FUTURES, BotGate.RUN)  # git: market futures, leverage 2
    assert sup.runners["BTC Bot"] is spot  # same runner, same (spot) port
    assert (spot.spec.market, spot.spec.leverage, spot.gate) == ("spot", 1, Gate.CLOSE_ONLY)
    held = spot.snapshot().hold_reason
    assert held.startswith("change of market/leverage to futures:2 held")
    assert "1 open group(s) on spot:1" in held
    md.set_price(PAIR, D(97))  # through add 1: it rests from before and fills
    await until(lambda: spot.book.groups[0].filled_adds == (1,))
    tp = next(o.price for o in spot.book.groups[0].orders if o.key.purpose.value == "take_profit")
    assert tp is not None
    assert not any(o.key.step > 2 for o in spot.book.groups[0].orders)  # no new add placed
    assert spot.book.next_group_id == group.id + 1  # no new group
    md.set_price(PAIR, tp + 1)  # the take profit fills: nothing left on spot

    await until(lambda: sup.runners["BTC Bot"] is not spot)
    futures = sup.runners["BTC Bot"]
    await until(lambda: bool(futures.book.groups))
    assert (futures.spec.market, futures.spec.leverage, futures.gate) == ("futures", 2, Gate.RUN)
    assert futures.snapshot().hold_reason == ""
    assert futures.book.closed_groups == 1  # the same book goes on
    assert futures.book.groups[0].id > group.id  # group ids (and client ids) never repeat
    assert spot.handover  # it left for the new venue
    await sup.shutdown()
    db.close()


async def test_a_daemon_started_after_the_change_holds_it_too(tmp_path: Path) -> None:
    md, db = ManualMarketData(), Database.in_dir(tmp_path)
    sup = supervisor(db, md)
    await opened(sup, md)
    await sup.shutdown()
    assert BookStore(db, "BTC Bot", "paper").stored_venue() == "spot:1"

    again = supervisor(db, md)
    again.apply(FUTURES, BotGate.RUN)  # the config changed while the daemon was down
    runner = again.runners["BTC Bot"]
    assert (runner.spec.market, runner.gate) == ("spot", Gate.CLOSE_ONLY)
    assert runner.snapshot().hold_reason.startswith("change of market/leverage")
    again.apply(SPEC, BotGate.RUN)  # git changed back: the hold is gone, same runner
    assert again.runners["BTC Bot"] is runner
    assert (runner.spec.market, runner.gate, runner.snapshot().hold_reason) == (
        "spot", Gate.RUN, ""
    )  # fmt: skip
    await again.shutdown()
    db.close()


async def test_a_leverage_change_is_held_and_pause_passes_as_it_is(tmp_path: Path) -> None:
    md, db = ManualMarketData(), Database.in_dir(tmp_path)
    sup = supervisor(db, md)
    md.set_price(PAIR, D(100))
    sup.apply(FUTURES, BotGate.RUN)
    runner = sup.runners["BTC Bot"]
    await until(lambda: len(runner.book.groups) == 1 and len(runner.book.groups[0].orders) == 3)
    sup.apply(replace(FUTURES, leverage=3), BotGate.RUN)
    assert sup.runners["BTC Bot"] is runner
    assert (runner.spec.leverage, runner.gate) == (2, Gate.CLOSE_ONLY)
    assert "futures:3 held" in runner.snapshot().hold_reason
    sup.apply(replace(FUTURES, leverage=3), BotGate.PAUSE)
    assert (runner.spec.leverage, runner.gate) == (2, Gate.PAUSE)
    await sup.shutdown()
    db.close()


async def test_without_open_groups_a_market_change_is_a_new_runner_at_once(
    tmp_path: Path,
) -> None:
    md, db = ManualMarketData(), Database.in_dir(tmp_path)
    sup = supervisor(db, md)
    sup.apply(SPEC, BotGate.PAUSE)  # no market price yet: no group
    spot = sup.runners["BTC Bot"]
    sup.apply(FUTURES, BotGate.RUN)
    futures = sup.runners["BTC Bot"]
    assert futures is not spot
    assert (futures.spec.market, futures.gate, futures.venue_hold) == ("futures", Gate.RUN, "")
    await sup.shutdown()
    db.close()
