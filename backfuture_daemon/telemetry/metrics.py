"""Prometheus metrics of the daemon, produced at scrape time from the current `DaemonSnapshot`.

`SnapshotCollector` is registered on a `CollectorRegistry` injected by the caller (`backfuture run`
builds one with `build_registry`; tests build a fresh one each), so a connection or strategy removed
from the config leaves no stale series. Nothing here is module-global; nothing reads a clock.
The catalogue (prefix `backfuture_`) is DESIGN.md "Metrics"; `METRIC_NAMES` lists every sample name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from backfuture_daemon.configuration.rules import CONFIG_ERROR_CLASSES
from backfuture_daemon.reconciler.state import DaemonSnapshot
from backfuture_daemon.telemetry.families import (
    CHECK_RESULTS,
    GROUP_MODES,
    OPEN_ORDER_STATES,
    PREFIX,
    RELOAD_RESULTS,
    Families,
)

__all__ = [
    "CHECK_RESULTS",
    "GROUP_MODES",
    "METRIC_NAMES",
    "OPEN_ORDER_STATES",
    "PREFIX",
    "RELOAD_RESULTS",
    "SnapshotCollector",
    "build_registry",
]


class SnapshotCollector(Collector):
    """Renders the metric catalogue from `snapshot_fn()` on every scrape."""

    def __init__(
        self,
        snapshot_fn: Callable[[], DaemonSnapshot],
        *,
        config_errors: Sequence[str] | None = None,
    ) -> None:
        self._snapshot_fn = snapshot_fn
        self._config_errors = (
            tuple(config_errors) if config_errors is not None else CONFIG_ERROR_CLASSES
        )

    def describe(self) -> Iterable[Metric]:
        # Lets the registry detect name clashes at register time without taking a snapshot.
        return Families(self._config_errors).all()

    def collect(self) -> Iterable[Metric]:
        snapshot = self._snapshot_fn()
        families = Families(self._config_errors)
        users = snapshot.strategies_per_connection()
        for obs in snapshot.connections:
            families.add_connection(obs, users[obs.name])
        for bot in snapshot.bots:
            families.add_bot(bot)
        for book in snapshot.books:
            families.add_book(book)
        families.loop_errors.add_metric([], float(snapshot.loop_errors_total))
        families.add_config(snapshot.config)
        families.ready.add_metric([], 1.0 if snapshot.ready and not snapshot.shutting_down else 0.0)
        if snapshot.history:
            last = snapshot.history[-1]
            families.last_reconcile.add_metric([], last.at)
            families.last_reconcile_duration.add_metric([], last.duration_seconds)
        families.build_info.add_metric(
            [], {"version": snapshot.version, "sops_version": snapshot.sops_version}
        )
        return families.all()


def build_registry(
    snapshot_fn: Callable[[], DaemonSnapshot], *, process_metrics: bool = True
) -> CollectorRegistry:
    """A fresh registry with the snapshot collector (and process/platform/GC collectors)."""
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(snapshot_fn))
    if process_metrics:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


#: Every sample name the daemon's own collector can export (for dashboard and alert tests).
METRIC_NAMES: frozenset[str] = frozenset(
    sample_name
    for family in Families(CONFIG_ERROR_CLASSES).all()
    for sample_name in (
        [family.name + "_total"]
        if family.type == "counter"
        else [family.name + "_info"]
        if family.type == "info"
        else [family.name]
    )
)
