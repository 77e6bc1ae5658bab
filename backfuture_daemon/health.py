"""The exchange port: what the rest of the daemon knows about exchanges, without ccxt.

The connection test (exchanges/probes.py) produces a `ConnectionReport` made of `CheckStep`s;
the reconciler, bots, telemetry and CLI consume reports and never see ccxt. `ErrorClass` is the
closed set of reasons from DESIGN.md, each with the one-line remedy from the product brief.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ErrorClass(StrEnum):
    INVALID_KEY = "invalid_key"
    NO_READ_PERMISSION = "no_read_permission"
    NO_TRADE_PERMISSION = "no_trade_permission"
    NO_FUTURES_PERMISSION = "no_futures_permission"
    FUTURES_UNAVAILABLE = "futures_unavailable"
    WITHDRAW_ENABLED = "withdraw_enabled"
    IP_NOT_ALLOWED = "ip_not_allowed"
    IP_WHITELIST_MISSING = "ip_whitelist_missing"
    CLOCK_SKEW = "clock_skew"
    RATE_LIMITED = "rate_limited"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    ACCOUNT_SUSPENDED = "account_suspended"
    PAIR_NOT_TRADABLE = "pair_not_tradable"
    KEY_EXPIRING = "key_expiring"
    UNKNOWN_ERROR = "unknown_error"


#: What the user should do, in the words of the product brief's error table where it has one.
REMEDIES: dict[ErrorClass, str] = {
    ErrorClass.INVALID_KEY: "Key or secret copied wrong: create a new key, "
    "or copy the values again.",
    ErrorClass.NO_READ_PERMISSION: "Enable read permission (balances, orders) on the key.",
    ErrorClass.NO_TRADE_PERMISSION: "Enable trading on the key, keep withdrawal disabled.",
    ErrorClass.NO_FUTURES_PERMISSION: "Enable futures permission, or move the strategy to spot.",
    ErrorClass.FUTURES_UNAVAILABLE: "Futures trading by API is not available on this exchange; "
    "use spot or another exchange.",
    ErrorClass.WITHDRAW_ENABLED: "Disable the withdrawal permission on the key (never allowed), "
    "or create a new key without it.",
    ErrorClass.IP_NOT_ALLOWED: "Add the server IP to the exchange whitelist for this key.",
    ErrorClass.IP_WHITELIST_MISSING: "Restrict the key to the server IP addresses (IP whitelist).",
    ErrorClass.CLOCK_SKEW: "Synchronise the server clock (NTP), then test again.",
    ErrorClass.RATE_LIMITED: "Too many requests: wait, then test again.",
    ErrorClass.EXCHANGE_UNAVAILABLE: "Exchange API temporarily unavailable: wait, then test again.",
    ErrorClass.ACCOUNT_SUSPENDED: "The exchange account is frozen or restricted: "
    "contact the exchange.",
    ErrorClass.PAIR_NOT_TRADABLE: "A configured pair does not exist or is not tradable by API: "
    "change the strategy's pairs.",
    ErrorClass.KEY_EXPIRING: "The key expires soon: bind it to IP addresses or create a new key.",
    ErrorClass.UNKNOWN_ERROR: "Unexpected exchange error: check the logs, then test again.",
}

#: Failures that retrying later may fix; all other classes need the user to act.
TRANSIENT_CLASSES: frozenset[ErrorClass] = frozenset(
    {ErrorClass.EXCHANGE_UNAVAILABLE, ErrorClass.RATE_LIMITED, ErrorClass.UNKNOWN_ERROR}
)


class StepStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a step result, not a password
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


class ConnectionStatus(StrEnum):
    ONLINE = "online"
    DEGRADED = "degraded"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Permission(StrEnum):
    READ = "read"
    TRADE = "trade"
    FUTURES = "futures"
    WITHDRAW = "withdraw"


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One step of the connection test: `name` is stable (reachability, clock, auth, ...)."""

    name: str
    status: StepStatus
    reason: str = ""
    error_class: ErrorClass | None = None


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """Result of one connection test. Carries no secret; `key_masked` is `mx0v…9f2c`."""

    connection: str
    exchange: str
    status: ConnectionStatus
    steps: tuple[CheckStep, ...] = ()
    error_classes: tuple[ErrorClass, ...] = ()
    permissions: dict[str, bool | None] = field(default_factory=dict)
    ip_restricted: bool | None = None
    key_expiry_timestamp: float | None = None
    #: when the key was created, where the exchange says (for "delete old, unused keys").
    key_created_timestamp: float | None = None
    clock_skew_ms: float | None = None
    latency_ms: float | None = None
    checked_at: float | None = None
    duration_seconds: float | None = None
    #: the exchange asked to wait this long (Retry-After) before the next request, if it did.
    retry_after_seconds: float | None = None
    key_masked: str = ""
    fingerprint: str = ""

    @property
    def healthy(self) -> bool:
        """Bots may run: online or degraded (warnings only)."""
        return self.status in (ConnectionStatus.ONLINE, ConnectionStatus.DEGRADED)

    @property
    def transient(self) -> bool:
        """Failed only for reasons that may pass by themselves (retry with backoff)."""
        return bool(self.error_classes) and all(c in TRANSIENT_CLASSES for c in self.error_classes)

    def to_dict(self) -> dict[str, object]:
        return {
            "connection": self.connection,
            "exchange": self.exchange,
            "status": self.status.value,
            "error_classes": [c.value for c in self.error_classes],
            "remedies": [REMEDIES[c] for c in self.error_classes],
            "steps": [
                {
                    "name": s.name,
                    "status": s.status.value,
                    "reason": s.reason,
                    "error_class": s.error_class.value if s.error_class else None,
                }
                for s in self.steps
            ],
            "permissions": dict(self.permissions),
            "ip_restricted": self.ip_restricted,
            "key_expiry_timestamp": self.key_expiry_timestamp,
            "key_created_timestamp": self.key_created_timestamp,
            "clock_skew_ms": self.clock_skew_ms,
            "latency_ms": self.latency_ms,
            "checked_at": self.checked_at,
            "duration_seconds": self.duration_seconds,
            "retry_after_seconds": self.retry_after_seconds,
            "key": self.key_masked,
        }


def aggregate_status(steps: tuple[CheckStep, ...]) -> ConnectionStatus:
    """online (all pass) / degraded (warnings only) / failed (any fail) / unknown (none known)."""
    if not steps:
        return ConnectionStatus.UNKNOWN
    statuses = {s.status for s in steps}
    if StepStatus.FAIL in statuses:
        return ConnectionStatus.FAILED
    if statuses == {StepStatus.UNKNOWN}:
        return ConnectionStatus.UNKNOWN
    if StepStatus.WARN in statuses or StepStatus.UNKNOWN in statuses:
        return ConnectionStatus.DEGRADED
    return ConnectionStatus.ONLINE
