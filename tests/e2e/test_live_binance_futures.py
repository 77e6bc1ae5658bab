"""End to end, live futures on Binance USDⓈ-M in `backfuture run` (real daemon and sandbox
processes), what only Binance's tests ask: an account in Hedge Mode sends nothing (the log says
why and to switch to One-way) until its owner switches it, then trades without a restart. The
long every futures venue trades is run on Binance by test_live_venues_futures.py
(live_futures_support.py is the harness).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.live_futures_support import BINANCE, FuturesSandbox, config, stopped
from tests.helpers.processes import DaemonProc, wait_until

pytestmark = pytest.mark.e2e


def test_an_account_in_hedge_mode_sends_no_futures_order_until_one_way(tmp_path: Path) -> None:
    sandbox = FuturesSandbox(tmp_path / "sandbox", BINANCE)
    try:
        sandbox.market(price=60000.0)
        sandbox.binance_position_mode(hedge=True)
        repo = config(tmp_path, sandbox)
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=BINANCE.env)
        try:
            wait_until(lambda: daemon.connection(BINANCE.conn).get("status") == "online" or None,
                       30, "the Binance connection online")  # fmt: skip
            wait_until(lambda: "Hedge Mode" in daemon.output() or None, 30, "why, in the log")
            assert "One-way" in daemon.output()
            time.sleep(1.0)
            assert sandbox.account()["orders"] == []
            sandbox.binance_position_mode(hedge=False)  # the owner fixes it: trades, no restart
            orders = wait_until(lambda: sandbox.account()["orders"] or None, 45, "the first order")
            assert {o["market"] for o in orders} == {"futures"}
        finally:
            stopped(daemon)
        for secret in BINANCE.secrets:
            assert secret not in daemon.output()
    finally:
        sandbox.stop()
