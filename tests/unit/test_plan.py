"""The planner: examples for every rule, and hypothesis properties (idempotent, deterministic,
a withdraw-enabled key never runs a bot)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from backfuture_daemon.bots.lifecycle import transition
from backfuture_daemon.bots.model import BotCommand, BotState, BotStatus, Gate
from backfuture_daemon.health import ConnectionStatus, ErrorClass
from backfuture_daemon.reconciler.desired import Desired
from backfuture_daemon.reconciler.plan import (
    Action,
    ForgetConnection,
    Observed,
    TestConnection,
    plan,
)
from backfuture_daemon.reconciler.state import ConnectionObservation
from tests.helpers.desired import (
    conn,
    desired_state,
    failed,
    online,
    pause_bot,
    report,
    start_bot,
    stop_bot,
    strat,
    waiting_bot,
)

SALT = "salt"
NOW = 1_000.0


def desired(connections, strategies) -> Desired:  # type: ignore[no-untyped-def]
    state = desired_state(connections, strategies)
    fps = Desired.from_state(state, SALT).fingerprints
    return Desired(state, fps, {c.name: "in" for c in state.connections})


def obs(d: Desired, name: str, rep, *, next_at: float | None = NOW + 60, fp: str | None = None):  # type: ignore[no-untyped-def]
    return ConnectionObservation(
        name=name,
        exchange="mexc",
        report=rep,
        fingerprint=fp if fp is not None else d.fingerprints[name],
        next_check_at=next_at,
        inputs_digest="in",
    )


def bot(name: str, state: BotState, connection: str = "MEXC Main", reason: str = "x") -> BotStatus:
    return BotStatus(strategy=name, connection=connection, state=state, reason=reason, since=1.0)


def test_new_connection_is_tested_and_its_bot_waits_paused() -> None:
    d = desired([conn()], [strat()])
    actions = plan(d, Observed(), NOW)
    assert actions[0] == TestConnection("MEXC Main", "new connection")
    assert actions[1] == waiting_bot("BTC Bot", "MEXC Main")
    assert isinstance(actions[1], BotCommand)
    assert (actions[1].gate, actions[1].pending) == (Gate.PAUSE, True)


def test_healthy_connection_starts_its_bot_and_then_nothing_to_do() -> None:
    d = desired([conn()], [strat()])
    o = Observed(connections={"MEXC Main": obs(d, "MEXC Main", online())})
    actions = plan(d, o, NOW)
    assert actions == (start_bot("BTC Bot", "MEXC Main", 'connection "MEXC Main" online'),)
    running = {"BTC Bot": bot("BTC Bot", BotState.RUNNING)}
    assert plan(d, replace(o, bots=running), NOW) == ()


def test_failed_connection_pauses_only_its_bots() -> None:
    d = desired(
        [conn(), conn("MEXC Other", key="otherKEY9999")],
        [strat(), strat("ETH Bot", "MEXC Other")],
    )
    o = Observed(
        connections={
            "MEXC Main": obs(d, "MEXC Main", failed("MEXC Main", ErrorClass.IP_NOT_ALLOWED)),
            "MEXC Other": obs(d, "MEXC Other", online("MEXC Other")),
        },
        bots={
            "BTC Bot": bot("BTC Bot", BotState.RUNNING),
            "ETH Bot": bot("ETH Bot", BotState.RUNNING, "MEXC Other"),
        },
    )
    actions = plan(d, o, NOW)
    assert actions == (
        pause_bot("BTC Bot", "MEXC Main", 'connection "MEXC Main" failed: ip_not_allowed'),
    )


def test_removed_strategy_stops_and_removed_connection_is_forgotten() -> None:
    d = desired([conn()], [])
    gone = ConnectionObservation("Old Conn", "mexc", online("Old Conn"), "fp")
    o = Observed(
        connections={"MEXC Main": obs(d, "MEXC Main", online()), "Old Conn": gone},
        bots={"Old Bot": bot("Old Bot", BotState.RUNNING, "Old Conn")},
    )
    assert plan(d, o, NOW) == (
        ForgetConnection("Old Conn"),
        stop_bot("Old Bot", "Old Conn", "strategy removed from git"),
    )


def test_changed_key_is_retested_at_once_and_pauses_until_then() -> None:
    d = desired([conn(key="newKEY00001111")], [strat()])
    o = Observed(
        connections={"MEXC Main": obs(d, "MEXC Main", online(), fp="old-fingerprint")},
        bots={"BTC Bot": bot("BTC Bot", BotState.RUNNING)},
    )
    actions = plan(d, o, NOW)
    assert actions[0] == TestConnection("MEXC Main", "key or settings changed")
    assert actions[1] == pause_bot(
        "BTC Bot", "MEXC Main", 'connection "MEXC Main" changed; re-testing'
    )


def test_strategy_moved_to_another_connection_follows_that_connection() -> None:
    d = desired([conn(), conn("MEXC Other", key="otherKEY9999")], [strat("BTC Bot", "MEXC Other")])
    running = {"BTC Bot": bot("BTC Bot", BotState.RUNNING, "MEXC Main")}
    main = obs(d, "MEXC Main", online())
    bad = failed("MEXC Other", ErrorClass.IP_NOT_ALLOWED)
    o = Observed({"MEXC Main": main, "MEXC Other": obs(d, "MEXC Other", bad)}, running)
    assert plan(d, o, NOW) == (
        pause_bot("BTC Bot", "MEXC Other", 'connection "MEXC Other" failed: ip_not_allowed'),
    )
    o = Observed({"MEXC Main": main, "MEXC Other": obs(d, "MEXC Other", online("MEXC Other"))})
    o = replace(o, bots=running)
    assert plan(d, o, NOW) == (
        start_bot("BTC Bot", "MEXC Other", 'connection "MEXC Other" online'),
    )


def test_renamed_connection_is_a_new_connection_tested_before_its_bots_run() -> None:
    d = desired([conn("MEXC Renamed")], [strat("BTC Bot", "MEXC Renamed")])
    old = ConnectionObservation("MEXC Main", "mexc", online(), "fp-of-the-old-name")
    o = Observed({"MEXC Main": old}, {"BTC Bot": bot("BTC Bot", BotState.RUNNING)})
    assert plan(d, o, NOW) == (
        ForgetConnection("MEXC Main"),
        TestConnection("MEXC Renamed", "new connection"),
        waiting_bot("BTC Bot", "MEXC Renamed"),
    )


def test_unchanged_connection_keeps_its_result_until_due() -> None:
    d = desired([conn()], [strat()])
    o = Observed(
        connections={"MEXC Main": obs(d, "MEXC Main", online(), next_at=NOW + 1)},
        bots={"BTC Bot": bot("BTC Bot", BotState.RUNNING)},
    )
    assert plan(d, o, NOW) == ()
    assert plan(d, o, NOW + 1) == (TestConnection("MEXC Main", "scheduled re-check"),)
    assert plan(d, replace(o, in_flight=frozenset({"MEXC Main"})), NOW + 1) == ()


def test_suspended_strategy_and_connection_pause() -> None:
    d = desired([conn(suspend=True)], [strat(suspend=False), strat("S2", suspend=True)])
    o = Observed(connections={"MEXC Main": obs(d, "MEXC Main", online())})
    actions = plan(d, o, NOW)
    reasons = {
        a.strategy: a.reason
        for a in actions
        if isinstance(a, BotCommand) and a.gate is Gate.PAUSE and not a.pending
    }
    assert reasons == {"BTC Bot": 'connection "MEXC Main" suspended', "S2": "strategy suspended"}
    assert not any(isinstance(a, TestConnection) for a in actions)
    assert actions[0] == ForgetConnection("MEXC Main")  # its old result is not current


def test_withdraw_permission_never_runs_even_if_status_online() -> None:
    d = desired([conn()], [strat()])
    rep = report("MEXC Main", ConnectionStatus.ONLINE, withdraw=True)
    o = Observed(
        connections={"MEXC Main": obs(d, "MEXC Main", rep)},
        bots={"BTC Bot": bot("BTC Bot", BotState.RUNNING)},
    )
    (action,) = plan(d, o, NOW)
    assert isinstance(action, BotCommand)
    assert action.gate is Gate.PAUSE
    assert "withdraw_enabled" in action.reason


def test_restored_running_bot_waits_paused_for_the_first_test_in_this_process() -> None:
    # A bot persisted as running must not run on a key nobody has tested since the restart.
    d = desired([conn()], [strat()])
    restored = Observed(bots={"BTC Bot": bot("BTC Bot", BotState.RUNNING)})
    waiting = waiting_bot("BTC Bot", "MEXC Main")
    assert plan(d, restored, NOW) == (TestConnection("MEXC Main", "new connection"), waiting)
    testing = replace(restored, in_flight=frozenset({"MEXC Main"}))
    assert plan(d, testing, NOW) == (waiting,)
    assert plan(Desired(None), restored, NOW) == (
        pause_bot("BTC Bot", "MEXC Main", "no valid config"),
    )


# -- properties -----------------------------------------------------------------------------

CONNS = ("Conn A", "Conn B", "Conn C")
STRATS = ("Bot 1", "Bot 2", "Bot 3", "Bot 4")
REPORTS = st.sampled_from(
    [
        None,
        "online",
        "degraded",
        ErrorClass.INVALID_KEY,
        ErrorClass.EXCHANGE_UNAVAILABLE,
        ErrorClass.NO_TRADE_PERMISSION,
        "withdraw",
    ]
)


def _report(name: str, kind: object):  # type: ignore[no-untyped-def]
    if kind is None:
        return None
    if kind == "online":
        return online(name)
    if kind == "degraded":
        return report(name, ConnectionStatus.DEGRADED)
    if kind == "withdraw":
        return report(name, ConnectionStatus.ONLINE, withdraw=True)
    assert isinstance(kind, ErrorClass)
    return failed(name, kind)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Desired, Observed, float]:
    present = draw(st.lists(st.sampled_from(CONNS), unique=True))
    connections = [
        conn(
            n, key=f"KEY{n.replace(' ', '')}{draw(st.integers(0, 1))}", suspend=draw(st.booleans())
        )
        for n in present
    ]
    strategies = [
        strat(s, draw(st.sampled_from(CONNS)), suspend=draw(st.booleans()))
        for s in draw(st.lists(st.sampled_from(STRATS), unique=True))
    ]
    d = Desired(None) if draw(st.integers(0, 9)) == 0 else desired(connections, strategies)
    observations = {}
    for n in draw(st.lists(st.sampled_from(CONNS), unique=True)):
        observations[n] = ConnectionObservation(
            name=n,
            exchange="mexc",
            report=_report(n, draw(REPORTS)),
            fingerprint=draw(st.sampled_from([d.fingerprints.get(n, "x"), "stale"])),
            next_check_at=draw(st.sampled_from([None, NOW - 1, NOW + 1])),
            inputs_digest=draw(st.sampled_from(["in", "old"])),
        )
    bots = {}
    for s in draw(st.lists(st.sampled_from(STRATS), unique=True)):
        bots[s] = BotStatus(
            strategy=s,
            connection=draw(st.sampled_from(CONNS)),
            state=draw(st.sampled_from(list(BotState))),
            reason=draw(st.sampled_from(["x", "no valid config"])),
            since=1.0,
        )
    in_flight = frozenset(draw(st.lists(st.sampled_from(CONNS), unique=True)))
    return d, Observed(observations, bots, in_flight), NOW


def simulate(o: Observed, actions: tuple[Action, ...]) -> Observed:
    """What the loop does with a plan, minus the test outcome (tests are then in flight)."""
    conns = dict(o.connections)
    bots = dict(o.bots)
    in_flight = set(o.in_flight)
    for a in actions:
        if isinstance(a, ForgetConnection):
            conns.pop(a.name)
        elif isinstance(a, TestConnection):
            in_flight.add(a.name)
        else:
            bots[a.strategy] = transition(bots.get(a.strategy), a, NOW)
    return Observed(conns, bots, frozenset(in_flight))


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_planner_is_idempotent(world: tuple[Desired, Observed, float]) -> None:
    d, o, now = world
    assert plan(d, simulate(o, plan(d, o, now)), now) == ()


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_planner_is_deterministic(world: tuple[Desired, Observed, float]) -> None:
    d, o, now = world
    reordered = Observed(
        dict(reversed(list(o.connections.items()))),
        dict(reversed(list(o.bots.items()))),
        o.in_flight,
    )
    assert plan(d, o, now) == plan(d, o, now) == plan(d, reordered, now)


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_withdraw_enabled_key_never_runs_a_bot(world: tuple[Desired, Observed, float]) -> None:
    d, o, now = world
    after = simulate(o, plan(d, o, now))
    for b in after.bots.values():
        ob = o.connections.get(b.connection)
        if ob is not None and ob.report is not None and ob.report.permissions.get("withdraw"):
            assert b.state is not BotState.RUNNING


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_a_bot_runs_only_on_a_healthy_result_of_the_key_configured_now(
    world: tuple[Desired, Observed, float],
) -> None:
    d, o, now = world
    after = simulate(o, plan(d, o, now))
    for b in after.bots.values():
        if b.state is not BotState.RUNNING:
            continue
        ob = o.connections.get(b.connection)
        assert d.state is not None
        assert ob is not None
        assert ob.report is not None
        assert ob.report.healthy
        assert ob.fingerprint == d.fingerprints[b.connection]
