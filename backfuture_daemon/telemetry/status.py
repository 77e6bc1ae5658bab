"""The `/status` document: a `DaemonSnapshot` rendered as a JSON-ready dict, secrets out.

Pure (no clock, no I/O). Called by telemetry/http.py for `GET /status`; `backfuture plan --against`
reads the same shape back. Keys are shown masked (`mx0v…9f2c`), free text (reasons, messages,
errors) is scrubbed, and the whole tree passes through GLOBAL_REDACTOR as a final guard.
"""

from __future__ import annotations

from typing import Any

from backfuture_daemon.bots.model import BotStatus
from backfuture_daemon.reconciler.state import (
    ConfigStatus,
    ConnectionObservation,
    DaemonSnapshot,
    ReconcileResult,
)
from backfuture_daemon.redaction import mask, redact_tree, scrub_text

HISTORY_LIMIT = 5
STATUS_SCHEMA_VERSION = 1


def _opt_text(text: str | None) -> str | None:
    return None if text is None else scrub_text(text)


def _config(config: ConfigStatus) -> dict[str, Any]:
    return {
        "applied_revision": config.applied_revision,
        "applied_digest": config.applied_digest,
        "attempted_revision": config.attempted_revision,
        "attempted_digest": config.attempted_digest,
        # Applied == attempted: the last revision tried is the one running.
        "in_sync": config.last_error is None,
        "last_error": _opt_text(config.last_error),
        "last_success_at": config.last_success_at,
        "reloads_total": dict(config.reloads_total),
        "errors_total": dict(config.errors_total),
    }


def _reconcile(result: ReconcileResult) -> dict[str, Any]:
    return {
        "at": result.at,
        "revision": result.revision,
        "result": result.result,
        "message": scrub_text(result.message),
        "error_classes": list(result.error_classes),
        "duration_seconds": result.duration_seconds,
    }


def _connection(obs: ConnectionObservation, strategies: int) -> dict[str, Any]:
    report: dict[str, Any] | None = None
    if obs.report is not None:
        report = obs.report.to_dict()
        # Reports carry the masked key already; masking again is idempotent and catches a
        # producer that forgot.
        report["key"] = mask(obs.report.key_masked) if obs.report.key_masked else ""
        report["steps"] = [
            {
                "name": step.name,
                "status": step.status.value,
                "reason": scrub_text(step.reason),
                "error_class": step.error_class.value if step.error_class else None,
            }
            for step in obs.report.steps
        ]
    return {
        "name": obs.name,
        "exchange": obs.exchange,
        "status": obs.report.status.value if obs.report is not None else "unknown",
        "healthy": obs.report is not None and obs.report.healthy,
        "fingerprint": obs.fingerprint,
        "inputs_digest": obs.inputs_digest,
        # 0: no strategy uses this key; delete it on the exchange if it is old.
        "strategies": strategies,
        "unused": strategies == 0,
        "report": report,
        "scheduling": {
            "next_check_at": obs.next_check_at,
            "consecutive_failures": obs.consecutive_failures,
            "checks_total": dict(obs.checks_total),
            "last_reason": scrub_text(obs.last_reason),
        },
    }


def _bot(bot: BotStatus) -> dict[str, Any]:
    return {
        "strategy": bot.strategy,
        "connection": bot.connection,
        "state": bot.state.value,
        "enabled": bot.enabled,
        "reason": scrub_text(bot.reason),
        "since": bot.since,
        "mode": bot.mode,
        "market": bot.market,
        # Before the last change, e.g. "running" (restored from disk) while a restarted
        # daemon waits for the first test of its connection.
        "previous_state": bot.previous_state.value if bot.previous_state else None,
        "previous_reason": scrub_text(bot.previous_reason),
    }


def _bots(snapshot: DaemonSnapshot) -> list[dict[str, Any]]:
    """Lifecycle (state, reason) joined with the trading book (groups, committed, orders, PnL)."""
    books = {b.strategy: b for b in snapshot.books}
    out = []
    for bot in snapshot.bots:
        entry = _bot(bot)
        book = books.get(bot.strategy)
        if book is not None:
            trading = book.as_status()
            for key in ("strategy", "connection"):
                trading.pop(key, None)
            trading["last_error"] = scrub_text(str(trading.get("last_error") or ""))
            entry |= trading
        out.append(entry)
    return out


def render_status(snapshot: DaemonSnapshot) -> dict[str, Any]:
    """The /status JSON document for `snapshot` (newest reconcile results last)."""
    users = snapshot.strategies_per_connection()
    doc: dict[str, Any] = {
        "schema_version": STATUS_SCHEMA_VERSION,
        "version": snapshot.version,
        "sops_version": snapshot.sops_version,
        "ready": snapshot.ready and not snapshot.shutting_down,
        "shutting_down": snapshot.shutting_down,
        # Salt of the connection fingerprints: lets `backfuture plan --against` tell which keys
        # changed without ever seeing one (reconciler/fingerprint.py).
        "fingerprint_salt": snapshot.fingerprint_salt,
        "config": _config(snapshot.config),
        "reconciles": [_reconcile(r) for r in snapshot.history[-HISTORY_LIMIT:]],
        "connections": [_connection(c, users[c.name]) for c in snapshot.connections],
        "bots": _bots(snapshot),
    }
    redacted = redact_tree(doc)
    assert isinstance(redacted, dict)
    return redacted
