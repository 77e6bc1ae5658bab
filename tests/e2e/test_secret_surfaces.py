"""`backfuture run` at DEBUG, through a failing and a healthy connection test: no canary secret
(nor the age private key) in its logs, /status, /metrics or any file of the state directory
(SQLite database, WAL), including after a SIGTERM that persists bot state.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.configrepo import CANARIES, CANARY_KEY, CANARY_SECRET, mexc_connection, strategy
from tests.helpers.processes import ConfigRepo, DaemonProc, SandboxProc, mexc_key, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProc]:
    sb = SandboxProc(tmp_path / "sandbox", [mexc_key(CANARY_KEY, CANARY_SECRET)])
    yield sb
    sb.stop()


def test_debug_daemon_leaves_no_secret_anywhere(sandbox: SandboxProc, tmp_path: Path) -> None:
    conn = mexc_connection(endpoints={"spot": sandbox.mexc_url})
    doc = {"version": 1, "connections": [conn], "strategies": [strategy()]}
    repo = ConfigRepo(tmp_path / "repo", {"c.yaml": doc})
    sandbox.key(CANARY_KEY, ip_whitelist=["10.9.9.9"])  # first test fails: ip_not_allowed
    daemon = DaemonProc(
        repo.path,
        tmp_path,
        repo.key_file,
        extra_env={"BACKFUTURE_LOG_LEVEL": "DEBUG", "BACKFUTURE_LOG_FORMAT": "json"},
    )
    try:
        wait_until(lambda: "ip_not_allowed" in daemon.metrics() or None, 20, "a failed test")
        sandbox.key(CANARY_KEY, ip_whitelist=["127.0.0.1"])
        wait_until(lambda: daemon.bots().get("BTC ETH New Groups") == "running" or None, 20, "bot")
        live = {"status": str(daemon.get("/status")), "metrics": daemon.metrics()}
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
    finally:
        daemon.stop()
    age_secret = repo.key_file.read_text().strip().splitlines()[-1]
    texts = live | {"logs": daemon.output()}
    for f in sorted(p for p in daemon.state_dir.rglob("*") if p.is_file()):
        texts[str(f)] = f.read_bytes().decode("utf-8", "replace")
    assert any(name.endswith(".sqlite") for name in texts), list(texts)
    assert '"level": "DEBUG"' in texts["logs"]
    for where, text in texts.items():
        for secret in (*CANARIES, age_secret):
            assert secret not in text, f"a secret leaked into {where}"
