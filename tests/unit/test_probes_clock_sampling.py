"""The connection test's clock sampling, on the fake adapter (no HTTP): one server-time call when
it decides the step, up to three when the round trip could hide the skew, judged on the fastest;
a failed or uncertain clock asks for an early re-check (`retry_after_seconds`).
"""

from __future__ import annotations

import ccxt
import pytest
from pydantic import SecretStr

from backfuture_daemon.configuration.models import Connection, Policy, Strategy
from backfuture_daemon.exchanges.fake import FakeExchange
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.exchanges.steps import CLOCK_RECHECK_SECONDS
from backfuture_daemon.health import ConnectionReport, ConnectionStatus, ErrorClass, StepStatus

S = StepStatus
CONN = Connection(
    name="Fake Main",
    exchange="mexc",
    api_key=SecretStr("fake-key-0123456789"),
    api_secret=SecretStr("fake-secret-0123456789"),
)
STRATEGY = Strategy(name="Bot", connection="Fake Main", pairs=("BTC/USDT",), margin_limit=100)


async def run(script: FakeExchange) -> ConnectionReport:
    tester = ConnectionTester(timeout=1.0, adapters=script.adapter)
    try:
        return await tester.test(CONN, [STRATEGY], Policy())
    finally:
        await tester.close()


def clock_step(report: ConnectionReport) -> tuple[S, ErrorClass | None, str]:
    step = next(s for s in report.steps if s.name == "clock")
    return step.status, step.error_class, step.reason


async def test_a_fast_round_trip_decides_with_one_sample() -> None:
    script = FakeExchange(clock=[(120.0, 8.0)])
    report = await run(script)
    assert script.calls.count("server_time") == 1
    assert clock_step(report)[0] is S.PASS
    assert report.status is ConnectionStatus.ONLINE
    assert report.retry_after_seconds is None
    assert script.compensated == []


async def test_a_slow_first_sample_is_resampled_and_the_fastest_judged() -> None:
    # The case: +1.28 s read through a 2.6 s round trip; the next samples are fast.
    script = FakeExchange(clock=[(1280.0, 2600.0), (60.0, 400.0), (35.0, 12.0)])
    report = await run(script)
    assert script.calls.count("server_time") == 3
    assert clock_step(report)[0] is S.PASS
    assert report.clock_skew_ms == 35.0
    assert report.status is ConnectionStatus.ONLINE
    assert report.retry_after_seconds is None


async def test_slow_samples_only_are_uncertain_and_rechecked_soon() -> None:
    script = FakeExchange(clock=[(1280.0, 2600.0), (1300.0, 2700.0), (1250.0, 2550.0)])
    report = await run(script)
    assert script.calls.count("server_time") == 3
    status, cls, reason = clock_step(report)
    assert (status, cls) == (S.WARN, ErrorClass.CLOCK_SKEW)
    assert "uncertain" in reason
    assert report.clock_skew_ms == 1250.0  # the fastest of the three
    assert report.status is ConnectionStatus.DEGRADED
    assert report.retry_after_seconds == CLOCK_RECHECK_SECONDS
    assert script.compensated == [1250.0]  # the rest of the test signed with the server's time


async def test_a_certain_failure_is_not_resampled_and_is_rechecked_soon() -> None:
    script = FakeExchange(clock=[(-8000.0, 10.0)])
    report = await run(script)
    assert script.calls.count("server_time") == 1
    assert clock_step(report)[:2] == (S.FAIL, ErrorClass.CLOCK_SKEW)
    assert report.status is ConnectionStatus.FAILED
    assert report.retry_after_seconds == CLOCK_RECHECK_SECONDS
    assert script.compensated == [-8000.0]


async def test_a_resample_that_fails_leaves_the_judgement_to_the_samples_taken() -> None:
    def second_call_rate_limited(n: int) -> BaseException | None:
        return (
            ccxt.RateLimitExceeded('mexc {"code":429,"msg":"Too Many Requests"}')
            if n == 2
            else None
        )

    script = FakeExchange(clock=[(1280.0, 2600.0)], fail={"server_time": second_call_rate_limited})
    report = await run(script)
    assert script.calls.count("server_time") == 2  # stopped sampling at the failure
    assert clock_step(report)[:2] == (S.WARN, ErrorClass.CLOCK_SKEW)
    assert report.retry_after_seconds == CLOCK_RECHECK_SECONDS


@pytest.mark.parametrize(("skew", "rtt"), [(-1300.0, 800.0), (-5200.0, 600.0)])
async def test_behind_the_server_a_slow_sample_is_resampled(skew: float, rtt: float) -> None:
    script = FakeExchange(clock=[(skew, rtt), (-200.0, 10.0)])
    report = await run(script)
    assert script.calls.count("server_time") == 3
    assert clock_step(report)[0] is S.PASS
