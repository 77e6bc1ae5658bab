"""`backfuture validate / init / schema` as real processes: exit codes, output, no secret leaks."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from backfuture_daemon.configuration.agekeys import generate_identity
from tests.helpers.configrepo import (
    CANARIES,
    CANARY_KEY,
    sops_env,
    strategy,
    valid_documents,
    write_config_repo,
)

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def backfuture(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backfuture_daemon", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=60,
        check=False,
    )


def assert_no_canary(proc: subprocess.CompletedProcess[str], *more: str) -> None:
    for canary in (*CANARIES, *more):
        assert canary not in proc.stdout
        assert canary not in proc.stderr


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    key_file, _ = write_config_repo(tmp_path / "repo", valid_documents())
    return tmp_path / "repo", sops_env(key_file, tmp_path)


def test_valid_text(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    proc = backfuture("validate", str(path), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_no_canary(proc)
    out = proc.stdout
    assert f"{path}: valid — revision sha256:" in out
    assert "2 connection(s):" in out
    assert '"MEXC Spot Main": mexc spot, key CANA…bbbb' in out
    assert "2 strategies:" in out
    assert "<= margin_limit 500 USDT" in out


def test_valid_json(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    proc = backfuture("validate", "--json", str(path), env=env)
    assert proc.returncode == 0
    assert_no_canary(proc)
    doc = json.loads(proc.stdout)
    assert doc["valid"] is True
    assert doc["issues"] == []
    assert re.fullmatch(r"[0-9a-f]{64}", doc["revision"]["digest"])
    assert [c["api_key"] for c in doc["connections"]] == ["CANA…bbbb", "kc-C…bbbb"]
    strat = doc["strategies"][0]
    assert strat["sizing"]["max_total_funds"] <= strat["margin_limit"]


def test_invalid_text_lists_every_issue(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    (path / "strategies.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "strategies": [
                    strategy(connection="MEXC Spot Mian"),
                    strategy("Second", margin_limit=100, base_order_quote=80),
                ],
            }
        )
    )
    proc = backfuture("validate", str(path), env=env)
    assert proc.returncode == 1
    assert_no_canary(proc)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{path}/strategies.yaml: strategies[0].connection: ")
    assert lines[1].startswith(f"{path}/strategies.yaml: strategies[1].margin_limit: ")
    assert lines[-1] == (
        f"{path}: invalid — 2 issues (margin_exceeded, reference_invalid); "
        "nothing from this revision would be applied"
    )


def test_invalid_json(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    (path / "extra.yaml").write_text("version: 1\nstrategies: [{name: X1, connection: nope}]\n")
    proc = backfuture("validate", "--json", str(path), env=env)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["valid"] is False
    assert doc["revision"] is None
    assert doc["issues"] == [
        {
            "file": f"{path}/extra.yaml",
            "path": f"strategies[0].{field}",
            "message": 'required field is missing (strategy "X1")',
            "error_class": "schema_invalid",
        }
        for field in ("pairs", "margin_limit")
    ]
    assert doc["error_classes"] == ["schema_invalid"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    env = sops_env(None, tmp_path)
    assert backfuture("validate", str(tmp_path / "nope"), env=env).returncode == 2
    assert backfuture("validate", env=env).returncode == 2


def test_no_decrypt_without_keys(repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, _ = repo
    proc = backfuture("validate", "--no-decrypt", str(path), env=sops_env(None, tmp_path))
    assert proc.returncode == 0, proc.stdout
    assert "not decrypted" in proc.stdout
    assert "ENC[…] (not decrypted)" in proc.stdout
    # Without --no-decrypt the same call fails with a clear key error.
    proc = backfuture("validate", str(path), env=sops_env(None, tmp_path))
    assert proc.returncode == 1
    assert "decrypt_key_missing" in proc.stdout


def _wrong_key(path: Path, env: dict[str, str]) -> dict[str, str]:
    secret, _ = generate_identity()
    other = path.parent / "other.key"
    other.write_text(secret + "\n")
    return {**env, "SOPS_AGE_KEY_FILE": str(other)}


def _no_key(path: Path, env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "SOPS_AGE_KEY_FILE"}


def _mac(path: Path, env: dict[str, str]) -> dict[str, str]:
    f = path / "connections.yaml"
    f.write_text(f.read_text().replace("name: MEXC Spot Main", "name: MEXC Spot Main 2"))
    return env


def _corrupt(path: Path, env: dict[str, str]) -> dict[str, str]:
    f = path / "connections.yaml"
    f.write_text(re.sub(r"(api_key: ENC\[AES256_GCM,data:)....", r"\1AAAA", f.read_text(), count=1))
    return env


def _pasted(path: Path, env: dict[str, str]) -> dict[str, str]:
    f = path / "connections.yaml"
    f.write_text(re.sub(r"api_key: ENC\[[^\]]*\]", f"api_key: {CANARY_KEY}", f.read_text()))
    return env


def _plaintext(path: Path, env: dict[str, str]) -> dict[str, str]:
    write_config_repo(
        path, valid_documents(), encrypt=False, key_file=Path("x"), public_key="age1x"
    )
    return env


def _yaml_error(path: Path, env: dict[str, str]) -> dict[str, str]:
    (path / "bad.yaml").write_text(
        f"version: 1\nconnections:\n  - api_key: {CANARY_KEY}\n   x: [\n"
    )
    return env


def _schema_error(path: Path, env: dict[str, str]) -> dict[str, str]:
    (path / "bad.yaml").write_text(
        "version: 1\nconnections:\n"
        f"  - {{name: Z9, exchange: mexc, api_key: 5, api_secret: {CANARY_KEY}, {CANARY_KEY}: 1,"
        f" endpoints: {{spot: 'http://u:{CANARY_KEY}@127.0.0.1'}}}}\n"
    )
    return env


@pytest.mark.parametrize(
    ("breaker", "error_class"),
    [
        (_wrong_key, "decrypt_no_matching_key"),
        (_no_key, "decrypt_key_missing"),
        (_mac, "decrypt_mac_mismatch"),
        (_corrupt, "decrypt_corrupt"),
        (_pasted, "plaintext_secret"),
        (_plaintext, "plaintext_secret"),
        (_yaml_error, "yaml_invalid"),
        (_schema_error, "schema_invalid"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_canary_never_appears_in_any_failing_output(
    repo: tuple[Path, dict[str, str]],
    breaker: Callable[[Path, dict[str, str]], dict[str, str]],
    error_class: str,
    as_json: bool,
) -> None:
    path, env = repo
    env = breaker(path, env)
    args = ["validate", *(["--json"] if as_json else []), str(path)]
    proc = backfuture(*args, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert error_class in proc.stdout
    assert_no_canary(proc)
    if as_json:
        assert error_class in {i["error_class"] for i in json.loads(proc.stdout)["issues"]}


def test_init_scaffolds_a_repo_that_validates(tmp_path: Path) -> None:
    env = sops_env(None, tmp_path)
    target = tmp_path / "ops-config"
    proc = backfuture("init", str(target), env=env)
    assert proc.returncode == 0, proc.stderr
    key_file = tmp_path / "ops-config.age.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = re.search(r"age public key:\s+(age1\w+)", proc.stdout)
    assert public
    secret = key_file.read_text().strip().splitlines()[-1]
    assert secret.startswith("AGE-SECRET-KEY-1")
    assert secret not in proc.stdout + proc.stderr
    assert public.group(1) in (target / ".sops.yaml").read_text()
    assert (
        "encrypted_regex: '^(api_key|api_secret|passphrase)$'"
        in (target / ".sops.yaml").read_text()
    )
    assert "*.key" in (target / ".gitignore").read_text()
    assert "backfuture validate --no-decrypt ." in (target / ".pre-commit-config.yaml").read_text()
    assert "sops updatekeys" in (target / "README.md").read_text()
    connections = (target / "connections.yaml").read_text()
    assert "REPLACE-ME" not in connections  # secrets encrypted
    for name in (
        "MEXC Spot Main",
        "KuCoin Futures Conservative",
        "Recovery PRO Connection",
        "BTC ETH New Groups",
    ):
        assert f"name: {name}" in connections

    ok = backfuture("validate", str(target), env={**env, "SOPS_AGE_KEY_FILE": str(key_file)})
    assert ok.returncode == 0, ok.stdout
    assert "4 connection(s)" in ok.stdout
    assert "4 strategies" in ok.stdout
    assert backfuture("validate", "--no-decrypt", str(target), env=env).returncode == 0


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    env = sops_env(None, tmp_path)
    target = tmp_path / "cfg"
    target.mkdir()
    (target / "strategies.yaml").write_text("mine\n")
    proc = backfuture("init", str(target), env=env)
    assert proc.returncode == 1
    assert f"{target}/strategies.yaml" in proc.stderr
    assert (target / "strategies.yaml").read_text() == "mine\n"
    assert not (tmp_path / "cfg.age.key").exists()
    assert not (target / "connections.yaml").exists()


def test_init_sandbox_with_an_extra_recipient(tmp_path: Path) -> None:
    env = sops_env(None, tmp_path)
    team_secret, team_public = generate_identity()
    team_key = tmp_path / "team.key"
    team_key.write_text(team_secret + "\n")
    target = tmp_path / "demo"
    proc = backfuture(
        "init",
        "--sandbox",
        "--recipient",
        team_public,
        "--key-file",
        str(tmp_path / "d.key"),
        str(target),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert team_public in (target / ".sops.yaml").read_text()
    # The teammate's key alone decrypts it: the file is encrypted to both recipients.
    ok = backfuture(
        "validate", "--json", str(target), env={**env, "SOPS_AGE_KEY_FILE": str(team_key)}
    )
    assert ok.returncode == 0, ok.stdout
    doc = json.loads(ok.stdout)
    assert {c["endpoints"]["spot"] for c in doc["connections"]} == {
        "http://127.0.0.1:9101",
        "http://127.0.0.1:9201",
    }


def test_init_on_a_file_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    proc = backfuture("init", str(target), env=sops_env(None, tmp_path))
    assert proc.returncode == 2
    assert "not a directory" in proc.stderr


def test_init_sandbox_example_matches_committed_example(tmp_path: Path) -> None:
    """config/connections.example.yaml decrypts with its demo key and names the brief's four."""
    env = sops_env(ROOT / "config" / "demo.age.key", tmp_path)
    proc = backfuture("validate", "--json", "config/connections.example.yaml", env=env)
    assert proc.returncode == 0, proc.stdout
    doc = json.loads(proc.stdout)
    assert [c["name"] for c in doc["connections"]] == [
        "MEXC Spot Main",
        "KuCoin Futures Conservative",
        "Recovery PRO Connection",
        "BTC ETH New Groups",
    ]
    assert all(c["endpoints"]["spot"].startswith("http://127.0.0.1:") for c in doc["connections"])


