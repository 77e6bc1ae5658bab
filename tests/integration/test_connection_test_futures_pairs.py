"""Futures versus spot pairs in the connection test, end to end with real ccxt: a KuCoin futures
strategy maps `BTC/USDT` to the linear perpetual, a spot-only pair fails for a futures strategy on
both exchanges, and one KuCoin key serves spot and futures strategies at once.
"""

from __future__ import annotations

import pytest

from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus, ErrorClass
from backfuture_daemon.health import StepStatus as S
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import (
    FULL,
    LOOPBACK_POLICY,
    add_key,
    connection_for,
    report_for,
    step_of,
    strategy,
)

pytestmark = pytest.mark.integration


async def test_kucoin_futures_strategy_maps_to_the_linear_perpetual(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await report_for(
        tester, sandbox, "kucoin", pairs=("BTC/USDT", "ETH/USDT"), market="futures",
        permissions=["General", "Futures"],
    )  # fmt: skip
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert step_of(report, "pairs").status is S.PASS
    futures = step_of(report, "futures")
    assert futures.status is S.PASS
    assert "USDT" in futures.reason
    assert "available" in futures.reason


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_spot_only_pair_fails_for_a_futures_strategy(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    perms = [*FULL[exchange], *(["Futures"] if exchange == "kucoin" else [])]
    report = await report_for(
        tester, sandbox, exchange, pairs=("SOL/USDT",), market="futures", permissions=perms
    )
    pairs = step_of(report, "pairs")
    assert (pairs.status, pairs.error_class) == (S.FAIL, ErrorClass.PAIR_NOT_TRADABLE)
    assert "SOL/USDT" in pairs.reason, pairs.reason
    assert "futures" in pairs.reason, pairs.reason


async def test_spot_and_futures_strategies_on_one_kucoin_key(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    key = add_key(sandbox, "kucoin", permissions=["General", "Spot", "Futures"])
    conn = connection_for(sandbox, key)
    spot = strategy(conn, ("SOL/USDT",), "spot")
    fut = strategy(conn, ("BTC/USDT",), "futures").model_copy(update={"name": "Futures bot"})
    report = await tester.test(conn, [spot, fut], LOOPBACK_POLICY)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
