"""commands/check.py rendering and exit codes, from hand-built reports (no network)."""

from __future__ import annotations

from backfuture_daemon.commands.check import exit_code, render
from backfuture_daemon.exchanges.steps import build_report
from backfuture_daemon.health import (
    REMEDIES,
    CheckStep,
    ConnectionReport,
    ErrorClass,
    StepStatus,
)
from backfuture_daemon.redaction import mask

E, S = ErrorClass, StepStatus
KEY = "mx0CANARYrenderKEY77"


def _report(name: str, *steps: CheckStep) -> ConnectionReport:
    return build_report(
        name, "mexc", list(steps),
        permissions={"read": True, "trade": False, "futures": None, "withdraw": False},
        ip_restricted=True, clock_skew_ms=-12.0, latency_ms=34.0, key_masked=mask(KEY),
    )  # fmt: skip


def test_table_has_status_classes_remedy_permissions_and_masked_key() -> None:
    ok = _report("MEXC Spot Main", CheckStep("auth", S.PASS, "ok"))
    bad = _report(
        "Recovery PRO Connection",
        CheckStep("auth", S.PASS, "ok"),
        CheckStep("permissions", S.FAIL, "key lacks trade permission", E.NO_TRADE_PERMISSION),
    )
    text = render([ok, bad], skipped=["Old Key"])
    assert "MEXC Spot Main" in text
    assert "online" in text
    assert "failed" in text
    assert "no_trade_permission" in text
    assert REMEDIES[E.NO_TRADE_PERMISSION] in text
    assert "read+ trade- futures? withdraw-" in text
    assert "-12ms" in text
    assert "34ms" in text
    assert mask(KEY) in text
    assert KEY not in text
    assert "key lacks trade permission" in text
    assert '"Old Key": not tested (suspend: true)' in text


def test_exit_codes() -> None:
    ok = _report("A", CheckStep("auth", S.PASS))
    degraded = _report("B", CheckStep("ip_whitelist", S.WARN, "x", E.IP_WHITELIST_MISSING))
    failed = _report("C", CheckStep("auth", S.FAIL, "x", E.INVALID_KEY))
    assert exit_code([ok, degraded]) == 0
    assert exit_code([ok, failed]) == 1
    assert exit_code([]) == 0
