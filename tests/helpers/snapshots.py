"""Realistic `DaemonSnapshot`s for telemetry tests (metrics, HTTP, monitoring), with canary secrets.

`realistic_snapshot()` covers every status, an error class, unknown permissions and a never-checked
connection; `CANARIES` are secret values registered in GLOBAL_REDACTOR and smuggled into free-text
fields, so tests can assert that they never leave the process.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from backfuture_daemon.bots.model import BotState, BotStatus
from backfuture_daemon.bots.spec import BotSnapshot
from backfuture_daemon.health import (
    CheckStep,
    ConnectionReport,
    ConnectionStatus,
    ErrorClass,
    StepStatus,
)
from backfuture_daemon.reconciler.state import (
    ConfigStatus,
    ConnectionObservation,
    DaemonSnapshot,
    ReconcileResult,
)
from backfuture_daemon.redaction import GLOBAL_REDACTOR
from backfuture_daemon.strategy.status import GroupStatus

NOW = 1_764_000_000.0
REVISION = "3f2a9c4e1b7d8a6f5e4c3b2a1908f7e6d5c4b3a2"
BAD_REVISION = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"

CANARY_KEY = "mx0vCANARYkey7Q2"
CANARY_SECRET = "canary-secret-5e1f9d"
CANARY_PASSPHRASE = "canaryPassphrase77"
CANARY_AGE = "AGE-SECRET-KEY-1CANARYCANARYCANARY"
CANARIES: tuple[str, ...] = (CANARY_KEY, CANARY_SECRET, CANARY_PASSPHRASE, CANARY_AGE)


def register_canaries() -> None:
    """What the config loader does with every decrypted secret."""
    GLOBAL_REDACTOR.add(CANARIES)


def _online(name: str, exchange: str) -> ConnectionReport:
    return ConnectionReport(
        connection=name,
        exchange=exchange,
        status=ConnectionStatus.ONLINE,
        steps=(
            CheckStep("reachability", StepStatus.PASS, "server time ok"),
            CheckStep("auth", StepStatus.PASS, "balance readable"),
            CheckStep("permissions", StepStatus.PASS, "read, trade"),
            CheckStep("ip_whitelist", StepStatus.PASS, "203.0.113.10 whitelisted"),
        ),
        permissions={"read": True, "trade": True, "futures": False, "withdraw": False},
        ip_restricted=True,
        key_expiry_timestamp=NOW + 80 * 86400,
        key_created_timestamp=NOW - 200 * 86400,
        clock_skew_ms=-42.0,
        latency_ms=35.0,
        checked_at=NOW - 30,
        duration_seconds=0.42,
        key_masked="mx0v…9f2c",
        fingerprint="fp-online",
    )


def realistic_snapshot() -> DaemonSnapshot:
    """Four connections (online, degraded, failed with withdraw + a leaked secret, never checked),
    three bots, a failed config reload with a secret in its error, six reconcile results and
    two reconcile passes that failed with an unexpected error (survived)."""
    online = _online("MEXC Spot Main", "mexc")
    degraded = replace(
        online,
        connection="KuCoin Spot",
        exchange="kucoin",
        status=ConnectionStatus.DEGRADED,
        steps=(
            CheckStep("reachability", StepStatus.PASS),
            CheckStep(
                "ip_whitelist",
                StepStatus.WARN,
                "key has no IP whitelist",
                ErrorClass.IP_WHITELIST_MISSING,
            ),
        ),
        error_classes=(ErrorClass.IP_WHITELIST_MISSING,),
        permissions={"read": True, "trade": True, "futures": None, "withdraw": False},
        ip_restricted=False,
        key_expiry_timestamp=None,
        key_masked="kc-a…b9f0",
        fingerprint="fp-degraded",
    )
    failed = replace(
        online,
        connection="MEXC Withdraw Key",
        status=ConnectionStatus.FAILED,
        steps=(
            CheckStep(
                "withdraw",
                StepStatus.FAIL,
                # A vendor echo that carries the key and secret: must be redacted everywhere.
                f"key {CANARY_KEY} signed with {CANARY_SECRET} can withdraw",
                ErrorClass.WITHDRAW_ENABLED,
            ),
            CheckStep(
                "ip_whitelist",
                StepStatus.FAIL,
                "198.51.100.7 not allowed",
                ErrorClass.IP_NOT_ALLOWED,
            ),
        ),
        error_classes=(ErrorClass.WITHDRAW_ENABLED, ErrorClass.IP_NOT_ALLOWED),
        permissions={"read": True, "trade": True, "futures": None, "withdraw": True},
        ip_restricted=True,
        key_expiry_timestamp=NOW + 5 * 86400,
        key_masked=CANARY_KEY,  # a producer that forgot to mask
        fingerprint="fp-failed",
    )
    connections = (
        ConnectionObservation(
            name=online.connection,
            exchange=online.exchange,
            report=online,
            fingerprint=online.fingerprint,
            next_check_at=NOW + 270,
            checks_total={"online": 12},
        ),
        ConnectionObservation(
            name=degraded.connection,
            exchange=degraded.exchange,
            report=degraded,
            fingerprint=degraded.fingerprint,
            next_check_at=NOW + 200,
            checks_total={"online": 3, "degraded": 9},
        ),
        ConnectionObservation(
            name=failed.connection,
            exchange=failed.exchange,
            report=failed,
            fingerprint=failed.fingerprint,
            next_check_at=NOW + 1800,
            consecutive_failures=2,
            checks_total={"failed": 2},
        ),
        ConnectionObservation(
            name="KuCoin Futures New",
            exchange="kucoin",
            report=None,
            fingerprint="fp-new",
            next_check_at=NOW + 5,
        ),
    )
    bots = (
        BotStatus(
            "BTC ETH New Groups", "MEXC Spot Main", BotState.RUNNING, "connection online", NOW - 600
        ),
        BotStatus("KC Alts", "KuCoin Spot", BotState.RUNNING, "connection degraded", NOW - 600),
        BotStatus(
            "Withdraw Bot",
            "MEXC Withdraw Key",
            BotState.PAUSED,
            f"connection failed: withdraw_enabled ({CANARY_PASSPHRASE})",
            NOW - 90_000,
        ),
    )
    history = tuple(
        ReconcileResult(
            at=NOW - 60 * (6 - i),
            revision=REVISION,
            result="unchanged" if i < 5 else "failure",
            message=(
                f"config/prod.sops.yaml: connections[0].api_key: bad value {CANARY_AGE}"
                if i == 5
                else "no changes"
            ),
            error_classes=("decrypt_corrupt",) if i == 5 else (),
            duration_seconds=0.05 * (i + 1),
        )
        for i in range(6)
    )
    config = ConfigStatus(
        applied_revision=REVISION,
        applied_digest="sha256:" + "ab" * 32,
        attempted_revision=BAD_REVISION,
        attempted_digest="sha256:" + "cd" * 32,
        last_error=(
            f"config/prod.sops.yaml: Input string {CANARY_SECRET} does not match sops' data format"
        ),
        last_success_at=NOW - 60,
        reloads_total={"success": 4, "failure": 1},
        errors_total={"decrypt_corrupt": 1},
    )
    return DaemonSnapshot(
        config=config,
        connections=connections,
        bots=bots,
        history=history,
        ready=True,
        version="0.1.0",
        sops_version="3.11.0",
        loop_errors_total=2,
        books=(realistic_book(),),
    )


def realistic_book() -> BotSnapshot:
    """The trading side of "BTC ETH New Groups": one normal and one overdue recovery group."""
    normal = GroupStatus(
        group_id=1,
        pair="ETH/USDT",
        opened_at=NOW - 3600,
        base_price=Decimal("2000"),
        average_price=Decimal("1985.5"),
        amount=Decimal("0.01"),
        filled_adds=1,
        committed_quote=Decimal("19.855"),
        take_profit_price=Decimal("2010"),
        mode="normal",
        recovery_reason=None,
        recovery_since=None,
        recovery_overdue=False,
    )
    recovering = replace(
        normal,
        group_id=2,
        pair="BTC/USDT",
        base_price=Decimal("100"),
        average_price=Decimal("92.63"),
        amount=Decimal("1.5"),
        filled_adds=5,
        committed_quote=Decimal("141.88"),
        take_profit_price=Decimal("93.01"),
        mode="recovery",
        recovery_reason="drawdown",
        recovery_since=NOW - 800_000,
        recovery_overdue=True,
    )
    return BotSnapshot(
        strategy="BTC ETH New Groups",
        connection="MEXC Spot Main",
        mode="paper",
        gate="run",
        groups=(normal, recovering),
        committed_quote=Decimal("161.735"),
        margin_limit=Decimal("500"),
        orders={("buy", "filled"): 7, ("buy", "open"): 2, ("sell", "open"): 2},
        realized_pnl=Decimal("3.25"),
        closed_groups=1,
        skipped=(),
        last_tick_at=NOW - 1,
        last_error="",
    )
