"""`backfuture plan`: the daemon's /status read back into the planner gives no changes for the
running revision and the right changes for another one; rendering keeps secrets out."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backfuture_daemon.bots.lifecycle import BotLifecycle
from backfuture_daemon.bots.model import BotCommand, BotState, Gate
from backfuture_daemon.commands.plan import compare, observed_from_status
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.revision import Probe
from backfuture_daemon.errors import UsageError
from backfuture_daemon.health import ErrorClass
from backfuture_daemon.reconciler.loop import Reconciler
from backfuture_daemon.reconciler.plan import TestConnection
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
    kinds = [a.gate if isinstance(a, BotCommand) else type(a) for a in result.actions]
    assert TestConnection in kinds
    assert Gate.PAUSE in kinds  # paused until the new key passes
    assert Gate.STOP in kinds  # ETH Bot: strategy removed
    text = result.render() + str(result.to_json())
    assert KEY not in text
    assert "mx0vROTATEDkey9999" not in text
    assert 'test connection "MEXC Main": key or settings changed' in text


def test_fresh_start_tests_everything_and_adds_bots() -> None:
    result = compare(state(), None)
    kinds = [a.gate if isinstance(a, BotCommand) else type(a) for a in result.actions]
    assert kinds == [TestConnection, TestConnection, Gate.PAUSE, Gate.PAUSE]
    assert all(a.pending for a in result.actions if isinstance(a, BotCommand))
    assert "starts once its connection passes" in result.render()
    assert "plan: 2 bot(s) added, 2 connection test(s)" in result.render()


# -- a config plan cannot read, a /status it cannot read back: exit 2 naming what -----------


def _plan(path: Path, *extra: str) -> int:
    from backfuture_daemon.cli import main

    return main(["plan", str(path), *extra])


@pytest.mark.parametrize(
    "error", [ValueError("bad int 'SECRETscalar77'"), KeyError("x"), TypeError]
)
def test_plan_exits_2_whatever_the_loader_raises(
    error: BaseException | type[BaseException],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from backfuture_daemon.configuration import loading

    def broken(path: Path, **_kw: object) -> DesiredState:
        raise error

    monkeypatch.setattr(loading, "load_revision", broken)
    assert _plan(tmp_path) == 2
    err = capsys.readouterr().err
    assert "cannot read the config" in err
    assert "SECRETscalar77" not in err  # an unexpected error's text may echo a file's value
    assert "Traceback" not in err


def _status(**bot: object) -> dict[str, object]:
    good = {
        "strategy": "BTC Bot",
        "connection": "MEXC Main",
        "state": "running",
        "reason": "ok",
        "since": 12.5,
    }
    return {"connections": [{"name": "MEXC Main"}], "bots": [good | bot]}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_status(state="zombie"), "bots[0].state: unknown value"),
        (_status(since="yesterday"), "bots[0].since: expected a number"),
        (_status(strategy=None), "bots[0].strategy: missing"),
        ({"connections": [{"exchange": "mexc"}]}, "connections[0].name: missing"),
        ({"connections": [{"name": "A", "report": {"status": "?"}}]}, "report.status"),
        ({"connections": "MEXC Main"}, "connections: expected a list"),
        ({"connections": [], "bots": [7]}, "bots[0]: expected an object"),
        (_status(since=float("nan")), "bots[0].since: expected a finite number"),
        (
            {"connections": [{"name": "A", "report": {"status": "online", "steps": 5}}]},
            "connections[0].report.steps: expected a list",
        ),
        (
            {"connections": [{"name": "A", "report": {"error_classes": {"a": 1}}}]},
            "connections[0].report.error_classes: expected a list",
        ),
        (_status(since=10**400), "bots[0].since: expected a finite number"),
        (
            {"connections": [{"name": "A", "scheduling": {"consecutive_failures": float("inf")}}]},
            "connections[0].scheduling.consecutive_failures: expected a finite number",
        ),
    ],
)
def test_a_status_it_cannot_read_back_names_the_field(doc: dict[str, object], field: str) -> None:
    with pytest.raises(UsageError, match=re.escape(field)):
        observed_from_status(doc)


@pytest.mark.parametrize(
    ("config", "field"),
    [(["x"], "config: expected an object"), ({"applied_revision": 7}, "config.applied_revision")],
)
def test_a_status_whose_config_cannot_be_read_names_the_field(config: object, field: str) -> None:
    with pytest.raises(UsageError, match=re.escape(field)):
        compare(state(), {**_status(), "config": config})


def test_a_good_status_still_reads_back() -> None:
    observed = observed_from_status(_status())
    assert observed.bots["BTC Bot"].since == 12.5
    assert observed.in_flight == frozenset({"MEXC Main"})


def _serve_once(body: bytes) -> tuple[HTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (json.dumps(_status(since="soon")).encode(), "bots[0].since: expected a number"),
        (b"[" * 100_000 + b"]" * 100_000, "not a backfuture /status document"),
        (b"{not json", "cannot read the daemon's status"),
    ],
)
def test_plan_against_a_hostile_status_exits_2_with_a_clear_message(
    body: bytes,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from backfuture_daemon.configuration import loading

    monkeypatch.setattr(loading, "load_revision", lambda path, **_kw: state())
    server, thread = _serve_once(body)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert _plan(tmp_path, "--against", url) == 2
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_bad_setting_is_named_as_a_setting_not_as_an_unreadable_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKFUTURE_EGRESS_IPS", "not-an-ip")
    assert _plan(tmp_path) == 2
    err = capsys.readouterr().err
    assert "BACKFUTURE_EGRESS_IPS" in err
    assert "cannot read the config" not in err


# Any JSON in any field of a /status document: read back, or a UsageError naming the field.
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["running", "paused", "stopped", "online", "failed", "pass", "withdraw"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_FIELDS = [
    "name",
    "exchange",
    "fingerprint",
    "inputs_digest",
    "scheduling",
    "report",
    "strategy",
    "connection",
    "state",
    "reason",
    "since",
    "mode",
    "market",
]
_ITEM = st.one_of(_JSON, st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=6))
_REPORT = st.dictionaries(
    st.sampled_from(["status", "steps", "error_classes", "permissions"]), _JSON, max_size=4
)
_DOC = st.fixed_dictionaries(
    {},
    optional={
        "connections": st.one_of(
            _JSON,
            st.lists(
                st.one_of(_ITEM, st.fixed_dictionaries({"name": _JSON, "report": _REPORT})),
                max_size=3,
            ),
        ),
        "bots": st.one_of(_JSON, st.lists(_ITEM, max_size=3)),
        "config": _JSON,
        "fingerprint_salt": _JSON,
    },
)


_FUZZ_STATE = state()


@settings(max_examples=300, deadline=None)
@given(_DOC)
def test_any_status_document_reads_back_or_names_a_field(doc: dict[str, object]) -> None:
    error: UsageError | None = None
    try:
        compare(_FUZZ_STATE, doc)
    except UsageError as e:
        error = e
    assert error is None or "the /status document's field" in str(error)


async def test_ladders_show_without_counting_as_changes() -> None:
    doc = await running_status(state())
    result = compare(state(), doc)
    assert result.actions == ()
    text = result.render()
    assert "no changes" in text
    assert '  "BTC Bot": ladder for an entry at 100 (sizes in USDT):' in text
    assert '  "ETH Bot": ladder for an entry at 100 (sizes in USDT):' in text
    out = result.to_json()
    assert out["changes"] == 0
    assert [s["name"] for s in out["strategies"]] == ["BTC Bot", "ETH Bot"]
    assert all(s["ladder_total"]["total_quote"] <= 100 for s in out["strategies"])
    assert KEY not in text + json.dumps(out)


def test_a_list_where_an_error_class_belongs_is_no_crash() -> None:
    # Found by hypothesis: `error_classes: [[]]` raised TypeError (unhashable list).
    from backfuture_daemon.commands.plan import _error_class

    assert _error_class([]) is None
    assert _error_class({"a": 1}) is None
    assert _error_class("withdraw_enabled") is not None
