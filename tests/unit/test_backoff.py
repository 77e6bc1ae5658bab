"""Backoff: full jitter for transient failures, long interval for permanent ones, jittered
healthy re-checks; a scripted random source, no clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backfuture_daemon.health import ConnectionStatus, ErrorClass
from backfuture_daemon.reconciler.backoff import (
    BackoffPolicy,
    describe_delay,
    next_check_delay,
    transient_delay,
)
from tests.helpers.desired import failed, online, report

POLICY = BackoffPolicy()


def test_transient_ceiling_doubles_from_5s_to_15min() -> None:
    top = [transient_delay(n, POLICY, lambda: 0.999999) for n in range(1, 12)]
    assert top[0] == pytest.approx(5.0, rel=1e-3)
    assert top[1] == pytest.approx(10.0, rel=1e-3)
    assert top[4] == pytest.approx(80.0, rel=1e-3)
    assert max(top) == pytest.approx(900.0, rel=1e-3)
    assert top[-1] == pytest.approx(900.0, rel=1e-3)


def test_full_jitter_spans_the_range_but_never_retries_at_once() -> None:
    assert transient_delay(5, POLICY, lambda: 0.5) == pytest.approx(40.0)
    assert transient_delay(5, POLICY, lambda: 0.0) == pytest.approx(1.0)  # floor: 0.2 x base


def test_exchange_unavailable_backs_off_per_consecutive_failure() -> None:
    rep = failed("C", ErrorClass.EXCHANGE_UNAVAILABLE)
    delays = [next_check_delay(rep, n, POLICY, lambda: 0.999999) for n in (1, 2, 3)]
    assert delays == pytest.approx([5.0, 10.0, 20.0], rel=1e-3)


@pytest.mark.parametrize(
    "error_class",
    [
        ErrorClass.INVALID_KEY,
        ErrorClass.NO_TRADE_PERMISSION,
        ErrorClass.IP_NOT_ALLOWED,
        ErrorClass.WITHDRAW_ENABLED,
    ],
)
def test_permanent_failures_wait_the_long_interval(error_class: ErrorClass) -> None:
    rep = failed("C", error_class)
    assert next_check_delay(rep, 7, POLICY, lambda: 0.5) == pytest.approx(1800.0)
    assert 1620.0 <= next_check_delay(rep, 1, POLICY, lambda: 0.0) <= 1980.0


def test_mixed_transient_and_permanent_is_permanent() -> None:
    rep = failed("C", ErrorClass.RATE_LIMITED, ErrorClass.INVALID_KEY)
    assert next_check_delay(rep, 1, POLICY, lambda: 0.5) == pytest.approx(1800.0)


def test_healthy_recheck_is_5min_plus_minus_jitter() -> None:
    assert next_check_delay(online(), 0, POLICY, lambda: 0.5) == pytest.approx(300.0)
    assert next_check_delay(online(), 0, POLICY, lambda: 0.0) == pytest.approx(270.0)
    degraded = report("C", ConnectionStatus.DEGRADED)
    assert next_check_delay(degraded, 0, POLICY, lambda: 0.999999) == pytest.approx(330.0, 1e-3)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="base"):
        BackoffPolicy(base=10, cap=5)


def test_describe_delay() -> None:
    assert [describe_delay(s) for s in (0.5, 5, 300, 1830, 5400)] == [
        "0.5s",
        "5s",
        "5m",
        "30m",
        "1h30m",
    ]


def test_a_clock_failure_is_rechecked_at_the_tests_hint_not_after_30_minutes() -> None:
    rep = replace(failed("C", ErrorClass.CLOCK_SKEW), retry_after_seconds=60.0)
    assert next_check_delay(rep, 3, POLICY, lambda: 0.5) == pytest.approx(60.0)
    # Without the hint (an older report) the long interval stays.
    plain = failed("C", ErrorClass.CLOCK_SKEW)
    assert next_check_delay(plain, 3, POLICY, lambda: 0.5) == pytest.approx(1800.0)
    # A key problem (no clock involved) keeps the long interval whatever the hint.
    key = replace(failed("C", ErrorClass.INVALID_KEY), retry_after_seconds=60.0)
    assert next_check_delay(key, 3, POLICY, lambda: 0.5) == pytest.approx(1800.0)


def test_an_uncertain_clock_warning_is_rechecked_soon() -> None:
    rep = replace(
        report("C", ConnectionStatus.DEGRADED, ErrorClass.CLOCK_SKEW), retry_after_seconds=60.0
    )
    assert next_check_delay(rep, 0, POLICY, lambda: 0.5) == pytest.approx(60.0)
