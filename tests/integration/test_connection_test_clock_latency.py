"""A slow round trip is not a clock fault: against the sandbox's latency fault, with real ccxt,
the clock step samples the server time again, judges on the fastest sample within ±RTT/2, and
reports "uncertain, re-checking" (warn, early re-check) where the midpoint alone would fail.
"""

from __future__ import annotations

import pytest

from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.exchanges.steps import CLOCK_RECHECK_SECONDS, evaluate_clock
from backfuture_daemon.health import ConnectionStatus, ErrorClass, StepStatus
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import report_for, step_of

pytestmark = pytest.mark.integration


async def test_latency_is_not_read_as_a_clock_beyond_the_window(sandbox: Sandbox) -> None:
    faults = sandbox.faults("mexc")
    # The venue's clock runs 4.6 s ahead of ours (a real skew, inside MEXC's 5 s window), and
    # every answer takes 1 s: the server reads its clock at the end of the round trip, so the
    # midpoint estimate says -5.1 s, beyond the window.
    faults.clock_offset_ms, faults.latency_ms = 4600, 1000
    sandbox.reset_request_counts()
    tester = ConnectionTester(timeout=5.0)
    try:
        report = await report_for(tester, sandbox, "mexc")
    finally:
        await tester.close()
    assert report.clock_skew_ms is not None
    assert evaluate_clock(report.clock_skew_ms, 5000, 1000).status is StepStatus.FAIL
    clock = step_of(report, "clock")
    assert (clock.status, clock.error_class) == (StepStatus.WARN, ErrorClass.CLOCK_SKEW)
    assert "uncertain" in clock.reason, clock.reason
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    assert step_of(report, "auth").status is StepStatus.PASS  # signed with the server's clock
    assert report.retry_after_seconds == CLOCK_RECHECK_SECONDS
    assert sandbox.request_counts("mexc")["/api/v3/time"] == 3
