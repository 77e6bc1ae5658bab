"""Build real config repositories for tests: YAML documents, `.sops.yaml`, an age key, real sops.

Used by every test that needs a config (unit, integration, e2e). The age key is generated per call
(pyrage) and written BESIDE the directory (`<dir>.age.key`), never inside it; decrypt by setting
SOPS_AGE_KEY_FILE to the returned path (see `sops_env`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from backfuture_daemon.configuration.agekeys import generate_identity, write_key_file
from backfuture_daemon.configuration.models import SECRET_FIELDS
from backfuture_daemon.configuration.sops import SECRET_REGEX, encrypt_file

#: Canary secrets: tests assert these never appear in any output.
CANARY_KEY = "CANARYkey0000aaaa1111bbbb"
CANARY_SECRET = "CANARYsecret2222cccc3333dddd"
CANARY_PASSPHRASE = "CANARYpass4444eeee"
CANARIES = (CANARY_KEY, CANARY_SECRET, CANARY_PASSPHRASE)


def has_secrets(document: dict[str, Any]) -> bool:
    conns = document.get("connections") or []
    return any(isinstance(c, dict) and any(f in c for f in SECRET_FIELDS) for c in conns)


def write_config_repo(
    dir: Path,
    documents: dict[str, dict[str, Any]],
    *,
    encrypt: bool = True,
    public_key: str | None = None,
    key_file: Path | None = None,
) -> tuple[Path, str]:
    """Write `documents` (file name -> mapping) into `dir`; encrypt those holding secrets.

    Returns (key_file_path, public_key). Pass `key_file`+`public_key` to reuse an identity.
    """
    dir.mkdir(parents=True, exist_ok=True)
    if key_file is None or public_key is None:
        secret, public_key = generate_identity()
        key_file = dir.parent / f"{dir.name}.age.key"
        if key_file.exists():
            key_file.unlink()
        write_key_file(key_file, secret, public_key)
    (dir / ".sops.yaml").write_text(
        "creation_rules:\n"
        f"  - path_regex: \\.ya?ml$\n    encrypted_regex: '{SECRET_REGEX}'\n"
        f"    age: {public_key}\n",
        encoding="utf-8",
    )
    for name, doc in documents.items():
        path = dir / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        if encrypt and has_secrets(doc):
            encrypt_file(path, [public_key])
    return key_file, public_key


def sops_env(key_file: Path | None, home: Path) -> dict[str, str]:
    """A process environment where sops sees only `key_file` (HOME points at an empty dir)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}
    env["HOME"] = str(home)
    env.pop("XDG_CONFIG_HOME", None)
    if key_file is not None:
        env["SOPS_AGE_KEY_FILE"] = str(key_file)
    return env


def mexc_connection(name: str = "MEXC Spot Main", **over: Any) -> dict[str, Any]:
    conn: dict[str, Any] = {
        "name": name,
        "exchange": "mexc",
        "markets": ["spot"],
        "api_key": CANARY_KEY,
        "api_secret": CANARY_SECRET,
    }
    conn.update(over)
    return conn


def kucoin_connection(name: str = "KuCoin Futures Conservative", **over: Any) -> dict[str, Any]:
    conn: dict[str, Any] = {
        "name": name,
        "exchange": "kucoin",
        "markets": ["spot", "futures"],
        "api_key": "kc-" + CANARY_KEY,
        "api_secret": "kc-" + CANARY_SECRET,
        "passphrase": CANARY_PASSPHRASE,
    }
    conn.update(over)
    return conn


def strategy(
    name: str = "BTC ETH New Groups", connection: str = "MEXC Spot Main", **over: Any
) -> dict[str, Any]:
    s: dict[str, Any] = {
        "name": name,
        "connection": connection,
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "margin_limit": 500,
    }
    s.update(over)
    return s


def valid_documents() -> dict[str, dict[str, Any]]:
    """A small valid repository: policy + two connections (one file) + two strategies."""
    return {
        "connections.yaml": {
            "version": 1,
            "policy": {"egress_ips": ["203.0.113.10"]},
            "connections": [mexc_connection(), kucoin_connection()],
        },
        "strategies.yaml": {
            "version": 1,
            "strategies": [
                strategy(),
                strategy(
                    "Conservative Futures",
                    "KuCoin Futures Conservative",
                    market="futures",
                    risk_level="conservative",
                    margin_limit=300,
                ),
            ],
        },
    }
