"""SnapshotCollector: the DESIGN.md metric catalogue rendered from a snapshot at scrape time."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from backfuture_daemon.configuration.rules import CONFIG_ERROR_CLASSES
from backfuture_daemon.health import ConnectionStatus, ErrorClass
from backfuture_daemon.reconciler.state import ConfigStatus, DaemonSnapshot
from backfuture_daemon.telemetry.metrics import (
    METRIC_NAMES,
    SnapshotCollector,
    build_registry,
)
from tests.helpers.snapshots import (
    CANARIES,
    CANARY_SECRET,
    NOW,
    REVISION,
    realistic_snapshot,
    register_canaries,
)

Labels = tuple[tuple[str, str], ...]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


class Holder:
    def __init__(self, snapshot: DaemonSnapshot) -> None:
        self.snapshot = snapshot

    def __call__(self) -> DaemonSnapshot:
        return self.snapshot


def scrape(registry: CollectorRegistry) -> dict[str, dict[Labels, float]]:
    """name -> {sorted labels -> value} from the text exposition, as Prometheus would read it."""
    out: dict[str, dict[Labels, float]] = {}
    text = generate_latest(registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def series(
    samples: dict[str, dict[Labels, float]], name: str, **labels: str
) -> dict[Labels, float]:
    want = set(labels.items())
    return {k: v for k, v in samples.get(name, {}).items() if want <= set(k)}


def value(samples: dict[str, dict[Labels, float]], name: str, **labels: str) -> float:
    found = series(samples, name, **labels)
    assert len(found) == 1, (name, labels, found)
    return next(iter(found.values()))


def test_connection_state_sets_have_exactly_one_status(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    s = scrape(registry)
    expected = {
        "MEXC Spot Main": "online",
        "KuCoin Spot": "degraded",
        "MEXC Withdraw Key": "failed",
        "KuCoin Futures New": "unknown",
    }
    for connection, status in expected.items():
        states = series(s, "backfuture_connection_status", connection=connection)
        assert len(states) == len(ConnectionStatus)
        on = [dict(k)["status"] for k, v in states.items() if v == 1]
        assert on == [status]
        up = value(s, "backfuture_connection_up", connection=connection)
        assert up == (1.0 if status in ("online", "degraded") else 0.0)


def test_error_state_set_covers_every_error_class(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    s = scrape(registry)
    errors = series(s, "backfuture_connection_error", connection="MEXC Withdraw Key")
    assert {dict(k)["error_class"] for k in errors} == {c.value for c in ErrorClass}
    assert {dict(k)["error_class"] for k, v in errors.items() if v == 1} == {
        "withdraw_enabled",
        "ip_not_allowed",
    }
    never = series(s, "backfuture_connection_error", connection="KuCoin Futures New")
    assert len(never) == len(ErrorClass)
    assert set(never.values()) == {0.0}


def test_permissions_known_are_exported_unknown_are_omitted(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    s = scrape(registry)
    perm = "backfuture_api_key_permission"
    assert value(s, perm, connection="MEXC Withdraw Key", permission="withdraw") == 1.0
    assert value(s, perm, connection="MEXC Spot Main", permission="withdraw") == 0.0
    assert value(s, perm, connection="MEXC Spot Main", permission="futures") == 0.0
    # futures unknown for the KuCoin key: no series rather than a guess
    assert series(s, perm, connection="KuCoin Spot", permission="futures") == {}
    assert value(s, perm, connection="KuCoin Spot", permission="trade") == 1.0
    # never checked: nothing is known about the key
    assert series(s, perm, connection="KuCoin Futures New") == {}
    assert value(s, "backfuture_api_key_ip_restricted", connection="KuCoin Spot") == 0.0
    assert series(s, "backfuture_api_key_ip_restricted", connection="KuCoin Futures New") == {}


def test_timestamps_durations_and_expiry_only_when_known(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    s = scrape(registry)
    conn = "MEXC Spot Main"
    assert value(s, "backfuture_connection_check_duration_seconds", connection=conn) == 0.42
    assert value(s, "backfuture_connection_last_check_timestamp_seconds", connection=conn) == (
        NOW - 30
    )
    assert value(s, "backfuture_connection_next_check_timestamp_seconds", connection=conn) == (
        NOW + 270
    )
    assert value(s, "backfuture_connection_clock_skew_seconds", connection=conn) == -0.042
    assert value(s, "backfuture_api_key_expiry_timestamp_seconds", connection=conn) == (
        NOW + 80 * 86400
    )
    for missing in ("KuCoin Spot", "KuCoin Futures New"):
        assert series(s, "backfuture_api_key_expiry_timestamp_seconds", connection=missing) == {}
    new = "KuCoin Futures New"
    assert series(s, "backfuture_connection_last_check_timestamp_seconds", connection=new) == {}
    assert series(s, "backfuture_connection_check_duration_seconds", connection=new) == {}


def test_check_counters_are_preinitialised(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    s = scrape(registry)
    checks = series(s, "backfuture_connection_checks_total", connection="KuCoin Spot")
    assert {dict(k)["result"]: v for k, v in checks.items()} == {
        "online": 3.0,
        "degraded": 9.0,
        "failed": 0.0,
        "unknown": 0.0,
    }
    new = series(s, "backfuture_connection_checks_total", connection="KuCoin Futures New")
    assert set(new.values()) == {0.0}
    assert len(new) == len(ConnectionStatus)


def test_bot_metrics(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    s = scrape(registry)
    bot = {"strategy": "Withdraw Bot", "connection": "MEXC Withdraw Key"}
    assert value(s, "backfuture_bot_enabled", **bot) == 0.0
    states = series(s, "backfuture_bot_state", **bot)
    assert {dict(k)["state"]: v for k, v in states.items()} == {
        "running": 0.0,
        "paused": 1.0,
        "stopped": 0.0,
    }
    assert value(s, "backfuture_bot_state_since_timestamp_seconds", **bot) == NOW - 90_000
    assert value(s, "backfuture_bot_enabled", strategy="KC Alts", connection="KuCoin Spot") == 1.0


def test_config_metrics(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    s = scrape(registry)
    assert value(s, "backfuture_config_reloads_total", result="success") == 4.0
    assert value(s, "backfuture_config_reloads_total", result="failure") == 1.0
    errors = series(s, "backfuture_config_errors_total")
    assert {dict(k)["error_class"] for k in errors} == set(CONFIG_ERROR_CLASSES)
    assert value(s, "backfuture_config_errors_total", error_class="decrypt_corrupt") == 1.0
    assert value(s, "backfuture_config_last_success_timestamp_seconds") == NOW - 60
    assert value(s, "backfuture_config_last_reload_successful") == 0.0
    assert series(s, "backfuture_config_info") == {(("revision", REVISION),): 1.0}
    assert series(s, "backfuture_build_info") == {
        (("sops_version", "3.11.0"), ("version", "0.1.0")): 1.0
    }
    assert value(s, "backfuture_ready") == 1.0
    assert value(s, "backfuture_reconcile_last_timestamp_seconds") == NOW - 60 * 1


def test_empty_snapshot_exports_preinitialised_config_counters(
    registry: CollectorRegistry,
) -> None:
    registry.register(SnapshotCollector(Holder(DaemonSnapshot(config=ConfigStatus()))))
    s = scrape(registry)
    assert value(s, "backfuture_config_reloads_total", result="success") == 0.0
    assert value(s, "backfuture_config_reloads_total", result="failure") == 0.0
    assert set(series(s, "backfuture_config_errors_total").values()) == {0.0}
    assert "backfuture_config_info" not in s
    assert "backfuture_config_last_success_timestamp_seconds" not in s
    assert "backfuture_connection_up" not in s
    assert value(s, "backfuture_ready") == 0.0


def test_removed_connection_and_strategy_vanish(registry: CollectorRegistry) -> None:
    snapshot = realistic_snapshot()
    holder = Holder(snapshot)
    registry.register(SnapshotCollector(holder))
    before = generate_latest(registry).decode()
    assert 'connection="MEXC Withdraw Key"' in before
    assert 'strategy="Withdraw Bot"' in before
    holder.snapshot = replace(
        snapshot,
        connections=tuple(c for c in snapshot.connections if c.name != "MEXC Withdraw Key"),
        bots=tuple(b for b in snapshot.bots if b.strategy != "Withdraw Bot"),
    )
    after = generate_latest(registry).decode()
    assert "MEXC Withdraw Key" not in after
    assert "Withdraw Bot" not in after
    assert 'connection="MEXC Spot Main"' in after


def test_status_change_is_seen_on_next_scrape(registry: CollectorRegistry) -> None:
    snapshot = realistic_snapshot()
    holder = Holder(snapshot)
    registry.register(SnapshotCollector(holder))
    conn = "MEXC Spot Main"
    assert value(scrape(registry), "backfuture_connection_up", connection=conn) == 1.0
    first = snapshot.connections[0]
    assert first.report is not None
    broken = replace(
        first,
        report=replace(
            first.report,
            status=ConnectionStatus.FAILED,
            error_classes=(ErrorClass.EXCHANGE_UNAVAILABLE,),
        ),
    )
    holder.snapshot = replace(snapshot, connections=(broken, *snapshot.connections[1:]))
    s = scrape(registry)
    assert value(s, "backfuture_connection_up", connection=conn) == 0.0
    assert (
        value(s, "backfuture_connection_error", connection=conn, error_class="exchange_unavailable")
        == 1.0
    )


def test_registries_are_independent() -> None:
    a, b = CollectorRegistry(), CollectorRegistry()
    a.register(SnapshotCollector(Holder(realistic_snapshot())))
    b.register(SnapshotCollector(Holder(DaemonSnapshot(config=ConfigStatus()))))
    assert "MEXC Spot Main" in generate_latest(a).decode()
    assert "MEXC Spot Main" not in generate_latest(b).decode()
    # registering twice on one registry is a name clash, detected without taking a snapshot
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        a.register(SnapshotCollector(lambda: pytest.fail("snapshot taken at register time")))


def test_help_says_connection_metrics_are_cached(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    text = generate_latest(registry).decode()
    helps = {
        line.split()[2]: line
        for line in text.splitlines()
        if line.startswith("# HELP backfuture_connection_") and "checks_total" not in line
    }
    assert "backfuture_connection_up" in helps
    for name, line in helps.items():
        # Scheduling and config facts, not results of a check:
        if name.endswith(("next_check_timestamp_seconds", "consecutive_failures", "strategies")):
            continue
        assert "Cached result of the last scheduled connection check" in line, name


def test_metric_names_constant_matches_output(registry: CollectorRegistry) -> None:
    registry.register(SnapshotCollector(Holder(realistic_snapshot())))
    names = set(scrape(registry))
    assert names == set(METRIC_NAMES)
    assert all(n.startswith("backfuture_") for n in names)


def test_build_registry_adds_process_metrics_on_the_injected_registry() -> None:
    registry = build_registry(lambda: realistic_snapshot())
    names = set(scrape(registry))
    assert "process_cpu_seconds_total" in names or "python_info" in names
    assert "backfuture_connection_up" in names
    bare = build_registry(lambda: realistic_snapshot(), process_metrics=False)
    assert not {n for n in scrape(bare) if not n.startswith("backfuture_")}


def test_secrets_never_reach_metrics(registry: CollectorRegistry) -> None:
    register_canaries()
    snapshot = realistic_snapshot()
    # even a secret pasted into a name or a revision does not come out
    snapshot = replace(
        snapshot,
        config=replace(snapshot.config, applied_revision=f"rev-{CANARY_SECRET}"),
        bots=(replace(snapshot.bots[0], strategy=f"Bot {CANARY_SECRET}"), *snapshot.bots[1:]),
    )
    registry.register(SnapshotCollector(Holder(snapshot)))
    text = generate_latest(registry).decode()
    for canary in CANARIES:
        assert canary not in text
    assert "<redacted>" in text


def test_connection_strategies_counts_users_and_reports_unused_keys() -> None:
    snapshot = realistic_snapshot()
    used = {b.connection for b in snapshot.bots}
    unused = [c.name for c in snapshot.connections if c.name not in used]
    assert unused, "the realistic snapshot has a connection without strategies"
    values = {
        s.labels["connection"]: s.value
        for family in SnapshotCollector(lambda: snapshot).collect()
        if family.name == "backfuture_connection_strategies"
        for s in family.samples
    }
    assert values == {
        c.name: float(sum(1 for b in snapshot.bots if b.connection == c.name))
        for c in snapshot.connections
    }
    assert all(values[name] == 0.0 for name in unused)


def test_positions_closed_outside_is_a_counter_per_bot_from_the_snapshot(
    registry: CollectorRegistry,
) -> None:
    """Exported from 0 for every bot with a book (so `increase()` sees the first one), the
    snapshot's lifetime count after; a secret in a strategy name never rides along."""
    register_canaries()
    snapshot = realistic_snapshot()
    (book,) = snapshot.books
    holder = Holder(snapshot)
    registry.register(SnapshotCollector(holder))
    name = "backfuture_bot_positions_closed_outside_total"
    bot = {"strategy": book.strategy, "connection": book.connection}
    assert series(scrape(registry), name) == {tuple(sorted(bot.items())): 0.0}
    hit = replace(book, closed_outside=2, closed_outside_at=NOW - 5)
    leaky = replace(book, strategy=f"Bot {CANARY_SECRET}", closed_outside=1)
    holder.snapshot = replace(snapshot, books=(hit, leaky))
    s = scrape(registry)
    assert value(s, name, **bot) == 2.0
    assert value(s, name, strategy="Bot <redacted>", connection=book.connection) == 1.0
    text = generate_latest(registry).decode()
    assert "# TYPE backfuture_bot_positions_closed_outside_total counter" in text
    assert "liquidated" in text
    for canary in CANARIES:
        assert canary not in text
