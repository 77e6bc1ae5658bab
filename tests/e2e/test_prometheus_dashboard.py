"""A real Prometheus scrapes a running daemon (sandbox with a healthy and a withdraw-enabled key):
every Grafana dashboard panel query returns data, except those empty by design (listed with
why), and KeyWithdrawEnabled fires for the withdraw-enabled key only."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.configrepo import CANARY_KEY, CANARY_SECRET, mexc_connection, strategy
from tests.helpers.processes import ROOT, ConfigRepo, DaemonProc, SandboxProc, mexc_key, wait_until
from tests.helpers.prometheus import PrometheusProc

pytestmark = pytest.mark.e2e

DASHBOARD = ROOT / "monitoring" / "grafana" / "backfuture-daemon.json"
WD_KEY, WD_SECRET = "mx0vWITHDRAWkey0000zz", "withdraw-secret-0000yyyy1111"
SPARE_KEY, SPARE_SECRET = "mx0vSPAREkey00001111", "spare-secret-0000xxxx2222"

#: Panel queries that are empty on this setup by design, and why.
EMPTY_BY_DESIGN = {
    # `> 0` over config errors: the test commits no bad revision.
    "Config errors by class",
    # MEXC reports no expiry for IP-bound keys; every key here is bound to 127.0.0.1.
    "IP whitelist and key expiry#1",
}


def panel_queries() -> list[tuple[str, str]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    out: list[tuple[str, str]] = []
    for panel in walk(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]):
        for i, target in enumerate(panel.get("targets", [])):
            if target.get("expr"):
                name = panel["title"] if i == 0 else f"{panel['title']}#{i}"
                out.append((name, target["expr"]))
    return out


def concrete(expr: str) -> str:
    """Grafana's variables as the dashboard's defaults would set them."""
    expr = expr.replace("$__rate_interval", "1m").replace("$job", "backfuture")
    return re.sub(r"\$connection\b", ".*", expr)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[DaemonProc, PrometheusProc]]:
    withdraw_perms = [
        "SPOT_ACCOUNT_READ",
        "SPOT_DEAL_READ",
        "SPOT_DEAL_WRITE",
        "SPOT_WITHDRAW_WRITE",
    ]
    sandbox = SandboxProc(
        tmp_path / "sandbox",
        [
            mexc_key(CANARY_KEY, CANARY_SECRET),
            mexc_key(WD_KEY, WD_SECRET, permissions=withdraw_perms),
            mexc_key(SPARE_KEY, SPARE_SECRET),
        ],
    )
    daemon: DaemonProc | None = None
    prometheus: PrometheusProc | None = None
    try:
        endpoints = {"spot": sandbox.mexc_url}
        doc = {
            "version": 1,
            "connections": [
                mexc_connection(endpoints=endpoints),
                mexc_connection(
                    "MEXC Withdraw Key", api_key=WD_KEY, api_secret=WD_SECRET, endpoints=endpoints
                ),
                mexc_connection(
                    "MEXC Spare", api_key=SPARE_KEY, api_secret=SPARE_SECRET, endpoints=endpoints
                ),
            ],
            "strategies": [
                strategy(),
                strategy("Withdraw Bot", "MEXC Withdraw Key", pairs=["BTC/USDT"]),
            ],
        }
        repo = ConfigRepo(tmp_path / "repo", {"c.yaml": doc})
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file)
        wait_until(
            lambda: (
                daemon.bots() == {"BTC ETH New Groups": "running", "Withdraw Bot": "paused"} or None
            ),
            30,
            "connections tested",
        )
        prometheus = PrometheusProc(tmp_path / "prometheus", f"127.0.0.1:{daemon.port}")
        yield daemon, prometheus
    finally:
        for proc in (prometheus, daemon, sandbox):
            if proc is not None:
                proc.stop()


def test_every_dashboard_query_has_data_and_withdraw_alert_fires(
    stack: tuple[DaemonProc, PrometheusProc],
) -> None:
    _, prometheus = stack
    queries = panel_queries()
    assert len(queries) >= 25
    # Rates and increases need two scrapes inside their window.
    wait_until(
        lambda: prometheus.query("count_over_time(backfuture_ready[1m]) >= 3"), 30, "3 scrapes"
    )
    counts = {name: len(prometheus.query(concrete(expr))) for name, expr in queries}
    print("dashboard queries and series returned:")
    for name, n in counts.items():
        print(f"  {n:3d}  {name}")
    empty = {name for name, n in counts.items() if n == 0}
    assert empty == EMPTY_BY_DESIGN, f"panels without data: {sorted(empty - EMPTY_BY_DESIGN)}"

    def withdraw_alerts() -> list[dict[str, Any]] | None:
        firing = [
            a
            for a in prometheus.alerts()
            if a["labels"]["alertname"] == "KeyWithdrawEnabled" and a["state"] == "firing"
        ]
        return firing or None

    firing = wait_until(withdraw_alerts, 30, "KeyWithdrawEnabled firing")
    assert {a["labels"]["connection"] for a in firing} == {"MEXC Withdraw Key"}
    unused = prometheus.query('backfuture_connection_strategies{connection="MEXC Spare"} == 0')
    assert len(unused) == 1
