"""The sandbox keys file (format, validation messages naming file and entry, the shipped demo
file) and the `backfuture sandbox` command as a real process: URLs printed, secrets never."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from backfuture_daemon.errors import ConfigError
from backfuture_daemon.sandbox import SandboxKey, load_keys_file, parse_keys

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "sandbox-keys.demo.yaml"


def test_demo_keys_file_loads_with_one_key_per_error_class() -> None:
    keys = load_keys_file(DEMO)
    assert all("demo" in k.api_key for k in keys)  # clearly fake values
    mexc = [k for k in keys if k.exchange == "mexc"]
    kucoin = [k for k in keys if k.exchange == "kucoin"]
    assert any(not k.ip_whitelist for k in mexc)
    assert any(not k.ip_whitelist for k in kucoin)
    assert any(k.ip_whitelist == ("203.0.113.10",) for k in mexc)
    assert any(k.ip_whitelist == ("203.0.113.10",) for k in kucoin)
    assert any("SPOT_WITHDRAW_WRITE" in k.permissions for k in mexc)
    assert any("Transfer" in k.permissions for k in kucoin)
    assert any("SPOT_DEAL_WRITE" not in k.permissions for k in mexc)
    assert any("Spot" not in k.permissions for k in kucoin)
    assert any(k.frozen for k in mexc)
    assert any(k.frozen for k in kucoin)
    assert any(k.expires_in_days == 5 for k in mexc)
    assert any("Futures" in k.permissions for k in kucoin)


def test_entry_format(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(
        "keys:\n"
        "  - {exchange: mexc, api_key: mx0abc, api_secret: s3cr3t,\n"
        "     permissions: [SPOT_ACCOUNT_READ, SPOT_DEAL_READ, SPOT_DEAL_WRITE],\n"
        "     ip_whitelist: [127.0.0.1], balances: {USDT: 1000}, expires_in_days: 80}\n"
        "  - {exchange: kucoin, api_key: kc-abc, api_secret: kc-secret, passphrase: kc-pass,\n"
        "     permissions: [General, Spot], frozen: true, hf: true}\n"
    )
    mexc, kucoin = load_keys_file(path)
    assert mexc.permissions == {"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"}
    assert mexc.ip_whitelist == ("127.0.0.1",)
    assert str(mexc.balances["USDT"]) == "1000"
    assert mexc.remaining_days(mexc.created_ms) == 80
    assert kucoin.passphrase == "kc-pass"
    assert kucoin.frozen
    assert kucoin.hf
    assert kucoin.ip_whitelist == ()
    assert "s3cr3t" not in repr(mexc)
    assert "kc-pass" not in repr(kucoin)
    assert "kc-secret" not in repr(kucoin)


_M = "exchange: mexc, api_key: a, api_secret: b"
_K = "exchange: kucoin, api_key: a, api_secret: b"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("exchange: deribit, api_key: a", "keys[0].exchange: must be one of mexc, kucoin"),
        ("exchange: mexc, api_secret: b", "keys[0].api_key: required"),
        (_K, "keys[0].passphrase: required for kucoin"),
        (f"{_M}, permissions: [Spot]", "keys[0].permissions: unknown mexc scope(s) Spot"),
        (f"{_M}, ip_whitelist: [1.2.3]", "keys[0].ip_whitelist: '1.2.3' is not an IP address"),
        (f"{_K}, passphrase: p, expires_in_days: 3", "keys[0].expires_in_days: only MEXC keys"),
        (f"{_M}, balances: {{USDT: -1}}", "keys[0].balances.USDT: must be a non-negative number"),
        (f"{_M}, frozen: maybe", "keys[0].frozen: must be true or false"),
        (f"{_M}, secret: c", "keys[0].secret: unknown field"),
    ],
)
def test_validation_names_file_and_entry(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"keys:\n  - {{{entry}}}\n")
    with pytest.raises(ConfigError) as e:
        load_keys_file(path)
    assert f"{path}: {message}" in str(e.value)


def test_all_bad_entries_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "keys:\n"
        "  - {exchange: mexc, api_key: a, api_secret: b}\n"
        "  - {exchange: mexc, api_key: a, api_secret: c}\n"
        "  - {exchange: nope}\n"
    )
    with pytest.raises(ConfigError) as e:
        load_keys_file(path)
    assert [i.path for i in e.value.issues] == ["keys[1].api_key", "keys[2].exchange"]
    assert "duplicate of keys[0]" in str(e.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("keys: {}\n", "top-level `keys:` list"), ("keys: [\n", "not valid YAML at line")],
)
def test_document_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_keys_file(path)
    with pytest.raises(ConfigError, match="cannot read keys file"):
        load_keys_file(tmp_path / "missing.yaml")


def test_update_validates() -> None:
    (key,) = parse_keys({"keys": [{"exchange": "mexc", "api_key": "a", "api_secret": "b"}]})
    key.apply({"permissions": ["SPOT_ACCOUNT_READ"], "expires_in_days": 2})
    assert key.permissions == {"SPOT_ACCOUNT_READ"}
    assert key.remaining_days(key.created_ms) == 2
    with pytest.raises(ValueError, match="cannot change api_secret"):
        key.apply({"api_secret": "x"})
    assert isinstance(key, SandboxKey)


def test_cli_serves_until_sigterm_and_prints_no_secret(tmp_path: Path) -> None:
    secret = "CANARY-cli-secret-value"
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        f"  - {{exchange: mexc, api_key: mx0-cli-key-0001, api_secret: {secret}}}\n"
        f"  - {{exchange: kucoin, api_key: kc-cli-key, api_secret: {secret}-k,"
        f" passphrase: {secret}-p, permissions: [General]}}\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "backfuture_daemon.cli", "sandbox", "--keys", str(keys),
         "--mexc-port", "0", "--kucoin-port", "0", "--kucoin-futures-port", "0",
         "--binance-port", "0", "--okx-port", "0", "--bybit-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "to stop" in line:
                break
        out = "".join(lines)
        urls = re.findall(r"http://127\.0\.0\.1:\d+", out)
        assert len(urls) == 6, out
        with urlopen(urls[0] + "/api/v3/time", timeout=5) as r:  # noqa: S310 (loopback)
            assert b"serverTime" in r.read()
        with urlopen(urls[1] + "/api/v1/timestamp", timeout=5) as r:  # noqa: S310
            assert b"200000" in r.read()
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "sandbox stopped" in rest
    assert secret not in out + rest + err
    assert "mx0-cli-key-0001" not in out  # keys are shown masked


def test_cli_rejects_a_bad_keys_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {exchange: mexc, api_key: a}\n")
    done = subprocess.run(
        [sys.executable, "-m", "backfuture_daemon.cli", "sandbox", "--keys", str(keys)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{keys}: keys[0].api_secret: required" in done.stderr
