"""End to end: paper bots trading inside `backfuture run` on the sandbox's controlled market.

Real processes only: the sandbox (MEXC venue over HTTP, price moved by `POST /__sandbox/market`)
and the daemon on a git repo of SOPS-encrypted config, its bots ticking every 0.2 s. What the
tests see is what an operator sees: /status (groups, adds, mode, reason, PnL), /metrics and the
daemon's SQLite file, read after the daemon exits. The ladder is tests/helpers/paperbots.LADDER.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.configrepo import CANARIES, CANARY_KEY, CANARY_SECRET, mexc_connection
from tests.helpers.paperbots import (
    PAIR,
    bot,
    groups,
    market_price,
    metric_value,
    order_count,
    paper_strategy,
    set_market,
)
from tests.helpers.processes import (
    MEXC_TRADE,
    ConfigRepo,
    DaemonProc,
    SandboxProc,
    http,
    mexc_key,
    wait_until,
)

pytestmark = pytest.mark.e2e

CONN, BOT = "MEXC Paper", "BTC Paper DCA"
TICK_ENV = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProc]:
    sb = SandboxProc(tmp_path_factory.mktemp("sandbox"), [mexc_key(CANARY_KEY, CANARY_SECRET)])
    yield sb
    sb.stop()


@pytest.fixture(autouse=True)
def healthy_key_and_held_price(sandbox: SandboxProc) -> Iterator[None]:
    hold(sandbox, 100.0)
    yield
    sandbox.key(CANARY_KEY, permissions=MEXC_TRADE, ip_whitelist=["127.0.0.1"])
    set_market(sandbox.mexc_url, resume=True)


def hold(sandbox: SandboxProc, price: float) -> None:
    set_market(sandbox.mexc_url, price=price)
    wait_until(lambda: market_price(sandbox.mexc_url) == price, 5, f"sandbox price {price}")


def move(sandbox: SandboxProc, start: float, end: float, seconds: float = 1.0) -> None:
    set_market(sandbox.mexc_url, path=[[0, start], [seconds, end]])


def repo_for(sandbox: SandboxProc, tmp_path: Path) -> ConfigRepo:
    return ConfigRepo(
        tmp_path / "repo",
        {
            "main.yaml": {
                "version": 1,
                "policy": {"egress_ips": ["127.0.0.1"]},
                "connections": [mexc_connection(CONN, endpoints={"spot": sandbox.mexc_url})],
                "strategies": [paper_strategy(BOT, CONN)],
            }
        },
    )


def start_daemon(repo: ConfigRepo, tmp_path: Path, state_dir: Path | None = None) -> DaemonProc:
    return DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state_dir, extra_env=TICK_ENV)


def entry(daemon: DaemonProc) -> dict[str, Any]:
    found = bot(daemon.status(), BOT)
    assert found is not None, f"bot {BOT!r} not in /status"
    return found


def one_group(daemon: DaemonProc) -> dict[str, Any] | None:
    found = groups(daemon.status(), BOT)
    return found[0] if len(found) == 1 else None


BOOK_FIELDS = (
    "group_id",
    "opened_at",
    "base_price",
    "average_price",
    "amount",
    "filled_adds",
    "committed_quote",
    "take_profit_price",
    "mode",
    "recovery_reason",
)


def book_of(g: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the bot's book holds of a group (not the market fields /status adds beside it)."""
    return None if g is None else {k: g[k] for k in BOOK_FIELDS}


