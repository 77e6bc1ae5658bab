"""Backoff honours the exchange's Retry-After (ConnectionReport.retry_after_seconds) as a
minimum delay for a rate-limited connection; full jitter may wait longer, never shorter."""

from __future__ import annotations

import dataclasses

import pytest

from backfuture_daemon.health import ErrorClass
from backfuture_daemon.reconciler.backoff import BackoffPolicy, next_check_delay
from tests.helpers.desired import failed

POLICY = BackoffPolicy()


def test_retry_after_is_a_minimum_delay() -> None:
    rep = dataclasses.replace(failed("C", ErrorClass.RATE_LIMITED), retry_after_seconds=42.0)
    # Jitter would pick 1 s (floor) or at most 5 s on the first failure: Retry-After wins.
    assert next_check_delay(rep, 1, POLICY, lambda: 0.0) == pytest.approx(42.0)
    assert next_check_delay(rep, 1, POLICY, lambda: 0.999999) == pytest.approx(42.0)


def test_a_longer_backoff_is_kept() -> None:
    rep = dataclasses.replace(failed("C", ErrorClass.RATE_LIMITED), retry_after_seconds=2.0)
    assert next_check_delay(rep, 5, POLICY, lambda: 0.5) == pytest.approx(40.0)


def test_without_retry_after_nothing_changes() -> None:
    rep = failed("C", ErrorClass.RATE_LIMITED)
    assert rep.retry_after_seconds is None
    assert next_check_delay(rep, 1, POLICY, lambda: 0.0) == pytest.approx(1.0)
