"""When to test a connection next: pure, with an injected random source (no clock, no env).

Called by reconciler/checks.py after every test, and by the loop and config tracker for failed
passes and transient config failures. Transient failures back off with full jitter (Flux: 750 ms
→ 15 min); permanent ones (exchanges penalise bad-key calls) and healthy ones wait long intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backfuture_daemon.health import ConnectionReport, ConnectionStatus, ErrorClass

#: Returns a float in [0, 1): `random.random` in production, a scripted source in tests.
RandomSource = Callable[[], float]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base: float = 5.0  # first transient retry ceiling, seconds
    cap: float = 900.0  # transient ceiling (15 min)
    healthy_interval: float = 300.0  # online/degraded re-check (5 min)
    permanent_interval: float = 1800.0  # invalid key, permissions, IP, withdrawal (30 min)
    jitter: float = 0.1  # ± fraction applied to the two fixed intervals
    floor: float = 0.2  # fraction of `base`: full jitter never retries at once (no hot loop)

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.cap >= self.base):
            raise ValueError("backoff needs 0 < base <= cap")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


def transient_delay(failures: int, policy: BackoffPolicy, rand: RandomSource) -> float:
    """Full jitter: uniform in [floor, min(cap, base * 2^(failures-1))]; `failures` >= 1."""
    ceiling = min(policy.cap, policy.base * 2.0 ** max(failures - 1, 0))
    low = policy.base * policy.floor
    return max(low, rand() * ceiling)


def jittered(interval: float, policy: BackoffPolicy, rand: RandomSource) -> float:
    """`interval` ± `jitter` so that many connections do not re-check in lock-step."""
    return interval * (1.0 + policy.jitter * (2.0 * rand() - 1.0))


def next_check_delay(
    report: ConnectionReport, consecutive_failures: int, policy: BackoffPolicy, rand: RandomSource
) -> float:
    """Seconds until the next test of a connection whose last test produced `report`.

    `consecutive_failures` counts failed tests in a row including this one (0 after a success).
    """
    clock = ErrorClass.CLOCK_SKEW in report.error_classes and bool(report.retry_after_seconds)
    if report.status in (ConnectionStatus.ONLINE, ConnectionStatus.DEGRADED):
        delay = jittered(policy.healthy_interval, policy, rand)
        # An uncertain clock judgement (skew hidden in the round trip) is looked at again soon.
        return min(delay, report.retry_after_seconds or delay) if clock else delay
    if report.status is ConnectionStatus.UNKNOWN or report.transient:
        # UNKNOWN: the test itself could not decide (e.g. timed out): treat as transient.
        delay = transient_delay(max(consecutive_failures, 1), policy, rand)
        # The exchange's Retry-After is a floor: asking earlier only extends a rate-limit ban.
        return max(delay, min(report.retry_after_seconds or 0.0, policy.cap))
    delay = jittered(policy.permanent_interval, policy, rand)
    # A clock can be fixed in minutes (NTP): a clock failure is re-checked at the test's hint,
    # not after the long interval kept for keys and permissions.
    return min(delay, report.retry_after_seconds or delay) if clock else delay


def describe_delay(seconds: float) -> str:
    """`5s`, `2m`, `1h30m`: for log lines such as `re-check in 5m`."""
    s = round(seconds)
    if s < 60:
        return f"{max(s, 0)}s" if seconds >= 1 or seconds <= 0 else f"{seconds:.1f}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m" if s == 0 or m >= 10 else f"{m}m{s}s"
    h, m = divmod(m, 60)
    return f"{h}h" if m == 0 else f"{h}h{m}m"
