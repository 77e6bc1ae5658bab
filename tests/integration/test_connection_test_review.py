"""Connection-test gaps found in review (issue 3), end to end against the sandbox with real ccxt:
KuCoin HF accounts, V1/V2 keys, InnerTransfer, MEXC read-only withdrawal scope, futures vs spot
pairs, and Retry-After carried into the report.
"""

from __future__ import annotations

import pytest

from backfuture_daemon.configuration.models import Policy
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.health import ConnectionReport, ConnectionStatus, ErrorClass
from backfuture_daemon.health import StepStatus as S
from tests.integration.conftest import Clients
from tests.integration.connection_test_support import (
    FULL,
    LOOPBACK_POLICY,
    add_key,
    connection_for,
    strategy,
)
from tests.integration.test_connection_test_fallback import _proxy

pytestmark = pytest.mark.integration
E = ErrorClass
BOTH = pytest.mark.parametrize("exchange", ["mexc", "kucoin"])


def step(report: ConnectionReport, name: str) -> tuple[S, ErrorClass | None, str]:
    found = next(s for s in report.steps if s.name == name)
    return found.status, found.error_class, found.reason


async def run(
    tester: ConnectionTester,
    sandbox: Sandbox,
    exchange: str,
    *,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    market: str = "spot",
    policy: Policy = LOOPBACK_POLICY,
    **key_kwargs: object,
) -> ConnectionReport:
    key = add_key(sandbox, exchange, **key_kwargs)  # type: ignore[arg-type]
    conn = connection_for(sandbox, key)
    return await tester.test(conn, [strategy(conn, pairs, market)], policy)


async def test_kucoin_hf_account_is_online(
    tester: ConnectionTester, sandbox: Sandbox, clients: Clients
) -> None:
    key = add_key(sandbox, "kucoin", hf=True)
    conn = connection_for(sandbox, key)
    # The pitfall: ccxt asked for type=trade drops the HF account's trade_hf rows.
    plain = clients.kucoin(key.api_key, key.api_secret, key.passphrase)
    await plain.load_markets(False, {"marginables": False})
    balance = await plain.fetch_balance({"type": "trade"})
    assert balance["total"].get("USDT") in (None, 0)
    hf_balance = await plain.fetch_balance({"type": "trade_hf"})
    assert hf_balance["total"]["USDT"] == 1000
    report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert step(report, "auth")[0] is S.PASS
    reason = step(report, "auth")[2]
    assert "HF" in reason, reason
    assert "USDT" in reason, reason
    assert report.permissions["trade"] is True


async def test_kucoin_classic_account_balance_named(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await run(tester, sandbox, "kucoin")
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    reason = step(report, "auth")[2]
    assert "classic" in reason, reason
    assert "USDT" in reason, reason


async def test_kucoin_v2_key_is_invalid_with_a_clear_reason(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await run(tester, sandbox, "kucoin", api_version=2)
    assert report.status is ConnectionStatus.FAILED, report.to_dict()
    status, cls, reason = step(report, "permissions")
    assert (status, cls) == (S.FAIL, E.INVALID_KEY)
    assert "version 2" in reason, reason
    assert "V3" in reason, reason


async def test_kucoin_v1_key_rejected_with_400008(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await run(tester, sandbox, "kucoin", api_version=1)
    status, cls, reason = step(report, "auth")
    assert (status, cls) == (S.FAIL, E.INVALID_KEY)
    assert "400008" in reason, reason
    assert "V3" in reason, reason


async def test_kucoin_inner_transfer_warns(tester: ConnectionTester, sandbox: Sandbox) -> None:
    report = await run(tester, sandbox, "kucoin", permissions=[*FULL["kucoin"], "InnerTransfer"])
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    status, _, reason = step(report, "withdraw")
    assert status is S.WARN
    assert "InnerTransfer" in reason
    assert report.permissions["withdraw"] is False


async def test_kucoin_transfer_and_inner_transfer_still_fails(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    perms = [*FULL["kucoin"], "InnerTransfer", "Transfer"]
    report = await run(tester, sandbox, "kucoin", permissions=perms)
    assert report.status is ConnectionStatus.FAILED
    assert report.error_classes[0] is E.WITHDRAW_ENABLED


async def test_mexc_withdraw_read_scope_alone_is_not_withdrawal(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await run(tester, sandbox, "mexc", permissions=[*FULL["mexc"], "SPOT_WITHDRAW_READ"])
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    status, _, reason = step(report, "withdraw")
    assert status is S.PASS
    assert "SPOT_WITHDRAW_READ" in reason
    assert report.permissions["withdraw"] is False


async def test_kucoin_futures_strategy_maps_to_the_linear_perpetual(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await run(
        tester, sandbox, "kucoin", pairs=("BTC/USDT", "ETH/USDT"), market="futures",
        permissions=["General", "Futures"],
    )  # fmt: skip
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert step(report, "pairs")[0] is S.PASS
    assert step(report, "futures")[0] is S.PASS
    assert "USDT" in step(report, "futures")[2]
    assert "available" in step(report, "futures")[2]


@BOTH
async def test_spot_only_pair_fails_for_a_futures_strategy(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    perms = [*FULL[exchange], *(["Futures"] if exchange == "kucoin" else [])]
    report = await run(
        tester, sandbox, exchange, pairs=("SOL/USDT",), market="futures", permissions=perms
    )
    status, cls, reason = step(report, "pairs")
    assert (status, cls) == (S.FAIL, E.PAIR_NOT_TRADABLE)
    assert "SOL/USDT" in reason, reason
    assert "futures" in reason, reason


async def test_spot_and_futures_strategies_on_one_kucoin_key(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    key = add_key(sandbox, "kucoin", permissions=["General", "Spot", "Futures"])
    conn = connection_for(sandbox, key)
    spot = strategy(conn, ("SOL/USDT",), "spot")
    fut = strategy(conn, ("BTC/USDT",), "futures").model_copy(update={"name": "Futures bot"})
    report = await tester.test(conn, [spot, fut], LOOPBACK_POLICY)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()


@BOTH
async def test_retry_after_is_reported(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    faults = sandbox.faults(exchange)
    faults.rate_limit, faults.retry_after_s = True, 7
    report = await run(tester, sandbox, exchange)
    status, cls, reason = step(report, "reachability")
    assert (status, cls) == (S.FAIL, E.RATE_LIMITED)
    assert "retry after 7 s" in reason, reason
    assert report.retry_after_seconds == 7.0
    assert report.to_dict()["retry_after_seconds"] == 7.0
    assert report.transient


async def test_kucoin_hf_trade_probe_uses_the_hf_test_order(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    runner, url = await _proxy(sandbox.kucoin_url)  # answers 404 for the key-info endpoint
    try:
        key = add_key(sandbox, "kucoin", hf=True)
        endpoints = {"spot": url, "futures": sandbox.kucoin_futures_url}
        conn = connection_for(sandbox, key, endpoints=endpoints)
        sandbox.reset_request_counts()
        report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
    finally:
        await runner.cleanup()
    assert step(report, "permissions")[0] is S.PASS, report.to_dict()
    counts = sandbox.request_counts()
    assert counts.get("/api/v1/hf/orders/test") == 1, counts
    assert "/api/v1/orders/test" not in counts, counts
