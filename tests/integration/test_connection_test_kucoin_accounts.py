"""KuCoin account kinds and key versions in the connection test, end to end with real ccxt:
an HF trading account (balances under `trade_hf`, HF test-order endpoint) is online, a classic
account is named as such, and V1/V2 keys are refused with a reason naming V3.
"""

from __future__ import annotations

import pytest

from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus, ErrorClass
from backfuture_daemon.health import StepStatus as S
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.conftest import Clients
from tests.integration.connection_test_support import (
    LOOPBACK_POLICY,
    add_key,
    connection_for,
    key_info_404_proxy,
    report_for,
    step_of,
    strategy,
)

pytestmark = pytest.mark.integration
E = ErrorClass


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
    auth = step_of(report, "auth")
    assert auth.status is S.PASS
    assert "HF" in auth.reason, auth.reason
    assert "USDT" in auth.reason, auth.reason
    assert report.permissions["trade"] is True


async def test_kucoin_classic_account_balance_named(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await report_for(tester, sandbox, "kucoin")
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    reason = step_of(report, "auth").reason
    assert "classic" in reason, reason
    assert "USDT" in reason, reason


async def test_kucoin_hf_trade_probe_uses_the_hf_test_order(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    runner, url = await key_info_404_proxy(sandbox.kucoin_url)
    try:
        key = add_key(sandbox, "kucoin", hf=True)
        endpoints = {"spot": url, "futures": sandbox.kucoin_futures_url}
        conn = connection_for(sandbox, key, endpoints=endpoints)
        sandbox.reset_request_counts()
        report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
    finally:
        await runner.cleanup()
    assert step_of(report, "permissions").status is S.PASS, report.to_dict()
    counts = sandbox.request_counts()
    assert counts.get("/api/v1/hf/orders/test") == 1, counts
    assert "/api/v1/orders/test" not in counts, counts


async def test_kucoin_v2_key_is_invalid_with_a_clear_reason(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await report_for(tester, sandbox, "kucoin", api_version=2)
    assert report.status is ConnectionStatus.FAILED, report.to_dict()
    permissions = step_of(report, "permissions")
    assert (permissions.status, permissions.error_class) == (S.FAIL, E.INVALID_KEY)
    assert "version 2" in permissions.reason, permissions.reason
    assert "V3" in permissions.reason, permissions.reason


async def test_kucoin_v1_key_rejected_with_400008(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await report_for(tester, sandbox, "kucoin", api_version=1)
    auth = step_of(report, "auth")
    assert (auth.status, auth.error_class) == (S.FAIL, E.INVALID_KEY)
    assert "400008" in auth.reason, auth.reason
    assert "V3" in auth.reason, auth.reason