def group_where(daemon: DaemonProc, what: str, timeout: float = 15, **want: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        g = one_group(daemon)
        return g if g is not None and all(g[k] == v for k, v in want.items()) else None

    return wait_until(check, timeout, what, step=0.1)


def opened(daemon: DaemonProc) -> dict[str, Any]:
    """The bot runs and holds one group whose base order filled near the held price of 100,
    its take profit and adds resting."""

    def settled() -> dict[str, Any] | None:
        g = one_group(daemon)
        ready = g is not None and g["take_profit_price"] is not None
        return g if ready and order_count(entry(daemon), "buy", "open") == 2 else None

    g = wait_until(settled, 15, "a group opened with its adds and take profit", step=0.1)
    assert g["filled_adds"] == 0
    assert g["mode"] == "normal"
    assert g["pair"] == PAIR
    assert g["base_price"] is not None
    assert 100 <= float(g["base_price"]) < 100.6  # a marketable limit at most 0.5 % above ask
    assert entry(daemon)["state"] == "running"
    return g


def fall_into_recovery(sandbox: SandboxProc, daemon: DaemonProc) -> dict[str, Any]:
    """96 is through add 1 (~98.5) and add 2 (~96.7), above add 3 (~94.5): two of three adds
    used crosses adds_used_ratio 0.6."""
    move(sandbox, 100, 96, seconds=4.0)  # add 1 crossed after ~1.5 s, add 2 after ~3.3 s
    one = group_where(daemon, "add 1 filled", filled_adds=1)
    assert one["mode"] == "normal"  # one add of three: below adds_used_ratio
    assert float(one["average_price"]) < float(one["base_price"])
    g = group_where(daemon, "adds filled, recovery", filled_adds=2, mode="recovery")
    assert float(g["average_price"]) < float(one["average_price"])
    assert g["recovery_reason"] == "adds_used"
    assert float(g["average_price"]) < float(g["base_price"])
    assert float(g["take_profit_price"]) < 100  # recovery TP: 0.4 % above the lowered average
    e = entry(daemon)
    assert float(e["committed_quote"]) <= float(e["margin_limit"]) == 100
    assert order_count(e, "buy", "filled") == 3  # base + two adds
    return g


def closed_at_take_profit(sandbox: SandboxProc, daemon: DaemonProc) -> dict[str, Any]:
    move(sandbox, 96, 101)

    def closed() -> dict[str, Any] | None:
        e = entry(daemon)
        return e if e["closed_groups"] == 1 else None

    e = wait_until(closed, 15, "the group closed at take profit", step=0.1)
    assert float(e["realized_pnl"]) > 0
    assert order_count(e, "sell", "filled") == 1
    assert e["last_error"] == ""
    pnl = wait_until(
        lambda: metric_value(
            daemon.metrics(),
            "backfuture_bot_realized_pnl_quote",
            strategy=BOT,
            trading_mode="paper",
        ),
        5,
        "realized PnL in /metrics",
    )
    assert pnl == pytest.approx(float(e["realized_pnl"]))
    return e


def assert_no_canary(daemon: DaemonProc) -> None:
    for where, text in {
        "logs": daemon.output(),
        "metrics": daemon.metrics(),
        "status": str(daemon.get("/status")),
    }.items():
        for canary in CANARIES:
            assert canary not in text, f"canary secret leaked into {where}"


def sql(state_dir: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    """Read the daemon's SQLite file (read-only; the daemon has exited)."""
    conn = sqlite3.connect(f"file:{state_dir / 'backfuture.sqlite'}?mode=ro", uri=True)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def test_paper_bot_opens_adds_recovers_and_closes_at_take_profit(
    sandbox: SandboxProc, tmp_path: Path
) -> None:
    repo = repo_for(sandbox, tmp_path)
    daemon = start_daemon(repo, tmp_path)
    try:
        opened(daemon)
        fall_into_recovery(sandbox, daemon)
        metrics = daemon.metrics()
        assert metric_value(metrics, "backfuture_bot_groups", strategy=BOT, mode="recovery") == 1
        assert metric_value(metrics, "backfuture_bot_groups", strategy=BOT, mode="normal") == 0
        closed_at_take_profit(sandbox, daemon)
        assert_no_canary(daemon)
    finally:
        daemon.stop()
    assert daemon.p.returncode == 0


def test_paper_bot_resumes_its_group_after_a_daemon_restart(
    sandbox: SandboxProc, tmp_path: Path
) -> None:
    repo = repo_for(sandbox, tmp_path)
    state_dir = tmp_path / "state"
    first = start_daemon(repo, tmp_path, state_dir)
    try:
        opened(first)
        before = fall_into_recovery(sandbox, first)
        first.signal(signal.SIGTERM)
        assert first.wait(20) == 0
    finally:
        first.stop()
    assert not [c for c in CANARIES if c in first.output()], "canary secret in the first log"

    second = start_daemon(repo, tmp_path, state_dir)
    try:
        # Before the price moves again: the same group, read back from SQLite.
        resumed = group_where(second, "the group resumed", group_id=before["group_id"])
        assert book_of(resumed) == book_of(before)
        e = wait_until(lambda: (x := entry(second))["state"] == "running" and x, 15, "running")
        assert order_count(e, "buy", "filled") == 3  # nothing bought twice
        closed_at_take_profit(sandbox, second)
        assert_no_canary(second)
    finally:
        second.stop()
    assert second.p.returncode == 0
    # The SQLite ledger: one base order ever for the group; fills base, add 1, add 2, then the
    # take profit's sell, each once.
    group = str(before["group_id"])
    fills = sql(
        state_dir,
        "SELECT o.purpose, o.step, o.side FROM orders o JOIN fills f"
        " ON f.strategy = o.strategy AND f.mode = o.mode AND f.client_order_id = o.client_order_id"
        " WHERE o.group_id = ? ORDER BY f.at",
        group,
    )
    assert [f[::2] for f in fills] == [
        ("base", "buy"),
        ("add", "buy"),
        ("add", "buy"),
        ("take_profit", "sell"),
    ]
    assert [f[1] for f in fills[:3]] == [0, 1, 2]
    bases = "SELECT count(*) FROM orders WHERE group_id = ? AND purpose = 'base'"
    assert sql(state_dir, bases, group) == [(1,)]
    at_exchange = (
        "SELECT count(*) FROM paper_orders p JOIN orders o ON o.client_order_id ="
        " p.client_order_id WHERE o.group_id = ? AND o.purpose = 'base'"
    )
    assert sql(state_dir, at_exchange, group) == [(1,)]  # the paper venue got one base order too


def test_paper_bot_pauses_while_its_connection_fails_and_resumes_when_healthy(
    sandbox: SandboxProc, tmp_path: Path
) -> None:
    repo = repo_for(sandbox, tmp_path)
    daemon = start_daemon(repo, tmp_path)
    try:
        g = opened(daemon)
        # The key loses its trade permission; a forced reconcile re-tests the connection.
        sandbox.key(CANARY_KEY, permissions=["SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"])
        http(daemon.url + "/reconcile", "POST")

        def paused() -> dict[str, Any] | None:
            e = entry(daemon)
            return e if e["state"] == "paused" and e["gate"] == "pause" else None

        e = wait_until(paused, 15, "the bot paused", step=0.1)
        assert book_of(one_group(daemon)) == book_of(g)
        assert "no_trade_permission" in e["reason"]
        assert daemon.connection(CONN)["status"] == "failed"
        orders_before = e["orders"]
        # Through add 1 (~98.5) while paused: nothing is looked at, nothing is sent.
        hold(sandbox, 98.0)
        ticks_at = e["last_tick_at"]
        wait_until(lambda: entry(daemon)["last_tick_at"] >= ticks_at + 1.0, 5, "5 paused ticks")
        e = entry(daemon)
        assert e["state"] == "paused"
        assert e["orders"] == orders_before
        assert book_of(one_group(daemon)) == book_of(g)  # no add filled, nothing moved

        sandbox.key(CANARY_KEY, permissions=MEXC_TRADE)
        http(daemon.url + "/reconcile", "POST")
        resumed = group_where(daemon, "add 1 filled after resume", filled_adds=1)
        assert resumed["group_id"] == g["group_id"]
        assert resumed["base_price"] == g["base_price"]
        e = entry(daemon)
        assert e["state"] == "running"
        assert e["gate"] == "run"
        assert daemon.connection(CONN)["status"] in ("online", "degraded")
        assert order_count(e, "buy", "filled") == 2
        assert e["last_error"] == ""
        assert_no_canary(daemon)
    finally:
        daemon.stop()
    assert daemon.p.returncode == 0
