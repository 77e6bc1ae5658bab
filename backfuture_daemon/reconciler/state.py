"""What the daemon observes and has done, as immutable snapshots.

The reconcile loop (reconciler/loop.py) owns the live state and publishes a `DaemonSnapshot` after
every change; telemetry (metrics collector, /status) and `backfuture plan --against` only read
snapshots. Nothing here holds a secret: connections carry masked keys and salted fingerprints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backfuture_daemon.bots.model import BotState, BotStatus
from backfuture_daemon.bots.spec import BotSnapshot
from backfuture_daemon.health import ConnectionReport


@dataclass(frozen=True, slots=True)
class ConnectionObservation:
    """The last test result of one connection plus its scheduling state."""

    name: str
    exchange: str
    report: ConnectionReport | None  # None: never checked (status unknown)
    fingerprint: str  # salted hash of settings + secrets; changes when the key changes
    next_check_at: float | None = None
    consecutive_failures: int = 0
    checks_total: dict[str, int] = field(default_factory=dict)  # result -> count
    inputs_digest: str = ""  # policy + strategies' pairs the last test was run with
    last_reason: str = ""  # why the last test was run (new, key changed, scheduled, ...)


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    at: float
    revision: str | None
    result: str  # "success" | "failure" | "unchanged"
    message: str = ""
    error_classes: tuple[str, ...] = ()
    duration_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ConfigStatus:
    applied_revision: str | None = None  # last good revision, running now
    applied_digest: str | None = None
    attempted_revision: str | None = None  # last revision tried (may be the broken one)
    attempted_digest: str | None = None
    last_error: str | None = None  # redacted, names file and field
    last_success_at: float | None = None
    reloads_total: dict[str, int] = field(default_factory=dict)  # "success"/"failure" -> count
    errors_total: dict[str, int] = field(default_factory=dict)  # config error_class -> count


@dataclass(frozen=True, slots=True)
class DaemonSnapshot:
    config: ConfigStatus
    connections: tuple[ConnectionObservation, ...] = ()
    bots: tuple[BotStatus, ...] = ()
    history: tuple[ReconcileResult, ...] = ()  # newest last, at most 5
    ready: bool = False
    shutting_down: bool = False
    version: str = ""
    sops_version: str = ""
    #: Salt of the connection fingerprints, so `backfuture plan --against` can compare keys
    #: without ever seeing one (HMAC of high-entropy secrets; see reconciler/fingerprint.py).
    fingerprint_salt: str = ""
    started_at: float | None = None
    heartbeat_at: float | None = None  # last loop iteration; /healthz may check its age
    #: Reconcile passes that failed with an unexpected error (logged, survived); a metric.
    loop_errors_total: int = 0
    #: The trading side of each bot (groups, committed quote, orders, PnL), from the bot
    #: supervisor; the daemon joins it to the loop's snapshot (daemon.py).
    books: tuple[BotSnapshot, ...] = ()

    def strategies_per_connection(self) -> dict[str, int]:
        """Strategies in the running config per connection (0: an unused key). Bots of strategies
        removed from git (stopped) no longer use their connection."""
        counts = {c.name: 0 for c in self.connections}
        for bot in self.bots:
            if bot.state is not BotState.STOPPED and bot.connection in counts:
                counts[bot.connection] += 1
        return counts
