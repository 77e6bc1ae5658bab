"""End to end, live futures on Bybit in `backfuture run` (real daemon and sandbox processes),
what only Bybit's tests ask: the strategy on a unified account left in cross margin sends
nothing (the log and /status say why and what to do) until its owner isolates it, then trades
after its back-off without a restart and the refusal leaves /status. The long every futures
venue trades is run on Bybit by test_live_venues_futures.py (live_futures_support.py is the
harness).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live_futures_support import BYBIT, FuturesSandbox, config, stopped
from tests.helpers.processes import DaemonProc, wait_until

pytestmark = pytest.mark.e2e


def test_an_account_left_in_cross_margin_sends_no_futures_order(tmp_path: Path) -> None:
    sandbox = FuturesSandbox(tmp_path / "sandbox", BYBIT)
    try:
        sandbox.market(price=60000.0)
        repo = config(tmp_path, sandbox)  # no isolate: the unified account is cross margin
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=BYBIT.env)
        try:
            wait_until(lambda: daemon.connection(BYBIT.conn).get("status") == "online" or None,
                       30, "the Bybit connection online")  # fmt: skip
            # the order is refused before anything is sent, and the log says why and what to do
            wait_until(lambda: "not isolated" in daemon.output() or None, 30, "why, in the log")
            assert "Isolated Margin" in daemon.output()
            # /status says it too, on the bot, until an order passes
            bot = wait_until(lambda: _bot(daemon, "not isolated"), 30, "why, in /status")
            assert bot["last_error"].startswith("order_rejected: ")
            time.sleep(1.0)
            assert sandbox.account()["orders"] == []
            sandbox.bybit_isolate()  # the owner fixes it: it trades after its back-off
            orders = wait_until(lambda: sandbox.account()["orders"] or None, 45, "the first order")
            assert {o["market"] for o in orders} == {"futures"}
            wait_until(lambda: not _bot(daemon, "not isolated") or None, 30,
                       "the refusal gone from /status once an order passed")  # fmt: skip
        finally:
            stopped(daemon)
        for secret in BYBIT.secrets:
            assert secret not in daemon.output()
    finally:
        sandbox.stop()


def _bot(daemon: DaemonProc, error: str) -> dict[str, Any] | None:
    """The bot's /status entry when its last_error contains `error` ("" matches any)."""
    for bot in daemon.status()["bots"]:
        if error in str(bot.get("last_error") or ""):
            return dict(bot)
    return None
