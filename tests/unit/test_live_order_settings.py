"""The live order settings reach the bots: the supervisor gives every live runner its visibility
window (BACKFUTURE_ORDER_VISIBILITY_SECONDS); a paper runner keeps none (its exchange answers
in-process, so an accepted order is visible at once)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.model import Gate as BotGate
from backfuture_daemon.bots.paper import PaperExchange
from backfuture_daemon.bots.resume import VISIBILITY_WINDOW
from backfuture_daemon.bots.runner import RunnerSpec
from backfuture_daemon.bots.supervisor import BotSupervisor
from tests.unit.test_bot_supervisor import PAIR, PARAMS, RULES


async def test_live_runners_get_the_supervisors_visibility_window(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_price(PAIR, D(100))
    db = Database.in_dir(tmp_path)

    def stand_in(spec: RunnerSpec) -> PaperExchange:  # a live adapter's stand-in
        return PaperExchange(db, spec.strategy, md, quote="USDT", start_balance=D(50),
                             clock=lambda: 5.0)  # fmt: skip

    def build(visibility: float = VISIBILITY_WINDOW) -> BotSupervisor:
        return BotSupervisor(db, market_data=lambda _: md, rules=lambda _s, _p: RULES,
                             clock=lambda: 5.0, interval=0.01, live_port=stand_in,
                             visibility_window=visibility)  # fmt: skip

    sup = build(2.5)
    live = RunnerSpec("Live Bot", "MEXC Main", "live", PARAMS, "USDT", may_send=True)
    paper = RunnerSpec("Paper Bot", "MEXC Main", "paper", PARAMS, "USDT")
    sup.apply(live, BotGate.PAUSE)
    sup.apply(paper, BotGate.PAUSE)
    assert sup.runners["Live Bot"].visibility_window == 2.5
    assert sup.runners["Paper Bot"].visibility_window == 0.0
    await sup.shutdown()

    default = build()
    default.apply(live, BotGate.PAUSE)
    assert default.runners["Live Bot"].visibility_window == VISIBILITY_WINDOW == 5.0
    await default.shutdown()
    db.close()


async def test_the_daemon_hands_both_settings_to_the_live_ports_and_the_supervisor(
    tmp_path: Path,
) -> None:
    from backfuture_daemon.bots.store import BotStore
    from backfuture_daemon.daemon_bots import BotsWiring
    from backfuture_daemon.settings import load_settings

    settings = load_settings(order_timeout_seconds=3, order_visibility_seconds=7)
    store = BotStore.in_dir(tmp_path)
    wiring = BotsWiring(store, clock=lambda: 5.0, interval=1.0,
                        order_timeout=settings.order_timeout_seconds,
                        order_visibility=settings.order_visibility_seconds)  # fmt: skip
    assert wiring.live._factory.timeout == 3.0  # every live trading request
    assert wiring.supervisor._visibility == 7.0
    await wiring.shutdown(1.0)
    await wiring.hub.close()
    store.close()