def test_schema_command_prints_the_committed_schema(tmp_path: Path) -> None:
    proc = backfuture("schema", env=sops_env(None, tmp_path))
    assert proc.returncode == 0
    assert proc.stdout == (ROOT / "schemas" / "backfuture.schema.json").read_text()


def test_an_unused_connection_is_noted(tmp_path: Path) -> None:
    docs = valid_documents()
    docs["strategies.yaml"]["strategies"] = [
        s for s in docs["strategies.yaml"]["strategies"] if s["connection"] == "MEXC Spot Main"
    ]
    key_file, _ = write_config_repo(tmp_path / "repo", docs)
    env = sops_env(key_file, tmp_path)
    text = backfuture("validate", str(tmp_path / "repo"), env=env)
    assert text.returncode == 0, text.stdout + text.stderr
    assert 'note: no strategy uses "KuCoin Futures Conservative"' in text.stdout
    assert "MEXC Spot Main" not in text.stdout.split("note:")[1]
    as_json = json.loads(backfuture("validate", "--json", str(tmp_path / "repo"), env=env).stdout)
    unused = {c["name"]: (c["strategies"], c["unused"]) for c in as_json["connections"]}
    assert unused["KuCoin Futures Conservative"] == (0, True)
    assert unused["MEXC Spot Main"][1] is False
