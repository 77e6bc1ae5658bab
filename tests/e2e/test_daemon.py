"""End to end: the sandbox and `backfuture run` as real processes on a git repo of SOPS config.

Short intervals come from env BACKFUTURE_* (tests/helpers/processes.py FAST_ENV), so each
scenario takes seconds. Every test ends by proving the canary secrets appear nowhere: not in the
daemon's logs, /metrics, /status, nor in `backfuture plan` output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.configrepo import CANARIES, CANARY_KEY, CANARY_SECRET, mexc_connection, strategy
from tests.helpers.processes import (
    ROOT,
    ConfigRepo,
    DaemonProc,
    SandboxProc,
    http,
    mexc_key,
    wait_until,
)

pytestmark = pytest.mark.e2e

KEY2, SECRET2 = "CANARYkeyTWO5555ffff6666", "CANARYsecretTWO7777gggg8888"
ALL_CANARIES = (*CANARIES, KEY2, SECRET2)
MAIN, OTHER = "MEXC Spot Main", "MEXC Spot Other"
BOT, BOT2 = "BTC ETH New Groups", "ETH Other"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProc]:
    sb = SandboxProc(
        tmp_path_factory.mktemp("sandbox"),
        [mexc_key(CANARY_KEY, CANARY_SECRET), mexc_key(KEY2, SECRET2)],
    )
    yield sb
    sb.stop()


@pytest.fixture(autouse=True)
def healthy_sandbox(sandbox: SandboxProc) -> Iterator[None]:
    yield
    sandbox.faults(maintenance=False)
    for key in (CANARY_KEY, KEY2):
        sandbox.key(key, permissions=list(MEXC_TRADE_PERMS), ip_whitelist=["127.0.0.1"])


MEXC_TRADE_PERMS = ("SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE")


def documents(sb: SandboxProc, *, two: bool = False, strategies: bool = True) -> dict[str, Any]:
    conns = [mexc_connection(MAIN, endpoints={"spot": sb.mexc_url})]
    strats = [strategy(BOT, MAIN)]
    if two:
        conns.append(
            mexc_connection(
                OTHER, api_key=KEY2, api_secret=SECRET2, endpoints={"spot": sb.mexc_url}
            )
        )
        strats.append(strategy(BOT2, OTHER, pairs=["ETH/USDT"]))
    doc: dict[str, Any] = {
        "version": 1,
        "policy": {"egress_ips": ["127.0.0.1"]},
        "connections": conns,
    }
    if strategies:
        doc["strategies"] = strats
    return {"main.yaml": doc}


def atomic_write(path: Path, text: str) -> None:
    """As git does it: the daemon never reads a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def policy_only() -> dict[str, Any]:
    return {"main.yaml": {"version": 1, "policy": {"egress_ips": ["127.0.0.1"]}}}


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{", 1)[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


def plan_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backfuture_daemon.cli", "plan", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def sops_env(repo: ConfigRepo) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    return env | {"SOPS_AGE_KEY_FILE": str(repo.key_file), "HOME": str(repo.path.parent)}


def assert_no_canary(daemon: DaemonProc, *extra: str, live: bool = True) -> None:
    outputs = {"logs": daemon.output()}
    if live:
        outputs |= {"metrics": daemon.metrics(), "status": str(daemon.get("/status"))}
    outputs |= {f"extra{i}": text for i, text in enumerate(extra)}
    for where, text in outputs.items():
        for canary in ALL_CANARIES:
            assert canary not in text, f"canary secret leaked into {where}"


def test_commit_brings_bot_up_and_bad_revisions_change_nothing(
    sandbox: SandboxProc, tmp_path: Path
) -> None:
    repo = ConfigRepo(tmp_path / "repo", policy_only())
    daemon = DaemonProc(repo.path, tmp_path, repo.key_file)
    try:
        # A commit adding a healthy connection and strategy: running within a few seconds.
        repo.write(documents(sandbox))
        committed = time.monotonic()
        repo.commit("add MEXC Spot Main")
        wait_until(lambda: daemon.bots().get(BOT) == "running", 10, "bot running")
        assert time.monotonic() - committed < 5
        assert metric(daemon.metrics(), "backfuture_connection_up", connection=MAIN) == 1.0
        good = repo.git("rev-parse", "HEAD").strip()[:12]
        wait_until(lambda: daemon.status()["config"]["applied_revision"] == good, 5, "relabel")

        text = (repo.path / "main.yaml").read_text()
        # Broken YAML; MAC mismatch (a plaintext field of an encrypted file edited without
        # sops); a plaintext secret; an empty config while the bot runs.
        atomic_write(repo.path / "broken.yaml", "version: 1\nconnections: [\n")
        steps = [
            ("broken.yaml", "yaml_invalid", None),
            ("main.yaml", "decrypt_mac_mismatch", "mac"),
            ("plain.yaml", "plaintext_secret", "plain"),
            ("repo: connections", "empty_config", "empty"),
        ]
        failures = 0
        for file, error_class, kind in steps:
            if kind == "mac":
                (repo.path / "broken.yaml").unlink()
                atomic_write(
                    repo.path / "main.yaml", text.replace("margin_limit: 500", "margin_limit: 400")
                )
            elif kind == "plain":
                atomic_write(repo.path / "main.yaml", text)
                repo.write(
                    {
                        "plain.yaml": {
                            "version": 1,
                            "connections": [
                                mexc_connection(
                                    "Plain One",
                                    api_key="PLAINkey11112222",
                                    api_secret="PLAINsecret33334444",
                                )
                            ],
                        }
                    },
                    encrypt=False,
                )
            elif kind == "empty":
                repo.remove("plain.yaml")
                repo.write(policy_only())
            repo.commit(f"bad: {error_class}")
            failures += 1
            want = failures

            def rejected(want: int = want, error_class: str = error_class) -> bool:
                cfg = daemon.status()["config"]
                return bool(
                    cfg["reloads_total"].get("failure", 0) >= want
                    and cfg["errors_total"].get(error_class, 0) >= 1
                )

            wait_until(rejected, 10, f"{error_class} rejected")
            status = daemon.status()
            cfg = status["config"]
            assert cfg["applied_revision"] == good
            assert cfg["in_sync"] is False
            assert file in cfg["last_error"], cfg["last_error"]
            assert {b["strategy"]: b["state"] for b in status["bots"]} == {BOT: "running"}
            metrics = daemon.metrics()
            assert metric(metrics, "backfuture_config_errors_total", error_class=error_class) == 1
            assert metric(metrics, "backfuture_connection_up", connection=MAIN) == 1.0
            logged = [
                line
                for line in daemon.output().splitlines()
                if "config revision rejected" in line and error_class in line
            ]
            assert len(logged) == 1, logged
            assert file in logged[0]

        # Same broken digest: never re-attempted on resync (2 s); logged once.
        time.sleep(2.5)
        assert daemon.status()["config"]["reloads_total"]["failure"] == failures
        # Fixing it applies again.
        repo.write(documents(sandbox))
        repo.commit("fix")
        wait_until(lambda: daemon.status()["config"]["in_sync"], 10, "fixed revision applied")
        assert daemon.bots() == {BOT: "running"}
        assert metric(daemon.metrics(), "backfuture_config_reloads_total", result="failure") == 4
        assert_no_canary(daemon)
    finally:
        daemon.stop()


def test_git_sync_symlink_swap_is_picked_up(sandbox: SandboxProc, tmp_path: Path) -> None:
    # git-sync layout: root/repo -> .worktrees/<sha>, swapped atomically by rename(2).
    source = ConfigRepo(tmp_path / "source", documents(sandbox))
    root = tmp_path / "root"
    (root / ".worktrees").mkdir(parents=True)

    def publish(name: str) -> None:
        target = root / ".worktrees" / name
        shutil.copytree(source.path, target, ignore=shutil.ignore_patterns(".git"))
        tmp_link = root / "tmp-link"
        tmp_link.symlink_to(Path(".worktrees") / name)
        tmp_link.rename(root / "repo")

    publish("a" * 40)
    daemon = DaemonProc(root / "repo", tmp_path, source.key_file)
    try:
        wait_until(lambda: daemon.bots().get(BOT) == "running", 10, "first bot running")
        assert daemon.status()["config"]["applied_revision"] == "a" * 12
        for n, sha in enumerate(("b" * 40, "c" * 40)):  # a watch on the link dies after one swap
            source.write(documents(sandbox, two=n == 0))
            publish(sha)
            want = {BOT: "running", BOT2: "running"} if n == 0 else {BOT: "running"}

            def applied(want: dict[str, str] = want) -> bool:
                return daemon.bots() == want

            wait_until(applied, 10, f"swap {n + 1} applied")
            assert daemon.status()["config"]["applied_revision"] == sha[:12]
        assert_no_canary(daemon)
    finally:
        daemon.stop()


def test_key_changes_on_the_exchange_pause_only_its_bot(
    sandbox: SandboxProc, tmp_path: Path
) -> None:
    repo = ConfigRepo(tmp_path / "repo", documents(sandbox, two=True))
    # Permanent failures wait 60 s here: the fixes below are seen only because an operator
    # forces a reconcile (POST /reconcile, then SIGHUP), which re-tests failed connections.
    slow = {"BACKFUTURE_PERMANENT_RECHECK_INTERVAL_SECONDS": "60"}
    daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=slow)
    try:
        both = {BOT: "running", BOT2: "running"}
        wait_until(lambda: daemon.bots() == both, 10, "both bots running")
        cases = [
            ({"permissions": ["SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"]}, "no_trade_permission"),
            ({"permissions": [*MEXC_TRADE_PERMS, "SPOT_WITHDRAW_WRITE"]}, "withdraw_enabled"),
        ]
        for change, error_class in cases:
            sandbox.key(CANARY_KEY, **change)

            def failed(error_class: str = error_class) -> bool:
                c = daemon.connection(MAIN)
                return c["status"] == "failed" and error_class in c["report"]["error_classes"]

            wait_until(failed, 10, f"{error_class} detected on re-check")
            wait_until(lambda: daemon.bots() == {BOT: "paused", BOT2: "running"}, 5, "paused")
            bot = next(b for b in daemon.status()["bots"] if b["strategy"] == BOT)
            assert error_class in bot["reason"]
            metrics = daemon.metrics()
            assert metric(metrics, "backfuture_connection_up", connection=MAIN) == 0.0
            assert metric(metrics, "backfuture_connection_up", connection=OTHER) == 1.0
            assert (
                metric(
                    metrics, "backfuture_connection_error", connection=MAIN, error_class=error_class
                )
                == 1.0
            )
            assert any(
                error_class in line and MAIN in line and "connection" in line
                for line in daemon.output().splitlines()
            )
            # Fixing the key, then forcing a reconcile: re-tested at once, the bot resumes.
            sandbox.key(CANARY_KEY, permissions=list(MEXC_TRADE_PERMS))
            time.sleep(0.5)
            assert daemon.bots() == {BOT: "paused", BOT2: "running"}  # 60 s until re-check
            if error_class == "no_trade_permission":
                assert http(daemon.url + "/reconcile", "POST", {}) == {"status": "accepted"}
            else:
                daemon.signal(signal.SIGHUP)
            wait_until(lambda: daemon.bots() == both, 10, f"resumed after fixing {error_class}")

        # Maintenance: transient, exponential backoff visible, recovery.
        sandbox.faults(maintenance=True)

        def backing_off() -> bool:
            c = daemon.connection(MAIN)
            return (
                "exchange_unavailable" in (c["report"] or {}).get("error_classes", [])
                and c["scheduling"]["consecutive_failures"] >= 2
            )

        wait_until(backing_off, 15, "exchange_unavailable with backoff")
        # The other connection (same venue) fails at its own next re-check, which can land just
        # after MAIN's second backoff attempt: wait for it rather than race it.
        paused = {BOT: "paused", BOT2: "paused"}
        wait_until(lambda: daemon.bots() == paused, 10, "both bots paused by maintenance")
        assert re.search(r"exchange_unavailable.*backoff #\d", daemon.output())
        assert (
            metric(daemon.metrics(), "backfuture_connection_consecutive_failures", connection=MAIN)
            or 0
        ) >= 2
        sandbox.faults(maintenance=False)
        wait_until(lambda: daemon.bots() == both, 10, "recovered after maintenance")
        assert daemon.connection(MAIN)["scheduling"]["consecutive_failures"] == 0
        assert_no_canary(daemon)
    finally:
        daemon.stop()


