"""monitoring/ and /metrics checked with the real promtool: rules, rule unit tests, live exposition,
and the Grafana dashboard (parses, stable uid, datasource variable, every metric it queries exists).

promtool comes from `scripts/install-promtool.sh` (.tools/prom) or $PROMTOOL. Never skipped:
a missing promtool is a failure with the command that fixes it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from backfuture_daemon.telemetry.http import HttpServer, start_http_server
from backfuture_daemon.telemetry.metrics import METRIC_NAMES, build_registry
from tests.helpers.snapshots import CANARIES, realistic_snapshot, register_canaries

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "monitoring" / "prometheus"
ALERTS = RULES_DIR / "backfuture-alerts.yaml"
#: Minute-resolution tests, and the week-long alerts evaluated hourly.
ALERT_TESTS = (
    RULES_DIR / "backfuture-alerts.test.yaml",
    RULES_DIR / "backfuture-alerts-long.test.yaml",
)
DASHBOARD = ROOT / "monitoring" / "grafana" / "backfuture-daemon.json"
METRIC_RE = re.compile(r"\bbackfuture_[a-zA-Z0-9_]+")

REQUIRED_ALERTS = {
    "BackfutureDown",
    "ConfigReloadFailing",
    "ConfigStale",
    "ConnectionDown",
    "KeyWithdrawEnabled",
    "KeyNotIpRestricted",
    "KeyExpiringSoon",
    "ConnectionCheckStale",
    "BotPausedTooLong",
    "ConnectionUnused",
    "BotPositionClosedOutside",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    candidate = os.environ.get("PROMTOOL") or str(
        ROOT / ".tools" / "prom" / "usr" / "bin" / "promtool"
    )
    if not Path(candidate).is_file() or not os.access(candidate, os.X_OK):
        pytest.fail(
            f"promtool not found at {candidate}: run `scripts/install-promtool.sh` "
            "(or `make tools`), or set PROMTOOL=/path/to/promtool",
            pytrace=False,
        )
    return candidate


def run(cmd: list[str], *, stdin: str | None = None, cwd: Path | None = None) -> tuple[int, str]:
    proc = subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
async def live_metrics() -> AsyncIterator[str]:
    """/metrics of a realistic snapshot, fetched over HTTP from the real server."""
    register_canaries()
    snapshot = realistic_snapshot()
    registry = build_registry(lambda: snapshot)
    server: HttpServer = await start_http_server(
        "127.0.0.1", 0, registry=registry, snapshot_fn=lambda: snapshot, reconcile_fn=None
    )
    try:
        async with aiohttp.ClientSession() as session, session.get(server.url + "/metrics") as r:
            assert r.status == 200
            yield await r.text()
    finally:
        await server.stop()


def exported_names(exposition: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(exposition) for s in f.samples}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in all_panels(dashboard["panels"]) for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    return exprs


def template_queries(dashboard: dict[str, Any]) -> list[str]:
    out = []
    for var in dashboard["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, dict):
            out.append(query["query"])
    return out


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


# --- Prometheus rules ------------------------------------------------------------------------


def test_promtool_check_rules(promtool: str) -> None:
    code, out = run([promtool, "check", "rules", str(ALERTS)])
    assert code == 0, out
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_promtool_test_rules(promtool: str) -> None:
    code, out = run([promtool, "test", "rules", *(t.name for t in ALERT_TESTS)], cwd=RULES_DIR)
    assert code == 0, out
    assert out.count("SUCCESS") == len(ALERT_TESTS), out


def test_required_alerts_present_and_shaped() -> None:
    rules = {r["alert"]: r for r in alert_rules()}
    assert set(rules) >= REQUIRED_ALERTS
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert {"summary", "description"} <= set(rule["annotations"]), name
    withdraw = rules["KeyWithdrawEnabled"]
    assert (withdraw["labels"]["severity"], withdraw["for"]) == ("critical", "0m")
    assert rules["ConnectionDown"]["for"] == "10m"
    assert "7 * 86400" in rules["KeyExpiringSoon"]["expr"]
    outside = rules["BotPositionClosedOutside"]  # a liquidation is lost money: page at once
    assert (outside["labels"]["severity"], outside["for"]) == ("critical", "0m")
    assert "increase(backfuture_bot_positions_closed_outside_total[" in outside["expr"]
    for text in ("{{ $labels.strategy }}", "{{ $labels.connection }}", "lower the leverage"):
        assert text in outside["annotations"]["description"], text
    tested = {
        name
        for t in ALERT_TESTS
        for name in re.findall(r"alertname: (\w+)", t.read_text(encoding="utf-8"))
    }
    assert tested >= set(rules), f"alerts without a promtool unit test: {set(rules) - tested}"


# --- live /metrics ---------------------------------------------------------------------------


async def test_promtool_check_metrics_on_live_output(promtool: str, live_metrics: str) -> None:
    assert "backfuture_connection_up{" in live_metrics
    assert "process_" in live_metrics or "python_info" in live_metrics
    code, out = run([promtool, "check", "metrics"], stdin=live_metrics)
    assert (code, out) == (0, ""), out


async def test_live_metrics_carry_no_secret(live_metrics: str) -> None:
    for canary in CANARIES:
        assert canary not in live_metrics


async def test_every_metric_in_dashboard_and_alerts_is_exported(
    live_metrics: str, dashboard: dict[str, Any]
) -> None:
    exported = exported_names(live_metrics)
    assert exported >= METRIC_NAMES
    used: dict[str, set[str]] = {}
    sources = [("dashboard", e) for e in dashboard_exprs(dashboard) + template_queries(dashboard)]
    sources += [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()]
    for where, expr in sources:
        for name in METRIC_RE.findall(expr):
            used.setdefault(name, set()).add(where)
    assert used, "no backfuture_ metric found in dashboard or alerts"
    missing = {name: sorted(where) for name, where in used.items() if name not in exported}
    assert not missing, f"queried but never exported: {missing}"


# --- Grafana dashboard -----------------------------------------------------------------------


def test_dashboard_identity_and_datasource(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "backfuture-daemon"
    assert dashboard["id"] is None
    uids = [
        json.loads(p.read_text(encoding="utf-8"))["uid"] for p in DASHBOARD.parent.glob("*.json")
    ]
    assert len(uids) == len(set(uids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "${DS_" not in DASHBOARD.read_text(encoding="utf-8")
    assert "__inputs" not in dashboard
    ids = [p["id"] for p in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in all_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_dashboard_has_the_operator_panels(dashboard: dict[str, Any]) -> None:
    panels = [p for p in all_panels(dashboard["panels"]) if p["type"] != "row"]

    def find(metric: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            p
            for p in panels
            if any(metric in t["expr"] for t in p["targets"]) and kind in (None, p["type"])
        ]

    assert find("backfuture_connection_status", "state-timeline")
    assert find("backfuture_bot_state", "state-timeline")
    for metric in (
        "backfuture_connection_up",
        "backfuture_connection_error",
        "backfuture_connection_check_duration_seconds",
        "backfuture_api_key_expiry_timestamp_seconds",
        "backfuture_api_key_permission",
        "backfuture_config_reloads_total",
        "backfuture_config_errors_total",
        "backfuture_config_info",
    ):
        assert find(metric), metric
    # withdraw=1 stands out: a red mapping on the withdraw column and a dedicated red stat
    permission_tables = find("backfuture_api_key_permission", "table")
    assert "FORBIDDEN" in json.dumps(permission_tables)
    withdraw_stat = [p for p in find("backfuture_api_key_permission", "stat")]
    assert withdraw_stat
    assert 'permission="withdraw"' in withdraw_stat[0]["targets"][0]["expr"]


def test_dashboard_shows_positions_closed_outside_in_red(dashboard: dict[str, Any]) -> None:
    panels = [
        p
        for p in all_panels(dashboard["panels"])
        if any("backfuture_bot_positions_closed_outside_total" in t.get("expr", "")
               for t in p.get("targets", []))
    ]  # fmt: skip
    assert [p["type"] for p in panels] == ["stat"]
    steps = panels[0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["color"] for s in steps] == ["green", "red"]
    assert 0 < steps[1]["value"] <= 1  # one group closed outside turns it red


def test_dashboard_promql_parses(promtool: str, dashboard: dict[str, Any], tmp_path: Path) -> None:
    """Grafana variables substituted, every dashboard query is checked by promtool's parser."""
    substitutions = {
        "$__rate_interval": "5m",
        "$__interval": "1m",
        "$job": ".*",
        "$connection": ".*",
    }
    rules = []
    for i, expr in enumerate(dashboard_exprs(dashboard)):
        for var, sub in substitutions.items():
            expr = expr.replace(var, sub)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{i}:check", "expr": expr})
    rules_file = tmp_path / "dashboard-queries.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    code, out = run([promtool, "check", "rules", str(rules_file)])
    assert code == 0, out
    assert f"SUCCESS: {len(rules)} rules found" in out


def test_grafana_provisioning_points_at_a_file_provider() -> None:
    provider = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/dashboards/backfuture.yaml").read_text()
    )
    assert provider["apiVersion"] == 1
    [p] = provider["providers"]
    assert p["type"] == "file"
    assert p["allowUiUpdates"] is False
