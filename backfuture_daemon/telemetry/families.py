"""The metric catalogue: every family the daemon exports and how one snapshot fills it.

`Families` is built fresh on every scrape by telemetry/metrics.py's SnapshotCollector (so removed
connections and strategies leave no stale series); pure, no clock and no registry.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from backfuture_daemon.bots.model import BotState, BotStatus
from backfuture_daemon.bots.spec import BotSnapshot
from backfuture_daemon.health import ConnectionStatus, ErrorClass, Permission
from backfuture_daemon.reconciler.state import ConfigStatus, ConnectionObservation
from backfuture_daemon.redaction import GLOBAL_REDACTOR

PREFIX = "backfuture_"

_CACHED = (
    "Cached result of the last scheduled connection check (checks run on their own jittered "
    "schedule with backoff; a scrape never calls the exchange)."
)

#: Check results counted per connection; pre-initialised to 0 so ratios and `increase()` work from
#: the first scrape. The reconciler counts one check under its resulting ConnectionStatus value;
#: any other key it uses is exported as well.
CHECK_RESULTS: tuple[str, ...] = tuple(s.value for s in ConnectionStatus)
RELOAD_RESULTS: tuple[str, ...] = ("success", "failure")
#: The modes of a bot group (strategy.status.GroupStatus.mode): both always exported per bot.
GROUP_MODES: tuple[str, ...] = ("normal", "recovery")
#: Order states that can still change (a gauge); every other result only ever grows (a counter).
OPEN_ORDER_STATES = frozenset({"open", "pending", "unknown"})


def _label(value: str) -> str:
    # Label values come from config (names, revisions); a secret must never ride along.
    return GLOBAL_REDACTOR(value)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


class Families:
    """The metric families of one scrape, created empty (also what `describe` returns)."""

    def __init__(self, config_errors: Sequence[str]) -> None:
        conn = ["connection", "exchange"]
        bot = ["strategy", "connection"]
        self.config_errors = config_errors
        self.connection_up = GaugeMetricFamily(
            PREFIX + "connection_up",
            "1 when the connection is online or degraded (bots may run), else 0. " + _CACHED,
            labels=conn,
        )
        self.connection_status = GaugeMetricFamily(
            PREFIX + "connection_status",
            "Connection status as a state set: exactly one of online, degraded, failed, unknown "
            "is 1 (unknown: never checked). " + _CACHED,
            labels=[*conn, "status"],
        )
        self.connection_error = GaugeMetricFamily(
            PREFIX + "connection_error",
            "Error classes of the last connection check as a state set over the closed set of "
            "error classes (1: present). " + _CACHED,
            labels=[*conn, "error_class"],
        )
        self.connection_checks = CounterMetricFamily(
            PREFIX + "connection_checks",
            "Connection checks run since the daemon started, by resulting status.",
            labels=[*conn, "result"],
        )
        self.check_duration = GaugeMetricFamily(
            PREFIX + "connection_check_duration_seconds",
            "Duration of the last connection check in seconds. " + _CACHED,
            labels=conn,
        )
        self.last_check = GaugeMetricFamily(
            PREFIX + "connection_last_check_timestamp_seconds",
            "Unix time when the last connection check finished. " + _CACHED,
            labels=conn,
        )
        self.next_check = GaugeMetricFamily(
            PREFIX + "connection_next_check_timestamp_seconds",
            "Unix time of the next scheduled connection check (shows backoff).",
            labels=conn,
        )
        self.consecutive_failures = GaugeMetricFamily(
            PREFIX + "connection_consecutive_failures",
            "Failed connection checks in a row (drives the retry backoff).",
            labels=conn,
        )
        self.clock_skew = GaugeMetricFamily(
            PREFIX + "connection_clock_skew_seconds",
            "Exchange server time minus local time at the last check, in seconds. " + _CACHED,
            labels=conn,
        )
        self.permission = GaugeMetricFamily(
            PREFIX + "api_key_permission",
            "1 when the API key has the permission (read, trade, futures, withdraw), 0 when it "
            "has not; absent when the check could not tell. withdraw=1 is never allowed. "
            + _CACHED,
            labels=[*conn, "permission"],
        )
        self.ip_restricted = GaugeMetricFamily(
            PREFIX + "api_key_ip_restricted",
            "1 when the API key is restricted to an IP whitelist, 0 when it is not; absent when "
            "unknown. " + _CACHED,
            labels=conn,
        )
        self.key_expiry = GaugeMetricFamily(
            PREFIX + "api_key_expiry_timestamp_seconds",
            "Unix time when the API key expires; absent when the key does not expire or the "
            "exchange does not say. " + _CACHED,
            labels=conn,
        )
        self.key_created = GaugeMetricFamily(
            PREFIX + "api_key_created_timestamp_seconds",
            "Unix time when the API key was created, where the exchange reports it (Binance, "
            "KuCoin, Bybit). " + _CACHED,
            labels=conn,
        )
        self.connection_strategies = GaugeMetricFamily(
            PREFIX + "connection_strategies",
            "Strategies in the running config that use this connection; 0 = an unused key "
            "(delete it on the exchange if it is old).",
            labels=conn,
        )
        self.bot_enabled = GaugeMetricFamily(
            PREFIX + "bot_enabled",
            "1 while the strategy's bot is running, else 0.",
            labels=bot,
        )
        self.bot_state = GaugeMetricFamily(
            PREFIX + "bot_state",
            "Bot lifecycle state as a state set over running, paused, stopped.",
            labels=[*bot, "state"],
        )
        self.bot_since = GaugeMetricFamily(
            PREFIX + "bot_state_since_timestamp_seconds",
            "Unix time when the bot entered its current state.",
            labels=bot,
        )
        self.bot_groups = GaugeMetricFamily(
            PREFIX + "bot_groups",
            "Open groups (deals) of the bot by mode: normal or recovery (Recovery Mode).",
            labels=[*bot, "mode"],
        )
        self.bot_recovery_overdue = GaugeMetricFamily(
            PREFIX + "bot_groups_recovery_overdue",
            "Groups in Recovery Mode for longer than the strategy's recovery_mode.max_duration_h.",
            labels=bot,
        )
        self.bot_committed = GaugeMetricFamily(
            PREFIX + "bot_committed_quote",
            "Quote the bot has committed: filled cost of open positions plus quote reserved by "
            "resting buys, all groups. Never above bot_margin_limit_quote.",
            labels=bot,
        )
        self.bot_margin_limit = GaugeMetricFamily(
            PREFIX + "bot_margin_limit_quote",
            "The strategy's margin_limit: the hard cap on committed quote.",
            labels=bot,
        )
        self.bot_orders = CounterMetricFamily(
            PREFIX + "bot_orders",
            "Orders of the bot that reached a final result, by side and result (filled, "
            "canceled, rejected, lost).",
            labels=[*bot, "side", "result"],
        )
        self.bot_open_orders = GaugeMetricFamily(
            PREFIX + "bot_open_orders",
            "Orders of the bot not final yet, by side and state: open (resting), pending (intent "
            "written, answer not recorded), unknown (outcome being looked up).",
            labels=[*bot, "side", "state"],
        )
        self.bot_pnl = GaugeMetricFamily(
            PREFIX + "bot_realized_pnl_quote",
            "Realized profit and loss of closed groups after fees, in quote; trading_mode paper "
            "is simulated.",
            labels=[*bot, "trading_mode"],
        )
        self.bot_closed_outside = CounterMetricFamily(
            PREFIX + "bot_positions_closed_outside",
            "Groups (deals) of a live futures bot closed because the exchange no longer held "
            "their position: liquidated, or closed by hand on the exchange. Kept in the state "
            "database (survives restarts); each one is a realised loss estimated by the bot.",
            labels=bot,
        )
        self.loop_errors = CounterMetricFamily(
            PREFIX + "reconcile_errors",
            "Reconcile passes that failed with an unexpected error (logged, survived).",
        )
        self.reloads = CounterMetricFamily(
            PREFIX + "config_reloads",
            "Config revisions loaded (decrypted and validated), by result.",
            labels=["result"],
        )
        self.config_errors_total = CounterMetricFamily(
            PREFIX + "config_errors",
            "Config problems found in rejected revisions, by error class (closed set: "
            "configuration.rules.CONFIG_ERROR_CLASSES).",
            labels=["error_class"],
        )
        self.last_success = GaugeMetricFamily(
            PREFIX + "config_last_success_timestamp_seconds",
            "Unix time when the running config revision was last loaded successfully.",
        )
        self.last_reload_ok = GaugeMetricFamily(
            PREFIX + "config_last_reload_successful",
            "1 when the last config revision attempted was applied, 0 when it was rejected "
            "(the previous good revision keeps running).",
        )
        self.config_info = InfoMetricFamily(
            PREFIX + "config",
            "The config revision running now (last good revision).",
            labels=["revision"],
        )
        self.ready = GaugeMetricFamily(
            PREFIX + "ready",
            "1 when the daemon is ready (first config load done, not shutting down).",
        )
        self.last_reconcile = GaugeMetricFamily(
            PREFIX + "reconcile_last_timestamp_seconds",
            "Unix time when the last reconcile pass finished.",
        )
        self.last_reconcile_duration = GaugeMetricFamily(
            PREFIX + "reconcile_last_duration_seconds",
            "Duration of the last reconcile pass in seconds.",
        )
        self.build_info = InfoMetricFamily(
            PREFIX + "build",
            "Version of the daemon and of the sops binary it runs.",
            labels=["version", "sops_version"],
        )

    def all(self) -> list[Metric]:
        return [
            self.connection_up,
            self.connection_status,
            self.connection_error,
            self.connection_checks,
            self.check_duration,
            self.last_check,
            self.next_check,
            self.consecutive_failures,
            self.clock_skew,
            self.permission,
            self.ip_restricted,
            self.key_expiry,
            self.key_created,
            self.connection_strategies,
            self.bot_enabled,
            self.bot_state,
            self.bot_since,
            self.bot_groups,
            self.bot_recovery_overdue,
            self.bot_committed,
            self.bot_margin_limit,
            self.bot_orders,
            self.bot_open_orders,
            self.bot_pnl,
            self.bot_closed_outside,
            self.loop_errors,
            self.reloads,
            self.config_errors_total,
            self.last_success,
            self.last_reload_ok,
            self.config_info,
            self.ready,
            self.last_reconcile,
            self.last_reconcile_duration,
            self.build_info,
        ]

    def add_connection(self, obs: ConnectionObservation, strategies: int) -> None:
        labels = [_label(obs.name), _label(obs.exchange)]
        self.connection_strategies.add_metric(labels, float(strategies))
        report = obs.report
        status = report.status if report is not None else ConnectionStatus.UNKNOWN
        healthy = report is not None and report.healthy
        self.connection_up.add_metric(labels, 1.0 if healthy else 0.0)
        for s in ConnectionStatus:
            self.connection_status.add_metric([*labels, s.value], 1.0 if s is status else 0.0)
        current = set(report.error_classes) if report is not None else set()
        for c in ErrorClass:
            self.connection_error.add_metric([*labels, c.value], 1.0 if c in current else 0.0)
        counts = {r: 0 for r in CHECK_RESULTS} | dict(obs.checks_total)
        for result, count in sorted(counts.items()):
            self.connection_checks.add_metric([*labels, _label(result)], float(count))
        if obs.next_check_at is not None and _finite(obs.next_check_at):
            self.next_check.add_metric(labels, obs.next_check_at)
        self.consecutive_failures.add_metric(labels, float(obs.consecutive_failures))
        if report is None:
            return
        if report.duration_seconds is not None and _finite(report.duration_seconds):
            self.check_duration.add_metric(labels, report.duration_seconds)
        if report.checked_at is not None and _finite(report.checked_at):
            self.last_check.add_metric(labels, report.checked_at)
        if report.clock_skew_ms is not None and _finite(report.clock_skew_ms):
            self.clock_skew.add_metric(labels, report.clock_skew_ms / 1000.0)
        for p in Permission:
            has = report.permissions.get(p.value)
            if has is not None:  # unknown permissions are omitted, not guessed
                self.permission.add_metric([*labels, p.value], 1.0 if has else 0.0)
        if report.ip_restricted is not None:
            self.ip_restricted.add_metric(labels, 1.0 if report.ip_restricted else 0.0)
        created = report.key_created_timestamp
        if created is not None and _finite(created):
            self.key_created.add_metric(labels, created)
        expiry = report.key_expiry_timestamp
        if expiry is not None and _finite(expiry):
            self.key_expiry.add_metric(labels, expiry)

    def add_bot(self, bot: BotStatus) -> None:
        labels = [_label(bot.strategy), _label(bot.connection)]
        self.bot_enabled.add_metric(labels, 1.0 if bot.enabled else 0.0)
        for s in BotState:
            self.bot_state.add_metric([*labels, s.value], 1.0 if s is bot.state else 0.0)
        if _finite(bot.since):
            self.bot_since.add_metric(labels, bot.since)

    def add_book(self, book: BotSnapshot) -> None:
        labels = [_label(book.strategy), _label(book.connection)]
        modes = Counter(g.mode for g in book.groups)
        for mode in GROUP_MODES:
            self.bot_groups.add_metric([*labels, mode], float(modes[mode]))
        overdue = sum(1 for g in book.groups if g.recovery_overdue)
        self.bot_recovery_overdue.add_metric(labels, float(overdue))
        self.bot_committed.add_metric(labels, float(book.committed_quote))
        self.bot_margin_limit.add_metric(labels, float(book.margin_limit))
        for (side, result), count in sorted(book.orders.items()):
            family = self.bot_open_orders if result in OPEN_ORDER_STATES else self.bot_orders
            family.add_metric([*labels, _label(side), _label(result)], float(count))
        self.bot_pnl.add_metric([*labels, _label(book.mode)], float(book.realized_pnl))
        self.bot_closed_outside.add_metric(labels, float(book.closed_outside))

    def add_config(self, config: ConfigStatus) -> None:
        reloads = {r: 0 for r in RELOAD_RESULTS} | dict(config.reloads_total)
        for result, count in sorted(reloads.items()):
            self.reloads.add_metric([_label(result)], float(count))
        errors = {c: 0 for c in self.config_errors} | dict(config.errors_total)
        for error_class, count in sorted(errors.items()):
            self.config_errors_total.add_metric([_label(error_class)], float(count))
        if config.last_success_at is not None and _finite(config.last_success_at):
            self.last_success.add_metric([], config.last_success_at)
        if config.attempted_revision is not None or config.applied_revision is not None:
            self.last_reload_ok.add_metric([], 0.0 if config.last_error else 1.0)
        if config.applied_revision is not None:
            self.config_info.add_metric([_label(config.applied_revision)], {})