def test_sigterm_exits_0_and_bot_state_survives_restart(
    sandbox: SandboxProc, tmp_path: Path
) -> None:
    repo = ConfigRepo(tmp_path / "repo", documents(sandbox, two=True))
    state_dir = tmp_path / "state"
    daemon = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state_dir)
    plan_out = ""
    try:
        wait_until(lambda: daemon.bots() == {BOT: "running", BOT2: "running"}, 10, "running")
        # Pause one bot so that the restart has something non-trivial to restore.
        sandbox.key(KEY2, permissions=["SPOT_ACCOUNT_READ"])
        wait_until(lambda: daemon.bots() == {BOT: "running", BOT2: "paused"}, 10, "paused")
        before = {b["strategy"]: (b["state"], b["since"]) for b in daemon.status()["bots"]}

        # `backfuture plan` against the running daemon: in sync -> 0; a change -> 1.
        env = sops_env(repo)
        same = plan_cli(str(repo.path), "--against", daemon.url, env=env)
        assert same.returncode == 0, same.stdout + same.stderr
        changed_dir = tmp_path / "changed"
        shutil.copytree(repo.path, changed_dir, ignore=shutil.ignore_patterns(".git"))
        (changed_dir / "main.yaml").write_text(
            (changed_dir / "main.yaml").read_text().replace(f"- name: {BOT2}\n", "- name: X\n")
        )
        # (a MAC mismatch now: plan must say so and exit 2, secrets masked)
        broken = plan_cli(str(changed_dir), "--against", daemon.url, env=env)
        assert broken.returncode == 2, broken.stdout + broken.stderr
        other = ConfigRepo(tmp_path / "other", documents(sandbox, strategies=False))
        diff = plan_cli(str(other.path), "--against", daemon.url, env=sops_env(other))
        assert diff.returncode == 1, diff.stdout + diff.stderr
        assert BOT in diff.stdout
        plan_out = "\n".join(p.stdout + p.stderr for p in (same, broken, diff))

        daemon.signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        assert "stopped; bot state saved" in daemon.output()
    finally:
        daemon.stop()

    restarted = time.time()
    again = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state_dir)
    try:
        # The state is restored from SQLite, but no bot runs in the new process before its
        # connection has passed a test in this process (the key may have changed meanwhile).
        def settled() -> dict[str, dict[str, Any]] | None:
            status = again.status()
            reports = {c["name"]: c["report"] for c in status["connections"]}
            bots = {b["strategy"]: b for b in status["bots"]}
            for b in bots.values():
                if b["state"] == "running":
                    report = reports[b["connection"]]
                    assert report is not None, b
                    assert report["checked_at"] >= restarted, b
            done = bots[BOT]["state"] == "running" and "failed" in bots[BOT2]["reason"]
            return bots if done else None

        restored = wait_until(settled, 10, "bots re-gated after restart")
        assert (restored[BOT2]["state"], restored[BOT2]["since"]) == before[BOT2]  # kept
        assert restored[BOT]["since"] > before[BOT][1]  # paused until re-tested, then resumed
        out = again.output()
        waiting = out.find(f'bot "{BOT}" paused: waiting for the first test of "{MAIN}"')
        assert 0 <= waiting < out.find(f'bot "{BOT}" started'), out
        assert_no_canary(again, plan_out)
        assert_no_canary(daemon, plan_out, live=False)  # the first run's log file
    finally:
        again.stop()


