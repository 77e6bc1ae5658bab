"""One connection test in progress: its steps so far, the facts its report carries, and the one
place a probe call's failure is classified into data.

Created and driven by probes.ConnectionTester (one `ProbeRun` per test); a step calls
`run.call(adapter_method)` and catches `ProbeFailed`, which carries the classification only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from backfuture_daemon.configuration.models import Connection, Policy, Strategy
from backfuture_daemon.exchanges.classify import Classified, classify_error
from backfuture_daemon.exchanges.port import ExchangeAdapter, KeyInfo, ServerTime
from backfuture_daemon.health import CheckStep, ErrorClass, StepStatus
from backfuture_daemon.redaction import Redactor

T = TypeVar("T")
log = logging.getLogger("backfuture.exchanges")
E = ErrorClass
S = StepStatus

_WHAT: dict[ErrorClass, str] = {
    E.INVALID_KEY: "key rejected",
    E.NO_READ_PERMISSION: "key cannot read balances",
    E.NO_TRADE_PERMISSION: "key cannot trade",
    E.NO_FUTURES_PERMISSION: "key cannot use futures",
    E.IP_NOT_ALLOWED: "request IP not allowed for this key",
    E.CLOCK_SKEW: "request timestamp rejected",
    E.RATE_LIMITED: "rate limited",
    E.EXCHANGE_UNAVAILABLE: "exchange API unavailable",
    E.ACCOUNT_SUSPENDED: "account frozen or restricted",
    E.PAIR_NOT_TRADABLE: "pair not tradable",
    E.FUTURES_UNAVAILABLE: "futures unavailable",
}


class ProbeFailed(Exception):
    """A probe call failed; carries the classification (never the raw vendor exception)."""

    def __init__(self, classified: Classified) -> None:
        super().__init__(classified.detail)
        self.c = classified


@dataclass
class ProbeRun:
    """One test in progress: the steps so far and the facts the report carries."""

    connection: Connection
    adapter: ExchangeAdapter
    redact: Redactor
    strategies: list[Strategy]
    policy: Policy
    needs_trade: bool
    needs_futures: bool
    now: float
    steps: list[CheckStep] = field(default_factory=list)
    stop_reason: str | None = None
    current: str = ""
    latency_ms: float | None = None
    #: server-time samples: the reachability step's, then any the clock step needed.
    time_samples: list[ServerTime] = field(default_factory=list)
    skew_ms: float | None = None
    key_info: KeyInfo | None = None
    #: why the key-info call failed (its dependent steps then say "not checked: ...").
    key_info_failed: str | None = None
    key_expiry: float | None = None
    trade: bool | None = None
    read: bool | None = None
    #: the longest Retry-After (seconds) a rate-limited answer asked for, or the clock step's
    #: early re-check (steps.CLOCK_RECHECK_SECONDS); reported as `retry_after_seconds`.
    retry_after: float | None = None

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        self.adapter.take_response()  # forget answers from before this call
        try:
            return await fn()
        except Exception as e:  # every exchange problem becomes data
            meta = self.adapter.take_response()
            c = classify_error(
                e, self.adapter.exchange, redact=self.redact, http_status=meta.status
            )
            if c.error_class is E.RATE_LIMITED and meta.retry_after is not None:
                c = dataclasses.replace(c, retry_after=meta.retry_after)
                self.retry_after = max(self.retry_after or 0.0, meta.retry_after)
            if c.error_class is E.UNKNOWN_ERROR:
                # Possibly a bug of ours (an unexpected response shape): say so in the log.
                log.warning(
                    'connection "%s": %s: unexpected %s (%s)',
                    self.connection.name, self.current, type(e).__name__, c.detail,
                )  # fmt: skip
            raise ProbeFailed(c) from None

    def fail(self, name: str, c: Classified, error_class: ErrorClass | None = None) -> CheckStep:
        cls = error_class or c.error_class
        wait = "" if c.retry_after is None else f"; retry after {c.retry_after:g} s"
        step = CheckStep(
            name, S.FAIL, f"{_WHAT.get(cls, 'exchange error')} ({c.detail}{wait})", cls
        )
        self.steps.append(step)
        return step

    def add(self, step: CheckStep) -> None:
        self.steps.append(step)
