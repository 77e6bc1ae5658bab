"""The connection test end to end: real ccxt against the sandbox over HTTP, both exchanges,
a healthy key and every error class. No mocks: the sandbox checks real HMAC signatures.
"""

from __future__ import annotations

from typing import Any

import pytest

from backfuture_daemon.configuration.models import Policy
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionReport, ConnectionStatus, ErrorClass
from backfuture_daemon.health import StepStatus as S
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import (
    FULL,
    FUTURES,
    LOOPBACK_POLICY,
    WITHDRAW,
    add_key,
    connection_for,
    strategy,
)

pytestmark = pytest.mark.integration
E = ErrorClass
BOTH = pytest.mark.parametrize("exchange", ["mexc", "kucoin"])


def step(report: ConnectionReport, name: str) -> tuple[S, ErrorClass | None]:
    found = next(s for s in report.steps if s.name == name)
    return found.status, found.error_class


def assert_failed_with(report: ConnectionReport, cls: ErrorClass) -> None:
    assert report.status is ConnectionStatus.FAILED, report.to_dict()
    assert cls in report.error_classes, report.to_dict()


def assert_rest_unknown(report: ConnectionReport, after: str) -> None:
    names = [s.name for s in report.steps]
    for s in report.steps[names.index(after) + 1 :]:
        assert s.status is S.UNKNOWN, s
        assert s.reason.startswith("not checked:")


async def run(
    tester: ConnectionTester,
    sandbox: Sandbox,
    exchange: str,
    *,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    market: str = "spot",
    policy: Policy = LOOPBACK_POLICY,
    conn_kwargs: dict[str, Any] | None = None,
    **key_kwargs: object,
) -> ConnectionReport:
    key = add_key(sandbox, exchange, **key_kwargs)  # type: ignore[arg-type]
    conn = connection_for(sandbox, key, **(conn_kwargs or {}))
    return await tester.test(conn, [strategy(conn, pairs, market)], policy)


