"""`backfuture check` end to end: a SOPS-encrypted config repo (real sops, real age key), the
sandbox over HTTP, the real CLI entry point; exit codes, table, --json, and canary secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from backfuture_daemon import cli
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.server import Sandbox
from tests.helpers.configrepo import (
    CANARIES,
    CANARY_KEY,
    CANARY_PASSPHRASE,
    CANARY_SECRET,
    kucoin_connection,
    mexc_connection,
    strategy,
    write_config_repo,
)

pytestmark = pytest.mark.integration

KUCOIN_KEY = "kc-" + CANARY_KEY
KUCOIN_SECRET = "kc-" + CANARY_SECRET


def _keys(sb: Sandbox, *, kucoin_perms: tuple[str, ...] = ("General", "Spot")) -> None:
    sb.add_key(SandboxKey(
        exchange="mexc", api_key=CANARY_KEY, api_secret=CANARY_SECRET,
        permissions=frozenset({"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"}),
        ip_whitelist=("127.0.0.1",), balances={"USDT": Decimal(1000)},
    ))  # fmt: skip
    sb.add_key(SandboxKey(
        exchange="kucoin", api_key=KUCOIN_KEY, api_secret=KUCOIN_SECRET,
        passphrase=CANARY_PASSPHRASE, permissions=frozenset(kucoin_perms),
        ip_whitelist=("127.0.0.1",), balances={"USDT": Decimal(1000)},
    ))  # fmt: skip


def _repo(tmp_path: Path, sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "config"
    docs: dict[str, dict[str, Any]] = {
        "connections.yaml": {
            "version": 1,
            "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [
                mexc_connection(endpoints=sb.endpoints("mexc")),
                kucoin_connection(
                    name="KuCoin Spot Main", markets=["spot"], endpoints=sb.endpoints("kucoin")
                ),
            ],
        },
        "strategies.yaml": {
            "version": 1,
            "strategies": [
                strategy(),
                strategy(name="KuCoin BTC", connection="KuCoin Spot Main", pairs=["BTC/USDT"]),
            ],
        },
    }
    key_file, _ = write_config_repo(repo, docs)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    return repo


async def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(cli.main, ["check", *args, "--timeout", "2"])
    out, err = capsys.readouterr()
    for canary in CANARIES:
        assert canary not in out
        assert canary not in err
    return code, out, err


async def test_all_online_exit_0_and_table(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _keys(sandbox)
    repo = _repo(tmp_path, sandbox, monkeypatch)
    code, out, _ = await _check(capsys, str(repo))
    assert code == 0, out
    assert "MEXC Spot Main" in out
    assert "KuCoin Spot Main" in out
    assert out.count("online") >= 2
    assert f"{CANARY_KEY[:4]}…{CANARY_KEY[-4:]}" in out  # the key, masked
    assert "read+ trade+" in out


async def test_json_and_failed_exit_1(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _keys(sandbox, kucoin_perms=("General", "Spot", "Transfer"))
    repo = _repo(tmp_path, sandbox, monkeypatch)
    code, out, _ = await _check(capsys, str(repo), "--json")
    assert code == 1
    reports = {r["connection"]: r for r in json.loads(out)}
    assert reports["MEXC Spot Main"]["status"] == "online"
    kucoin = reports["KuCoin Spot Main"]
    assert kucoin["status"] == "failed"
    assert kucoin["error_classes"][0] == "withdraw_enabled"
    assert {s["name"] for s in kucoin["steps"]} >= {"auth", "withdraw", "pairs"}
    assert kucoin["permissions"]["withdraw"] is True

    code, out, _ = await _check(capsys, str(repo), "--connection", "MEXC Spot Main")
    assert code == 0
    assert "KuCoin Spot Main" not in out

    code, text, _ = await _check(capsys, str(repo), "--connection", "KuCoin Spot Main")
    assert code == 1
    assert "withdraw_enabled" in text
    assert "Disable the withdrawal permission" in text  # the remedy sentence


async def test_config_error_exit_2(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    repo = tmp_path / "plain"
    docs = {"c.yaml": {"version": 1, "connections": [mexc_connection()]}}
    key_file, _ = write_config_repo(repo, docs, encrypt=False)  # plaintext secrets: invalid
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    code, out, err = await _check(capsys, str(repo))
    assert code == 2
    assert "c.yaml" in err
    assert out == ""


async def test_unknown_connection_exit_2(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _keys(sandbox)
    repo = _repo(tmp_path, sandbox, monkeypatch)
    code, _, err = await _check(capsys, str(repo), "--connection", "Nope")
    assert code == 2
    assert '"Nope"' in err


async def test_settings_egress_ips_must_be_whitelisted_too(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """BACKFUTURE_EGRESS_IPS (the deployment's own IPs) join policy.egress_ips: a key whose
    whitelist lacks one of them fails with ip_not_allowed, naming the IP."""
    _keys(sandbox)
    repo = _repo(tmp_path, sandbox, monkeypatch)
    monkeypatch.setenv("BACKFUTURE_EGRESS_IPS", "198.51.100.7")
    code, out, _ = await _check(capsys, str(repo), "--json")
    assert code == 1
    for report in json.loads(out):
        assert report["status"] == "failed"
        assert "ip_not_allowed" in report["error_classes"]
        ip_step = next(s for s in report["steps"] if s["name"] == "ip_whitelist")
        assert "198.51.100.7" in ip_step["reason"]


# -- progress on a terminal, nothing extra in a pipe ------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
OTHER_KEY = "mx3-" + CANARY_KEY  # a third key whose whitelist lacks 127.0.0.1: fails
OTHER_SECRET = CANARY_SECRET + "-3"


def _three_connections(tmp_path: Path, sb: Sandbox) -> tuple[Path, dict[str, str]]:
    _keys(sb)
    sb.add_key(SandboxKey(
        exchange="mexc", api_key=OTHER_KEY, api_secret=OTHER_SECRET,
        permissions=frozenset({"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"}),
        ip_whitelist=("127.0.0.2",), balances={"USDT": Decimal(1000)},
    ))  # fmt: skip
    repo = tmp_path / "config"
    docs: dict[str, dict[str, Any]] = {
        "connections.yaml": {
            "version": 1,
            "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [
                mexc_connection(endpoints=sb.endpoints("mexc")),
                kucoin_connection(
                    name="KuCoin Spot Main", markets=["spot"], endpoints=sb.endpoints("kucoin")
                ),
                mexc_connection(
                    name="MEXC Other IP",
                    api_key=OTHER_KEY,
                    api_secret=OTHER_SECRET,
                    endpoints=sb.endpoints("mexc"),
                ),
            ],
        },
        "strategies.yaml": {"version": 1, "strategies": [strategy()]},
    }
    key_file, _ = write_config_repo(repo, docs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}
    return repo, {**env, "SOPS_AGE_KEY_FILE": str(key_file), "TERM": "xterm"}


def _check_argv(repo: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "backfuture_daemon", "check", str(repo), "--timeout", "2", *extra]


def _run_on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal (as in an interactive shell); everything
    the terminal received, in order."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, cwd=ROOT
    )
    os.close(follower)
    received = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return code, received.decode("utf-8", errors="replace")


def _no_secret(*texts: str) -> None:
    for text in texts:
        for canary in (*CANARIES, OTHER_SECRET):
            assert canary not in text


async def test_progress_on_a_terminal(
    sandbox: Sandbox, tmp_path: Path
) -> None:  # fmt: skip
    repo, env = _three_connections(tmp_path, sandbox)
    code, screen = await asyncio.to_thread(_run_on_a_terminal, _check_argv(repo), env)
    _no_secret(screen)
    assert code == 1, screen  # "MEXC Other IP" fails: ip_not_allowed
    assert "\rtesting connections: 0/3 done, no failures so far" in screen
    assert "\rtesting connections: 3/3 done, 1 failed so far" in screen
    # The line is blanked before the report, which follows on the same terminal.
    table = screen.index("CONNECTION")
    assert screen.rindex("testing connections:") < table
    assert "3 connection(s) tested: 2 usable, 1 failed" in screen[table:]
    assert "testing connections" not in screen[table:]


async def test_no_progress_with_json_on_a_terminal(sandbox: Sandbox, tmp_path: Path) -> None:
    repo, env = _three_connections(tmp_path, sandbox)
    code, screen = await asyncio.to_thread(_run_on_a_terminal, _check_argv(repo, "--json"), env)
    _no_secret(screen)
    assert code == 1
    assert "testing connections" not in screen
    reports = json.loads(screen.replace("\r\n", "\n"))  # the terminal turns \n into \r\n
    assert len(reports) == 3


async def test_no_progress_in_a_pipe(sandbox: Sandbox, tmp_path: Path) -> None:
    repo, env = _three_connections(tmp_path, sandbox)
    proc = await asyncio.to_thread(
        subprocess.run, _check_argv(repo), capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=60, check=False,
    )  # fmt: skip
    _no_secret(proc.stdout, proc.stderr)
    assert proc.returncode == 1
    assert "3 connection(s) tested: 2 usable, 1 failed" in proc.stdout
    assert proc.stderr == ""
    assert "\r" not in proc.stdout
    assert "testing connections" not in proc.stdout
