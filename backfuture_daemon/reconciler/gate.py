"""May a strategy's bot run? A pure verdict (and so a `Gate`) from strategy, connection and test.

Called by the planner (reconciler/plan.py) for every strategy on every pass; no clock, I/O or env.
The brief's rule: a bot runs only while its strategy and connection are not suspended and the key
configured now tested online or degraded; a key with withdraw permission never enables a bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backfuture_daemon.bots.model import Gate
from backfuture_daemon.configuration.models import Connection, Strategy
from backfuture_daemon.health import ConnectionReport, ErrorClass, Permission


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    #: Not tested yet in this process: the bot waits paused (a restored running bot too).
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    @property
    def gate(self) -> Gate:
        return Gate.RUN if self.allowed else Gate.PAUSE

    @property
    def pending(self) -> bool:
        return self.decision is Decision.PENDING


def withdraw_enabled(report: ConnectionReport) -> bool:
    return (
        report.permissions.get(Permission.WITHDRAW.value) is True
        or ErrorClass.WITHDRAW_ENABLED in report.error_classes
    )


def bot_verdict(
    strategy: Strategy,
    connection: Connection | None,
    report: ConnectionReport | None,
    *,
    fingerprint_current: bool,
) -> Verdict:
    """`fingerprint_current`: `report` was produced for the connection settings configured now.
    Without a valid config there is no strategy to judge: the planner pauses every bot itself."""
    if strategy.suspend:
        return Verdict(Decision.DENY, "strategy suspended")
    if connection is None:
        return Verdict(Decision.DENY, f'connection "{strategy.connection}" not in config')
    if connection.suspend:
        return Verdict(Decision.DENY, f'connection "{connection.name}" suspended')
    if report is None:
        return Verdict(Decision.PENDING, f'waiting for the first test of "{connection.name}"')
    if withdraw_enabled(report):
        return Verdict(Decision.DENY, f'connection "{connection.name}": withdraw_enabled')
    if not fingerprint_current:
        return Verdict(Decision.DENY, f'connection "{connection.name}" changed; re-testing')
    if not report.healthy:
        classes = ", ".join(c.value for c in report.error_classes) or report.status.value
        return Verdict(Decision.DENY, f'connection "{connection.name}" {report.status}: {classes}')
    if strategy.market.value == "futures" and report.permissions.get("futures") is False:
        return Verdict(Decision.DENY, f'connection "{connection.name}": no_futures_permission')
    return Verdict(Decision.ALLOW, f'connection "{connection.name}" {report.status}')
