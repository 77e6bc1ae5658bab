"""Real processes for end-to-end tests and benchmarks: the sandbox, the daemon, a git config repo.

Used by tests/e2e/test_daemon.py and benchmarks/reconcile_latency.py. Everything listens on
127.0.0.1 on free ports; output goes to files the tests read back (to look for log lines and to
prove a canary secret never appears). No sleeps longer than a poll step.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.helpers.configrepo import write_config_repo

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

#: Intervals that make the daemon react in about a second (env of `backfuture run`).
FAST_ENV = {
    "BACKFUTURE_RESYNC_INTERVAL_SECONDS": "2",
    "BACKFUTURE_RECHECK_INTERVAL_SECONDS": "1.5",
    "BACKFUTURE_PERMANENT_RECHECK_INTERVAL_SECONDS": "2",
    "BACKFUTURE_BACKOFF_BASE_SECONDS": "0.5",
    "BACKFUTURE_BACKOFF_CAP_SECONDS": "2",
    "BACKFUTURE_CHECK_TIMEOUT_SECONDS": "3",
    "BACKFUTURE_SHUTDOWN_GRACE_SECONDS": "5",
}

MEXC_TRADE = [
    "SPOT_ACCOUNT_READ",
    "SPOT_ACCOUNT_WRITE",
    "SPOT_DEAL_READ",
    "SPOT_DEAL_WRITE",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback ports (their sockets are held together while they are chosen;
    another process may still take one before our child binds it: see `PortTaken`)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


class PortTaken(Exception):
    """A child exited because a port chosen for it was taken in between: start it again."""


def wait_until(fn: Callable[[], T | None], timeout: float, what: str, step: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = fn()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as e:
            last = e
        else:
            if value:
                return value
            last = value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def http(url: str, method: str = "GET", body: object = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            raw = resp.read().decode()
    except urllib.error.HTTPError as e:
        e.close()  # an HTTPError holds the response: close its socket before re-raising
        raise
    return json.loads(raw) if raw.lstrip().startswith(("{", "[")) else raw


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "backfuture_daemon.cli", *args]


class Proc:
    """A child process whose stdout+stderr go to a file."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str], cwd: Path = ROOT) -> None:
        self.log_path = log
        self._log = log.open("ab")
        self.p = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.p.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.p.wait(timeout)

    def raise_if_port_taken(self) -> None:
        """Raise PortTaken when the child has exited because its port was taken meanwhile."""
        if self.p.poll() is not None and "address already in use" in self.output():
            raise PortTaken(self.log_path.name)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._log.close()


def mexc_key(api_key: str, api_secret: str, **over: Any) -> dict[str, Any]:
    key: dict[str, Any] = {
        "exchange": "mexc",
        "api_key": api_key,
        "api_secret": api_secret,
        "permissions": MEXC_TRADE,
        "ip_whitelist": ["127.0.0.1"],
    }
    key.update(over)
    return key


class SandboxProc(Proc):
    def __init__(self, workdir: Path, keys: Iterable[dict[str, Any]]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        keys_file = workdir / "sandbox-keys.yaml"
        keys_file.write_text(yaml.safe_dump({"keys": list(keys)}), encoding="utf-8")
        for attempt in range(3):  # a port chosen may be taken before the sandbox binds it
            try:
                self._start(workdir, keys_file)
                return
            except PortTaken:
                self.stop()
                if attempt == 2:
                    raise

    def _start(self, workdir: Path, keys_file: Path) -> None:
        self.mexc_port, self.kucoin_port, self.kucoin_futures_port = free_ports(3)
        argv = _cli(
            "sandbox",
            "--keys",
            str(keys_file),
            "--mexc-port",
            str(self.mexc_port),
            "--kucoin-port",
            str(self.kucoin_port),
            "--kucoin-futures-port",
            str(self.kucoin_futures_port),
            # The other venues on free ports too: their defaults (9301/9401/9501) would collide
            # with a second sandbox on the machine (parallel tests, a demo left running).
            *(arg for name in ("binance", "okx", "bybit") for arg in (f"--{name}-port", "0")),
        )
        super().__init__(argv, workdir / "sandbox.log", dict(os.environ))
        try:
            wait_until(lambda: self._up(), 20, "sandbox up")
        except PortTaken:
            raise
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        self.raise_if_port_taken()
        return bool(http(f"{self.mexc_url}/api/v3/ping") == {})

    @property
    def mexc_url(self) -> str:
        return f"http://127.0.0.1:{self.mexc_port}"

    def key(self, api_key: str, **changes: Any) -> None:
        http(f"{self.mexc_url}/__sandbox/keys/{api_key}", "POST", changes)

    def faults(self, **faults: Any) -> None:
        http(f"{self.mexc_url}/__sandbox/faults", "POST", faults)


class ConfigRepo:
    """A git work tree of SOPS-encrypted config; `commit(documents)` rewrites and commits."""

    def __init__(self, path: Path, documents: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.key_file, self.public_key = write_config_repo(path, documents)
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "initial")

    def git(self, *args: str) -> str:
        env = {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
            "HOME": str(self.path.parent),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        out = subprocess.run(
            ["git", "-C", str(self.path), *args], capture_output=True, env=env, check=True
        )
        return out.stdout.decode()

    def write(self, documents: dict[str, dict[str, Any]], *, encrypt: bool = True) -> None:
        """Encrypt in a staging directory, then rename into the work tree (as git does), so
        the daemon never sees a half-written or not-yet-encrypted file."""
        staging = self.path.parent / f".{self.path.name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        write_config_repo(
            staging,
            documents,
            encrypt=encrypt,
            public_key=self.public_key,
            key_file=self.key_file,
        )
        for name in documents:
            os.replace(staging / name, self.path / name)
        shutil.rmtree(staging, ignore_errors=True)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def remove(self, name: str) -> None:
        (self.path / name).unlink()


class DaemonProc(Proc):
    def __init__(
        self,
        config: Path,
        workdir: Path,
        key_file: Path,
        *,
        state_dir: Path | None = None,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
        wait_ready: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.state_dir = state_dir or (workdir / "state")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "BACKFUTURE_"))}
        env |= FAST_ENV | {
            "SOPS_AGE_KEY_FILE": str(key_file),
            "HOME": str(workdir),
            "PYTHONUNBUFFERED": "1",
        }
        env |= extra_env or {}
        argv = _cli(
            "run",
            str(config),
            "--http",
            f"127.0.0.1:{self.port}",
            "--state-dir",
            str(self.state_dir),
        )
        super().__init__(argv, workdir / f"daemon-{self.port}.log", env)
        if wait_ready:
            try:
                wait_until(lambda: self.get("/readyz"), 30, "daemon ready")
            except BaseException:
                self.stop()
                raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> Any:
        return http(self.url + path)

    def status(self) -> dict[str, Any]:
        doc = self.get("/status")
        assert isinstance(doc, dict)
        return doc

    def metrics(self) -> str:
        text = self.get("/metrics")
        assert isinstance(text, str)
        return text

    def bots(self) -> dict[str, str]:
        return {b["strategy"]: b["state"] for b in self.status()["bots"]}

    def connection(self, name: str) -> dict[str, Any]:
        return next(c for c in self.status()["connections"] if c["name"] == name)
