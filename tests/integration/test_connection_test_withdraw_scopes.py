"""Withdrawal-adjacent key scopes in the connection test, end to end with real ccxt: KuCoin
InnerTransfer warns (own accounts only), Transfer still fails, and MEXC SPOT_WITHDRAW_READ alone
is not a withdrawal permission but is named in the reason.
"""

from __future__ import annotations

import pytest

from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus, ErrorClass
from backfuture_daemon.health import StepStatus as S
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import FULL, report_for, step_of

pytestmark = pytest.mark.integration


async def test_kucoin_inner_transfer_warns(tester: ConnectionTester, sandbox: Sandbox) -> None:
    perms = [*FULL["kucoin"], "InnerTransfer"]
    report = await report_for(tester, sandbox, "kucoin", permissions=perms)
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    withdraw = step_of(report, "withdraw")
    assert withdraw.status is S.WARN
    assert "InnerTransfer" in withdraw.reason
    assert report.permissions["withdraw"] is False


async def test_kucoin_transfer_and_inner_transfer_still_fails(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    perms = [*FULL["kucoin"], "InnerTransfer", "Transfer"]
    report = await report_for(tester, sandbox, "kucoin", permissions=perms)
    assert report.status is ConnectionStatus.FAILED
    assert report.error_classes[0] is ErrorClass.WITHDRAW_ENABLED


async def test_mexc_withdraw_read_scope_alone_is_not_withdrawal(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    perms = [*FULL["mexc"], "SPOT_WITHDRAW_READ"]
    report = await report_for(tester, sandbox, "mexc", permissions=perms)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    withdraw = step_of(report, "withdraw")
    assert withdraw.status is S.PASS
    assert "SPOT_WITHDRAW_READ" in withdraw.reason
    assert report.permissions["withdraw"] is False