@BOTH
async def test_healthy_key_is_online_within_five_requests(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    await run(tester, sandbox, exchange)  # loads the shared market data once
    sandbox.reset_request_counts()
    report = await run(tester, sandbox, exchange)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert report.error_classes == ()
    assert report.permissions == {"read": True, "trade": True, "futures": False, "withdraw": False}
    assert report.ip_restricted is True
    assert report.latency_ms is not None
    assert report.clock_skew_ms is not None
    assert abs(report.clock_skew_ms) < 1000
    assert report.key_masked.count("…") == 1
    requests = sum(sandbox.request_counts().values())
    assert requests <= 5, sandbox.request_counts()
    assert tester.markets.loads >= 1


@BOTH
async def test_invalid_key(tester: ConnectionTester, sandbox: Sandbox, exchange: str) -> None:
    prefix = "mx0" if exchange == "mexc" else "6705"
    report = await run(tester, sandbox, exchange, conn_kwargs={"api_key": f"{prefix}unknownkey9"})
    assert_failed_with(report, E.INVALID_KEY)
    assert step(report, "auth") == (S.FAIL, E.INVALID_KEY)
    assert_rest_unknown(report, "auth")
    assert report.error_classes == (E.INVALID_KEY,)


@BOTH
async def test_bad_signature_wrong_secret(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    report = await run(
        tester, sandbox, exchange, conn_kwargs={"api_secret": "not-the-right-secret"}
    )
    assert_failed_with(report, E.INVALID_KEY)
    assert step(report, "auth") == (S.FAIL, E.INVALID_KEY)


async def test_kucoin_wrong_passphrase(tester: ConnectionTester, sandbox: Sandbox) -> None:
    report = await run(tester, sandbox, "kucoin", conn_kwargs={"passphrase": "trading-password"})
    assert_failed_with(report, E.INVALID_KEY)
    assert "400004" in next(s for s in report.steps if s.name == "auth").reason


@BOTH
async def test_no_trade_permission(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    read_only = [p for p in FULL[exchange] if p not in ("SPOT_DEAL_WRITE", "Spot")]
    report = await run(tester, sandbox, exchange, permissions=read_only)
    assert_failed_with(report, E.NO_TRADE_PERMISSION)
    assert step(report, "permissions") == (S.FAIL, E.NO_TRADE_PERMISSION)
    assert report.permissions["trade"] is False


@BOTH
async def test_withdraw_enabled_always_fails(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    perms = [*FULL[exchange], WITHDRAW[exchange]]
    report = await run(tester, sandbox, exchange, permissions=perms)
    assert_failed_with(report, E.WITHDRAW_ENABLED)
    assert step(report, "withdraw") == (S.FAIL, E.WITHDRAW_ENABLED)
    assert report.permissions["withdraw"] is True
    assert not report.healthy


@BOTH
async def test_ip_not_allowed_rejected_by_exchange(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    report = await run(tester, sandbox, exchange, ip_whitelist=["10.9.8.7"])
    assert_failed_with(report, E.IP_NOT_ALLOWED)
    assert step(report, "auth") == (S.FAIL, E.IP_NOT_ALLOWED)
    assert "127.0.0.1" in next(s for s in report.steps if s.name == "auth").reason


@BOTH
async def test_egress_ip_missing_from_whitelist(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    policy = Policy(egress_ips=("127.0.0.1", "198.51.100.7"))
    report = await run(tester, sandbox, exchange, policy=policy)
    assert_failed_with(report, E.IP_NOT_ALLOWED)
    status, cls = step(report, "ip_whitelist")
    assert (status, cls) == (S.FAIL, E.IP_NOT_ALLOWED)
    assert "198.51.100.7" in next(s for s in report.steps if s.name == "ip_whitelist").reason


@BOTH
async def test_no_whitelist_degraded_or_failed_when_required(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    report = await run(tester, sandbox, exchange, ip_whitelist=[])
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    assert E.IP_WHITELIST_MISSING in report.error_classes
    assert report.ip_restricted is False
    strict = Policy(egress_ips=("127.0.0.1",), require_ip_whitelist=True)
    report = await run(tester, sandbox, exchange, ip_whitelist=[], policy=strict)
    assert_failed_with(report, E.IP_WHITELIST_MISSING)


async def test_kucoin_futures_permission_missing(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    report = await run(tester, sandbox, "kucoin", market="futures")
    assert_failed_with(report, E.NO_FUTURES_PERMISSION)
    assert step(report, "futures") == (S.FAIL, E.NO_FUTURES_PERMISSION)


async def test_kucoin_futures_available(tester: ConnectionTester, sandbox: Sandbox) -> None:
    report = await run(
        tester, sandbox, "kucoin", market="futures", permissions=["General", *FUTURES["kucoin"]]
    )
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert step(report, "futures") == (S.PASS, None)
    assert report.permissions["futures"] is True


async def test_mexc_futures_always_unavailable(tester: ConnectionTester, sandbox: Sandbox) -> None:
    perms = [*FULL["mexc"], *FUTURES["mexc"]]
    await run(tester, sandbox, "mexc", market="futures", permissions=perms)  # load markets
    sandbox.reset_request_counts()
    report = await run(tester, sandbox, "mexc", market="futures", permissions=perms)
    assert_failed_with(report, E.FUTURES_UNAVAILABLE)
    assert step(report, "futures") == (S.FAIL, E.FUTURES_UNAVAILABLE)
    futures_reason = next(s for s in report.steps if s.name == "futures").reason
    assert "contract account readable" in futures_reason
    assert sum(sandbox.request_counts().values()) <= 5
    # a spot-only key: still unavailable, and the reason says the contract scope is missing
    report = await run(tester, sandbox, "mexc", market="futures")
    assert report.error_classes[0] is E.FUTURES_UNAVAILABLE
    assert "701" in next(s for s in report.steps if s.name == "futures").reason


@BOTH
async def test_clock_skew_beyond_window_fails_but_key_is_still_checked(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    sandbox.faults(exchange).clock_offset_ms = 8000
    report = await run(tester, sandbox, exchange)
    assert_failed_with(report, E.CLOCK_SKEW)
    assert step(report, "clock") == (S.FAIL, E.CLOCK_SKEW)
    assert report.clock_skew_ms is not None
    assert report.clock_skew_ms < -7000
    # signed with the server's clock, the rest of the test still ran
    assert step(report, "auth") == (S.PASS, None)
    assert report.error_classes == (E.CLOCK_SKEW,)


@BOTH
async def test_small_clock_skew_warns(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    sandbox.faults(exchange).clock_offset_ms = 2500  # local clock 2.5 s behind
    report = await run(tester, sandbox, exchange)
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    assert step(report, "clock") == (S.WARN, E.CLOCK_SKEW)


@pytest.mark.parametrize(("exchange", "expected"), [("mexc", S.FAIL), ("kucoin", S.WARN)])
async def test_clock_ahead_by_2_5_s(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str, expected: S
) -> None:
    # MEXC rejects timestamps more than 1 s in its future; KuCoin allows ±5 s.
    sandbox.faults(exchange).clock_offset_ms = -2500
    report = await run(tester, sandbox, exchange)
    assert step(report, "clock") == (expected, E.CLOCK_SKEW)
    assert step(report, "auth") == (S.PASS, None)  # signed with the server's clock


@BOTH
async def test_rate_limited(tester: ConnectionTester, sandbox: Sandbox, exchange: str) -> None:
    sandbox.faults(exchange).rate_limit = True
    report = await run(tester, sandbox, exchange)
    assert_failed_with(report, E.RATE_LIMITED)
    assert step(report, "reachability") == (S.FAIL, E.RATE_LIMITED)
    assert_rest_unknown(report, "reachability")
    assert report.transient


@BOTH
async def test_retry_after_is_reported(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    faults = sandbox.faults(exchange)
    faults.rate_limit, faults.retry_after_s = True, 7
    report = await run(tester, sandbox, exchange)
    reachability = next(s for s in report.steps if s.name == "reachability")
    assert (reachability.status, reachability.error_class) == (S.FAIL, E.RATE_LIMITED)
    assert "retry after 7 s" in reachability.reason, reachability.reason
    assert report.retry_after_seconds == 7.0
    assert report.to_dict()["retry_after_seconds"] == 7.0
    assert report.transient


@BOTH
async def test_maintenance(tester: ConnectionTester, sandbox: Sandbox, exchange: str) -> None:
    sandbox.faults(exchange).maintenance = True
    report = await run(tester, sandbox, exchange)
    assert_failed_with(report, E.EXCHANGE_UNAVAILABLE)
    assert step(report, "reachability") == (S.FAIL, E.EXCHANGE_UNAVAILABLE)
    assert_rest_unknown(report, "reachability")


@BOTH
async def test_timeout(sandbox: Sandbox, exchange: str) -> None:
    sandbox.faults(exchange).timeout = True
    fast = ConnectionTester(timeout=0.3)
    try:
        report = await run(fast, sandbox, exchange)
    finally:
        await fast.close()
    assert_failed_with(report, E.EXCHANGE_UNAVAILABLE)
    assert step(report, "reachability") == (S.FAIL, E.EXCHANGE_UNAVAILABLE)
    assert report.duration_seconds is not None
    assert report.duration_seconds < 2


@BOTH
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_http_5xx(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str, status: int
) -> None:
    sandbox.faults(exchange).http_5xx = status
    report = await run(tester, sandbox, exchange)
    assert_failed_with(report, E.EXCHANGE_UNAVAILABLE)
    assert report.transient


@BOTH
async def test_connection_refused(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    dead = {"spot": "http://127.0.0.1:9", "futures": "http://127.0.0.1:9"}
    if exchange == "mexc":
        dead.pop("futures")
    report = await run(tester, sandbox, exchange, conn_kwargs={"endpoints": dead})
    assert_failed_with(report, E.EXCHANGE_UNAVAILABLE)


@BOTH
async def test_frozen_account_suspended(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    report = await run(tester, sandbox, exchange, frozen=True)
    assert_failed_with(report, E.ACCOUNT_SUSPENDED)
    assert step(report, "auth") == (S.FAIL, E.ACCOUNT_SUSPENDED)


async def test_mexc_key_expiring(tester: ConnectionTester, sandbox: Sandbox) -> None:
    report = await run(tester, sandbox, "mexc", expires_in_days=5)
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    assert step(report, "key_expiry") == (S.WARN, E.KEY_EXPIRING)
    assert report.key_expiry_timestamp is not None
    assert report.checked_at is not None
    assert 4 * 86400 < report.key_expiry_timestamp - report.checked_at <= 5 * 86400 + 60


async def test_kucoin_keys_report_no_expiry(tester: ConnectionTester, sandbox: Sandbox) -> None:
    report = await run(tester, sandbox, "kucoin")
    assert step(report, "key_expiry") == (S.PASS, None)
    assert report.key_expiry_timestamp is None


@BOTH
async def test_pair_not_tradable(tester: ConnectionTester, sandbox: Sandbox, exchange: str) -> None:
    report = await run(tester, sandbox, exchange, pairs=("BTC/USDT", "DOGE/USDT", "NOPE/USDT"))
    assert_failed_with(report, E.PAIR_NOT_TRADABLE)
    reason = next(s for s in report.steps if s.name == "pairs").reason
    assert "DOGE/USDT" in reason
    assert "NOPE/USDT" in reason
    assert "BTC/USDT" not in reason


@BOTH
async def test_report_never_carries_a_secret(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    key = add_key(sandbox, exchange, ip_whitelist=["10.0.0.1"])
    conn = connection_for(sandbox, key, api_secret="CANARYwrongSECRET0001")
    report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
    text = repr(report) + str(report.to_dict())
    for secret in conn.secret_values():
        assert secret not in text


async def test_kucoin_futures_host_down(tester: ConnectionTester, sandbox: Sandbox) -> None:
    endpoints = {"spot": sandbox.kucoin_url, "futures": "http://127.0.0.1:9"}  # refused
    report = await run(
        tester,
        sandbox,
        "kucoin",
        market="futures",
        permissions=["General", *FUTURES["kucoin"]],
        conn_kwargs={"endpoints": endpoints},
    )
    assert report.error_classes == (E.EXCHANGE_UNAVAILABLE,)
    assert step(report, "auth") == (S.PASS, None)
    assert step(report, "futures") == (S.FAIL, E.EXCHANGE_UNAVAILABLE)
    assert report.transient


async def test_a_slow_exchange_still_gets_a_report_within_the_deadline(sandbox: Sandbox) -> None:
    sandbox.faults("mexc").latency_ms = 150  # every request answers, slowly
    slow = ConnectionTester(timeout=1.0, deadline=0.4)
    try:
        report = await run(slow, sandbox, "mexc")
    finally:
        await slow.close()
    assert_failed_with(report, E.EXCHANGE_UNAVAILABLE)
    failed = [s for s in report.steps if s.status is S.FAIL]
    assert len(failed) == 1
    assert "deadline" in failed[0].reason
    assert report.steps[-1].reason == "not checked: the test ran out of time"
    assert [s.name for s in report.steps][:3] == ["reachability", "clock", "auth"]


@BOTH
async def test_no_read_permission(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    no_read = {"mexc": ["SPOT_DEAL_READ", "SPOT_DEAL_WRITE"], "kucoin": ["Spot"]}[exchange]
    report = await run(tester, sandbox, exchange, permissions=no_read)
    assert_failed_with(report, E.NO_READ_PERMISSION)
    assert step(report, "auth") == (S.FAIL, E.NO_READ_PERMISSION)
    assert_rest_unknown(report, "auth")
