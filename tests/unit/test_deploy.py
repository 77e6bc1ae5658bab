"""deploy/ manifests and the Dockerfile agree with the daemon and with each other.

No cluster or docker engine here: this checks the contract points statically (singleton, probes on
real routes, the age key Secret mounted read-only at SOPS_AGE_KEY_FILE, non-root read-only FS, the
git-sync symlink the daemon reads, the scrape job the alert rules expect).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from backfuture_daemon.reconciler.state import ConfigStatus, DaemonSnapshot
from backfuture_daemon.telemetry.http import build_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8")) if d]


@pytest.fixture(scope="module")
def sts() -> dict[str, Any]:
    [doc] = load("statefulset.yaml")
    return doc


def containers(sts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = sts["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec.get("initContainers", []) + spec["containers"]}


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def test_every_manifest_parses_and_kustomization_lists_existing_files() -> None:
    for path in DEPLOY.glob("*.yaml"):
        assert load(path.name), path
    [kustomization] = load("kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).is_file(), resource
    assert "secrets.example.yaml" not in kustomization["resources"]


def test_singleton_statefulset(sts: dict[str, Any]) -> None:
    assert sts["kind"] == "StatefulSet"
    assert sts["spec"]["replicas"] == 1
    assert "§0.12" in (DEPLOY / "statefulset.yaml").read_text(encoding="utf-8")
    [svc] = load("service.yaml")
    assert sts["spec"]["serviceName"] == svc["metadata"]["name"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()


def test_probes_hit_real_routes(sts: dict[str, Any]) -> None:
    app = build_app(
        registry=CollectorRegistry(),
        snapshot_fn=lambda: DaemonSnapshot(config=ConfigStatus()),
        reconcile_fn=None,
    )
    routes = {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None
    }
    daemon = containers(sts)["daemon"]
    assert daemon["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert daemon["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert ("GET", daemon[probe]["httpGet"]["path"]) in routes
    webhook = [a for a in containers(sts)["git-sync"]["args"] if a.startswith("--webhook-url=")]
    assert webhook == ["--webhook-url=http://127.0.0.1:9464/reconcile"]
    assert ("POST", "/reconcile") in routes
    assert "--webhook-success-status=202" in containers(sts)["git-sync"]["args"]


def test_age_key_secret_mounted_read_only_at_sops_age_key_file(sts: dict[str, Any]) -> None:
    daemon = containers(sts)["daemon"]
    key_file = env(daemon)["SOPS_AGE_KEY_FILE"]
    assert env(daemon)["SOPS_DISABLE_VERSION_CHECK"] == "1"
    mounts = [m for m in daemon["volumeMounts"] if key_file.startswith(m["mountPath"] + "/")]
    assert len(mounts) == 1
    assert mounts[0]["readOnly"] is True
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    secret = volumes[mounts[0]["name"]]["secret"]
    assert secret["secretName"] == "backfuture-sops-age"
    assert {"key": "keys.txt", "path": Path(key_file).name} in secret["items"]


def test_non_root_read_only_root_fs(sts: dict[str, Any]) -> None:
    pod = sts["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    for name, c in containers(sts).items():
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        assert sc.get("runAsUser", 10001) != 0, name
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), name


def test_daemon_reads_the_git_sync_symlink(sts: dict[str, Any]) -> None:
    c = containers(sts)
    for name in ("git-sync-init", "git-sync"):
        args = c[name]["args"]
        assert "--root=/git" in args
        assert "--link=config" in args
    assert "--one-time" in c["git-sync-init"]["args"]
    daemon = c["daemon"]
    assert daemon["args"] == ["run", "/git/config"]
    [git_mount] = [m for m in daemon["volumeMounts"] if m["mountPath"] == "/git"]
    assert git_mount["readOnly"] is True


def test_shutdown_grace_fits_the_termination_grace(sts: dict[str, Any]) -> None:
    grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert float(env(containers(sts)["daemon"])["BACKFUTURE_SHUTDOWN_GRACE_SECONDS"]) < grace


def test_service_monitor_sets_the_job_the_alerts_expect() -> None:
    [svc] = load("service.yaml")
    [monitor] = load("servicemonitor.yaml")
    ports = {p["name"] for p in svc["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    job = svc["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    alerts = (ROOT / "monitoring/prometheus/backfuture-alerts.yaml").read_text(encoding="utf-8")
    assert f'job="{job}"' in alerts


def test_prometheusrule_is_in_sync_with_the_tested_rules_file() -> None:
    [rule] = load("prometheusrule.yaml")
    source = yaml.safe_load(
        (ROOT / "monitoring/prometheus/backfuture-alerts.yaml").read_text(encoding="utf-8")
    )
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == source["groups"], (
        "deploy/prometheusrule.yaml is stale: run `python3 scripts/sync-prometheusrule.py`"
    )


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # multi-stage
    assert re.search(r"^USER 10001", text, re.M)
    [entrypoint] = re.findall(r"^ENTRYPOINT (.+)$", text, re.M)
    assert json.loads(entrypoint) == ["backfuture"]  # exec form: PID 1 gets SIGTERM
    assert "SOPS_DISABLE_VERSION_CHECK=1" in text
    assert "SOPS_AGE_KEY_FILE=/var/run/secrets/sops/keys.txt" in text
    [sts_doc] = load("statefulset.yaml")
    key_file = env(containers(sts_doc)["daemon"])["SOPS_AGE_KEY_FILE"]
    assert f"SOPS_AGE_KEY_FILE={key_file}" in text