def test_shutdown_drains_checks_and_a_second_sigint_forces_exit(
    sandbox: SandboxProc, tmp_path: Path
) -> None:
    repo = ConfigRepo(tmp_path / "repo", documents(sandbox, two=True))
    sandbox.faults(latency_ms=300)  # every exchange call is slow: tests stay in flight
    try:
        grace = {"BACKFUTURE_SHUTDOWN_GRACE_SECONDS": "20"}  # generous: CI machines are busy
        graceful = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=grace)
        try:
            graceful.signal(signal.SIGTERM)  # both connection tests are still in flight
            assert graceful.wait(30) == 0  # they finish within the grace period, then exit 0
            out = graceful.output()
            assert "shutting down: waiting for 2 connection test(s)" in out
            assert "cancelled" not in out
            assert out.count('connection "MEXC Spot') >= 2  # both results were recorded
        finally:
            graceful.stop()

        forced = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=tmp_path / "s2")
        try:
            forced.signal(signal.SIGINT)
            wait_until(lambda: "shutting down: waiting for" in forced.output(), 5, "draining")
            started = time.monotonic()
            forced.signal(signal.SIGINT)
            assert forced.wait(5) == 130
            assert time.monotonic() - started < 2
            assert "second SIGINT" in forced.output()
        finally:
            forced.stop()
    finally:
        sandbox.faults(latency_ms=0)


