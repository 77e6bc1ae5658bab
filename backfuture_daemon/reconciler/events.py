"""The wording of the reconciler's log lines, as pure functions returning `Event`s.

config_tracker.py, checks.py and loop.py build an `Event` here and hand it to an injected `Emit`
(the loop's logger in the daemon, a list in tests): one line per event, naming connection /
strategy / revision / error_class as fields; free text from outside is scrubbed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from backfuture_daemon.bots.lifecycle import Transition
from backfuture_daemon.bots.model import BotState
from backfuture_daemon.errors import ConfigIssue
from backfuture_daemon.health import ConnectionReport, StepStatus
from backfuture_daemon.reconciler.backoff import describe_delay
from backfuture_daemon.redaction import scrub_text, shorten


@dataclass(frozen=True, slots=True)
class Event:
    level: int
    message: str
    fields: Mapping[str, object] = field(default_factory=dict)


Emit = Callable[[Event], None]

_VERB = {BotState.RUNNING: "started", BotState.PAUSED: "paused", BotState.STOPPED: "stopped"}


def event(level: int, message: str, **fields: object) -> Event:
    """An event; empty fields (None, "", ()) are left out."""
    return Event(level, message, {k: v for k, v in fields.items() if v not in (None, "", ())})


def safe(text: str, limit: int = 300) -> str:
    """Text from outside (vendor messages, exceptions): secrets scrubbed, cut short."""
    return shorten(scrub_text(text), limit)


def connection_forgotten(name: str, *, suspended: bool) -> Event:
    what = "suspended: not tested" if suspended else "removed from config"
    return event(logging.INFO, f'connection "{name}" {what}', connection=name)


def bot_changed(t: Transition, revision: str | None) -> Event:
    bot = t.bot
    text = _VERB[bot.state] if t.changed_state else f"still {bot.state.value}"
    # A new bot waiting for its first test is routine; leaving `running` is worth a warning.
    level = logging.WARNING if t.previous is BotState.RUNNING else logging.INFO
    return event(
        level,
        f'bot "{bot.strategy}" {text}: {safe(bot.reason)}',
        strategy=bot.strategy,
        connection=bot.connection,
        revision=revision,
        state=bot.state.value,
    )


def summarise(transitions: Sequence[Transition]) -> str:
    """`2 bot(s) running, 1 bot(s) paused` for a reconcile result's message."""
    counts: dict[str, int] = {}
    for t in transitions:
        counts[t.bot.state.value] = counts.get(t.bot.state.value, 0) + 1
    return ", ".join(f"{n} bot(s) {s}" for s, n in sorted(counts.items()))


def connection_checked(
    name: str,
    exchange: str,
    report: ConnectionReport,
    old: ConnectionReport | None,
    *,
    delay: float,
    failures: int,
    bots: int,
    revision: str | None,
) -> Event:
    """One line per test: INFO/WARNING when the result changed, DEBUG/INFO when it repeats."""
    changed = old is None or (old.status, old.error_classes) != (
        report.status,
        report.error_classes,
    )
    classes = ",".join(c.value for c in report.error_classes)
    reasons = "; ".join(
        safe(s.reason, 160) for s in report.steps if s.status is StepStatus.FAIL and s.reason
    )
    if report.healthy:
        what = f"{report.status.value}; bots may run" + (f" ({bots})" if bots else "")
        level = logging.INFO if changed else logging.DEBUG
    else:
        what = f"{classes or report.status.value}" + (f" ({reasons})" if reasons else "")
        what += "; its bots paused" if bots else ""
        backoff = f"backoff #{failures}, " if report.transient else ""
        what += f"; {backoff}re-check in {describe_delay(delay)}"
        level = logging.WARNING if changed else logging.INFO
    return event(
        level,
        f'connection "{name}": {what}',
        connection=name,
        exchange=exchange,
        revision=revision,
        error_class=classes,
        status=report.status.value,
    )


def config_applied(revision: str, *, changed: bool, connections: int, strategies: int) -> Event:
    return event(
        logging.INFO,
        "config revision applied" if changed else "config revision re-read, unchanged",
        revision=revision,
        connections=connections,
        strategies=strategies,
    )


def config_rejected(
    issues: Sequence[ConfigIssue],
    text: str,
    *,
    kept: str | None,
    retry_in: float | None,
    revision: str | None,
    classes: Sequence[str],
    path: str,
) -> Event:
    """One line per rejected revision (not per pass: the digest is not re-attempted)."""
    next_step = (
        f"transient; retry in {describe_delay(retry_in)}"
        if retry_in is not None
        else "not retried until the files change or a forced reconcile"
    )
    first = issues[0] if issues else ConfigIssue(path, "", "invalid")
    more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
    return event(
        logging.ERROR,
        f"config revision rejected: {text}{more}; keeping revision {kept or 'none'}; {next_step}",
        revision=revision,
        error_class=",".join(classes),
        file=first.file,
        field=first.path,
    )


def loop_failed(error: BaseException, *, total: int, retry_in: float | None, where: str) -> Event:
    """An unexpected error in a reconcile pass (or while recording a test result): named by
    type, its text scrubbed; survived. `retry_in`: when the next pass comes, if delayed."""
    detail = safe(str(error), 200)
    then = f"; next pass in {describe_delay(retry_in)}" if retry_in is not None else ""
    return event(
        logging.ERROR,
        f"reconcile pass failed: {type(error).__name__}"
        + (f": {detail}" if detail else "")
        + f"; the last good revision keeps running{then}",
        error_class="internal_error",
        exception=type(error).__name__,
        where=where,
        loop_errors_total=total,
    )


def shutdown_waiting(tests: int) -> Event:
    return event(logging.INFO, f"shutting down: waiting for {tests} connection test(s)")


def shutdown_cancelled(tests: int) -> Event:
    return event(logging.WARNING, f"shutdown: cancelled {tests} late connection test(s)")
