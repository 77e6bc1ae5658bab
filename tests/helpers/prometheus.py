"""A real Prometheus server (Debian's `prometheus`, unpacked by scripts/install-promtool.sh into
.tools/prom) scraping a daemon every second with the project's alert rules loaded, for tests that
run the dashboard's queries and watch alerts fire."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.processes import ROOT, Proc, free_port, http, wait_until

ALERTS = ROOT / "monitoring" / "prometheus" / "backfuture-alerts.yaml"


def find_prometheus() -> str:
    candidate = os.environ.get("PROMETHEUS") or str(
        ROOT / ".tools" / "prom" / "usr" / "bin" / "prometheus"
    )
    if not Path(candidate).is_file() or not os.access(candidate, os.X_OK):
        raise AssertionError(
            f"prometheus not found at {candidate}: run `scripts/install-promtool.sh` "
            "(or `make tools`), or set PROMETHEUS=/path/to/prometheus"
        )
    return candidate


class PrometheusProc(Proc):
    def __init__(self, workdir: Path, target: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {"job_name": "backfuture", "static_configs": [{"targets": [target]}]}
            ],
        }
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        argv = [
            find_prometheus(),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        super().__init__(argv, workdir / "prometheus.log", dict(os.environ), cwd=workdir)
        wait_until(lambda: self.query('up{job="backfuture"} == 1'), 60, "first scrape")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _api(self, path: str, **params: str) -> Any:
        doc = http(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        if isinstance(doc, str):
            doc = json.loads(doc)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self._api("query", query=expr)
        result = data["result"]
        return result if isinstance(result, list) else [result]

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._api("alerts")["alerts"])
