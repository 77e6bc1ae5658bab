"""config/connections.example.yaml: decrypts with the committed demo key, validates, and its
connections are the sandbox's healthy demo keys (so `make demo` shows them online)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from backfuture_daemon.configuration.loading import load_revision
from tests.helpers.configrepo import sops_env

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_example_validates_and_uses_the_sandbox_demo_keys(tmp_path: Path) -> None:
    env = sops_env(CONFIG / "demo.age.key", tmp_path)
    state = load_revision(CONFIG / "connections.example.yaml", env=env)
    assert [c.name for c in state.connections] == [
        "MEXC Spot Main",
        "KuCoin Futures Conservative",
        "Recovery PRO Connection",
        "BTC ETH New Groups",
    ]
    sandbox = yaml.safe_load((CONFIG / "sandbox-keys.demo.yaml").read_text())["keys"]
    by_key = {k["api_key"]: k for k in sandbox}
    for conn in state.connections:
        key = by_key[conn.api_key.get_secret_value()]
        assert key["exchange"] == conn.exchange.value
        assert key["api_secret"] == conn.api_secret.get_secret_value()
        if conn.passphrase is not None:
            assert key["passphrase"] == conn.passphrase.get_secret_value()
        assert conn.endpoints is not None
        assert conn.endpoints.spot is not None
        assert conn.endpoints.spot.startswith("http://127.0.0.1:")


def test_config_directory_validates_without_keys(tmp_path: Path) -> None:
    """config/ as a whole is one valid revision; the sandbox keys file is not a document."""
    state = load_revision(CONFIG, decrypt=False, env=sops_env(None, tmp_path))
    assert state.skipped == (str(CONFIG / "sandbox-keys.demo.yaml"),)
    assert "MEXC Spot Main" in {c.name for c in state.connections}
