"""End to end, live futures on KuCoin in `backfuture run` (real daemon and sandbox processes),
what only KuCoin's tests ask: a key that may withdraw (Transfer) never trades futures until the
permission is gone, and a deleted state directory is rebuilt from the futures account with
nothing sent or cancelled. The long every futures venue trades is run on KuCoin by
test_live_venues_futures.py (live_futures_support.py is the harness).
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live_futures_support import (
    KUCOIN,
    KUCOIN_PERMS,
    FuturesSandbox,
    bot,
    config,
    stopped,
)
from tests.helpers.processes import DaemonProc, wait_until

pytestmark = pytest.mark.e2e
CONN, BOT = KUCOIN.conn, KUCOIN.bot


def start(tmp_path: Path, permissions: list[str]) -> FuturesSandbox:
    """The sandbox (one KuCoin key with a futures wallet of 1,000 USDT, BTC at 60,000) and the
    config repository with the live futures strategy."""
    sandbox = FuturesSandbox(tmp_path / "sandbox", KUCOIN)
    try:
        sandbox.update_key(permissions=permissions)
        sandbox.market(price=60000.0)
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def test_a_withdraw_enabled_key_never_trades_futures_until_the_permission_is_gone(
    tmp_path: Path,
) -> None:
    sandbox = start(tmp_path, [*KUCOIN_PERMS, "Transfer"])  # Transfer: withdrawal on KuCoin
    try:
        repo = config(tmp_path, sandbox)
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=KUCOIN.env)
        try:
            wait_until(lambda: daemon.connection(CONN).get("status") == "failed", 30, "failed")
            for _ in range(20):  # 2 s of 0.2 s ticks
                assert sandbox.account()["orders"] == []
                time.sleep(0.1)
            assert daemon.bots()[BOT] == "paused"
            sandbox.update_key(permissions=KUCOIN_PERMS)
            orders = wait_until(lambda: sandbox.account()["orders"], 60, "the first futures order")
            assert {o["market"] for o in orders} == {"futures"}
        finally:
            stopped(daemon)
        for canary in KUCOIN.secrets:
            assert canary not in daemon.output(), canary
    finally:
        sandbox.stop()


FIELDS = ("group_id", "base_price", "average_price", "amount", "filled_adds", "committed_quote",
          "take_profit_price")  # fmt: skip


def live_book(daemon: DaemonProc) -> dict[str, Any] | None:
    entry = bot(daemon, BOT)
    if entry.get("gate") != "run" or not entry.get("groups"):
        return None
    return {
        "committed_quote": entry["committed_quote"],
        "groups": [{k: g[k] for k in FIELDS} for g in entry["groups"]],
    }


def test_a_deleted_state_directory_is_rebuilt_from_the_futures_account(tmp_path: Path) -> None:
    sandbox = start(tmp_path, KUCOIN_PERMS)
    state = tmp_path / "state"
    try:
        repo = config(tmp_path, sandbox)
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state,
                            extra_env=KUCOIN.env)  # fmt: skip
        try:
            wait_until(lambda: live_book(daemon), 30, "a live futures group")
            # add 1 (~59,100) fills, the take profit moves
            sandbox.market(path=[[0, 60000], [0.5, 59000]])

            def after_add() -> dict[str, Any] | None:
                book = live_book(daemon)
                return book if book and book["groups"][0]["filled_adds"] == 1 else None

            wait_until(after_add, 30, "add 1 filled")
            time.sleep(1.5)  # quiet: the new take profit rests
            before = live_book(daemon)
            orders_before = sandbox.account()["orders"]
        finally:
            daemon.p.send_signal(signal.SIGKILL)
            daemon.wait(10)
            daemon.stop()
        shutil.rmtree(state)  # the volume is lost

        again = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state,
                           extra_env=KUCOIN.env)  # fmt: skip
        try:
            wait_until(lambda: live_book(again) == before, 30, "the same book rebuilt")
            time.sleep(1.0)
            assert live_book(again) == before
            assert sandbox.account()["orders"] == orders_before  # nothing sent or cancelled
            assert "live book rebuilt from the exchange" in again.output()
        finally:
            stopped(again)
    finally:
        sandbox.stop()
