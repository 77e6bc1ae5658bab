"""`backfuture plan`: the daemon's /status read back into the planner gives no changes for the
running revision and the right changes for another one; rendering keeps secrets out."""

from __future__ import annotations

from pathlib import Path

from backfuture_daemon.bots.lifecycle import BotLifecycle
from backfuture_daemon.bots.model import BotState
from backfuture_daemon.commands.plan import compare, observed_from_status
from backfuture_daemon.configuration.models import DesiredState
from backfuture_daemon.health import ErrorClass
from backfuture_daemon.reconciler.loop import Reconciler
from backfuture_daemon.reconciler.plan import PauseBot, StartBot, StopBot, TestConnection
from backfuture_daemon.reconciler.watch import Probe
from backfuture_daemon.telemetry.status import render_status
from tests.helpers.desired import FakeTester, conn, desired_state, failed, strat

KEY = "mx0vSECRETKEYvalue1234"


def state(key: str = KEY, digest: str = "a1") -> DesiredState:
    return desired_state(
        [conn(key=key), conn("KC Main", key="otherKEY5555")],
        [strat(), strat("ETH Bot", "KC Main")],
        digest=digest,
    )


async def running_status(desired: DesiredState) -> dict[str, object]:
    tester = FakeTester()
    tester.script("KC Main", failed("KC Main", ErrorClass.IP_NOT_ALLOWED))
    r = Reconciler(
        Path("/config"),
        loader=lambda _p: desired,
        tester=tester,
        lifecycle=BotLifecycle(None, lambda: 5.0),
        salt="daemon-salt",
        clock=lambda: 5.0,
        probe=lambda p: Probe(str(p), None, desired.revision.digest),
    )
    await r.reconcile_once()
    await r.drain()
    await r.reconcile_once()
    return render_status(r.snapshot())


async def test_plan_against_the_running_revision_has_no_changes() -> None:
    doc = await running_status(state())
    observed = observed_from_status(doc)
    assert observed.bots["ETH Bot"].state is BotState.PAUSED
    result = compare(state(), doc)
    assert result.actions == ()
    assert "no changes" in result.render()


async def test_plan_shows_key_change_and_removed_strategy_without_secrets() -> None:
    doc = await running_status(state())
    changed = desired_state([conn(key="mx0vROTATEDkey9999")], [strat()], digest="b2")
    result = compare(changed, doc)
    kinds = [type(a) for a in result.actions]
    assert TestConnection in kinds
    assert PauseBot in kinds  # paused until the new key passes
    assert StopBot in kinds  # ETH Bot: strategy removed
    text = result.render() + str(result.to_json())
    assert KEY not in text
    assert "mx0vROTATEDkey9999" not in text
    assert 'test connection "MEXC Main": key or settings changed' in text


def test_fresh_start_tests_everything_and_adds_bots() -> None:
    result = compare(state(), None)
    assert [type(a) for a in result.actions] == [TestConnection, TestConnection, PauseBot, PauseBot]
    assert "starts once its connection passes" in result.render()
    assert not any(isinstance(a, StartBot) for a in result.actions)