#: Commits that made PyYAML or the loader raise something other than a config error (issue 8):
#: the daemon must reject each one and keep running the last good revision.
HOSTILE = {
    "impossible date": "version: 1\nstrategies:\n  - name: X\n    margin_limit: 2024-13-45\n",
    "bad !!int": "version: !!int abc\n",
    "bad !!bool": "version: !!bool maybe\n",
    "a set": "version: 1\npolicy: !!set [1]\n",
    "a list as a key": "version: 1\n? [a]\n: b\n",
    "5,000 digits": "version: 1\nx: " + "9" * 5000 + "\n",
    "deep nesting": "version: 1\nx: " + "[" * 20000 + "]" * 20000 + "\n",
}


def test_hostile_commits_are_rejected_and_the_daemon_keeps_running(
    sandbox: SandboxProc, tmp_path: Path
) -> None:
    repo = ConfigRepo(tmp_path / "repo", documents(sandbox))
    json_logs = {"BACKFUTURE_LOG_FORMAT": "json"}
    daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=json_logs)
    try:
        wait_until(lambda: daemon.bots().get(BOT) == "running", 10, "bot running")
        good = daemon.status()["config"]["applied_revision"]
        for n, (what, text) in enumerate(HOSTILE.items(), start=1):
            atomic_write(repo.path / "hostile.yaml", text)
            repo.commit(f"hostile: {what}")

            def rejected(want: int = n) -> bool:
                return bool(daemon.status()["config"]["reloads_total"].get("failure", 0) >= want)

            wait_until(rejected, 15, f"{what} rejected")
            status = daemon.status()
            assert status["config"]["applied_revision"] == good, what
            assert {b["strategy"]: b["state"] for b in status["bots"]} == {BOT: "running"}, what
        assert daemon.p.poll() is None  # alive
        lines = daemon.output().splitlines()
        for line in lines:
            json.loads(line)  # every log line is one JSON document, even for the worst input
        assert not any("Traceback" in line for line in lines)
        assert_no_canary(daemon)
    finally:
        daemon.stop()
