"""load_revision end to end: real YAML files, real sops, age keys generated per test."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.configuration.rules import CONFIG_ERROR_CLASSES
from backfuture_daemon.errors import ConfigError, ConfigIssue
from backfuture_daemon.redaction import GLOBAL_REDACTOR
from tests.helpers.configrepo import (
    CANARIES,
    CANARY_KEY,
    kucoin_connection,
    mexc_connection,
    sops_env,
    strategy,
    valid_documents,
    write_config_repo,
)

pytestmark = pytest.mark.integration


class Repo:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.dir = tmp_path / "repo"
        self.key_file: Path | None = None
        self.public: str | None = None

    def write(self, docs: dict[str, dict[str, Any]], *, encrypt: bool = True) -> Repo:
        self.key_file, self.public = write_config_repo(
            self.dir, docs, encrypt=encrypt, key_file=self.key_file, public_key=self.public
        )
        return self

    def load(self, path: Path | None = None, *, keyless: bool = False, **kw: Any) -> DesiredState:
        env = sops_env(None if keyless else self.key_file, self.tmp)
        return load_revision(path or self.dir, env=env, **kw)

    def issues(self, path: Path | None = None, **kw: Any) -> list[ConfigIssue]:
        with pytest.raises(ConfigError) as info:
            self.load(path, **kw)
        text = str(info.value) + repr(info.value.issues)
        for canary in CANARIES:
            assert canary not in text
        for issue in info.value.issues:
            assert issue.error_class in CONFIG_ERROR_CLASSES
        return list(info.value.issues)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def test_valid_directory(repo: Repo) -> None:
    state = repo.write(valid_documents()).load()
    assert [c.name for c in state.connections] == ["MEXC Spot Main", "KuCoin Futures Conservative"]
    assert len(state.strategies) == 2
    assert state.connection("MEXC Spot Main").api_key.get_secret_value() == CANARY_KEY
    assert (
        state.sources["strategies/BTC ETH New Groups"]
        == f"{repo.dir}/strategies.yaml: strategies[0]"
    )
    assert state.revision.commit is None
    assert re.fullmatch(r"[0-9a-f]{64}", state.revision.digest)
    assert GLOBAL_REDACTOR(f"x {CANARY_KEY} y") == "x <redacted> y"
    assert repo.load().revision.digest == state.revision.digest  # deterministic


def test_digest_changes_with_content_and_git_commit_is_used(repo: Repo) -> None:
    first = repo.write(valid_documents()).load().revision
    git = ["git", "-C", str(repo.dir), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    rev = repo.load().revision
    assert rev.commit == head
    assert rev.id == head[:12]
    assert rev.digest == first.digest
    (repo.dir / "strategies.yaml").write_text(
        yaml.safe_dump({"version": 1, "strategies": [strategy(margin_limit=400)]})
    )
    edited = repo.load().revision
    assert edited.digest != first.digest
    assert edited.id == f"{head[:12]}-dirty"  # uncommitted edits: the commit alone would lie
    (repo.dir / "notes.txt").write_text("not config\n")  # files that are not config don't count
    (repo.dir / "sub").mkdir()
    (repo.dir / "sub" / "x.yaml").write_text("version: 1\n")  # subdirectories are not read
    subprocess.run([*git, "commit", "-qam", "d"], check=True)
    assert not repo.load().revision.dirty
    (repo.dir / "strategies.yaml").unlink()
    assert repo.load().revision.dirty  # a deleted document counts too


def test_single_file(repo: Repo) -> None:
    docs = valid_documents()
    docs["connections.yaml"]["strategies"] = docs.pop("strategies.yaml")["strategies"]
    repo.write(docs)
    state = repo.load(repo.dir / "connections.yaml")
    assert len(state.strategies) == 2


def test_which_files_are_documents(repo: Repo) -> None:
    repo.write(valid_documents())
    (repo.dir / ".pre-commit-config.yaml").write_text("repos: []\n")
    (repo.dir / "deployment.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\n")
    (repo.dir / "empty.yml").write_text("# nothing yet\n")
    (repo.dir / "notes.txt").write_text("connections: [")
    (repo.dir / "sub").mkdir()
    (repo.dir / "sub" / "x.yaml").write_text("version: 2\n")
    state = repo.load()
    assert state.skipped == (f"{repo.dir}/deployment.yaml", f"{repo.dir}/empty.yml")
    assert len(state.connections) == 2


def test_wrong_key(repo: Repo, tmp_path: Path) -> None:
    repo.write(valid_documents())
    other = Repo(tmp_path / "o").write({})
    assert other.key_file
    with pytest.raises(ConfigError) as info:
        load_revision(repo.dir, env=sops_env(other.key_file, tmp_path))
    [issue] = info.value.issues
    assert issue.error_class == "decrypt_no_matching_key"
    assert issue.file == f"{repo.dir}/connections.yaml"
    assert repo.public in issue.message
    assert other.public in issue.message


def test_no_key(repo: Repo) -> None:
    [issue] = repo.write(valid_documents()).issues(keyless=True)
    assert issue.error_class == "decrypt_key_missing"


def test_mac_mismatch(repo: Repo) -> None:
    repo.write(valid_documents())
    path = repo.dir / "connections.yaml"
    path.write_text(path.read_text().replace("203.0.113.10", "203.0.113.99"))
    [issue] = repo.issues()
    assert issue.error_class == "decrypt_mac_mismatch"


def test_corrupt_ciphertext(repo: Repo) -> None:
    repo.write(valid_documents())
    path = repo.dir / "connections.yaml"
    text = path.read_text()
    m = re.search(r"api_key: ENC\[AES256_GCM,data:([A-Za-z0-9+/]{4})", text)
    assert m
    path.write_text(
        text[: m.start(1)] + ("AAAA" if m.group(1) != "AAAA" else "BBBB") + text[m.end(1) :]
    )
    [issue] = repo.issues()
    assert issue.error_class == "decrypt_corrupt"


def test_raw_secret_pasted_into_encrypted_file(repo: Repo) -> None:
    repo.write(valid_documents())
    path = repo.dir / "connections.yaml"
    path.write_text(
        re.sub(
            r"api_secret: ENC\[[^\]]*\]",
            "api_secret: CANARYkey0000aaaa1111bbbb",
            path.read_text(),
            count=1,
        )
    )
    issues = repo.issues()
    assert [(i.error_class, i.path) for i in issues] == [
        ("plaintext_secret", "connections[0].api_secret")
    ]
    assert 'connection "MEXC Spot Main"' in issues[0].message
    assert "Rotate" in issues[0].message


def test_unencrypted_file_with_secrets(repo: Repo) -> None:
    issues = repo.write(valid_documents(), encrypt=False).issues()
    assert {i.error_class for i in issues} == {"plaintext_secret"}
    assert [i.path for i in issues] == [
        "connections[0].api_key",
        "connections[0].api_secret",
        "connections[1].api_key",
        "connections[1].api_secret",
        "connections[1].passphrase",
    ]


def test_unencrypted_file_with_secrets_no_decrypt(repo: Repo) -> None:
    issues = repo.write(valid_documents(), encrypt=False).issues(decrypt=False, keyless=True)
    assert {i.error_class for i in issues} == {"plaintext_secret"}


def test_no_decrypt_on_an_encrypted_repo_without_keys(repo: Repo) -> None:
    state = repo.write(valid_documents()).load(decrypt=False, keyless=True)
    assert len(state.connections) == 2
    assert state.connections[0].api_key.get_secret_value() == "<encrypted>"


def test_no_decrypt_still_checks_schema_and_rules(repo: Repo) -> None:
    docs = valid_documents()
    docs["connections.yaml"]["connections"][0]["exchange"] = "deribit"
    issues = repo.write(docs).issues(decrypt=False, keyless=True)
    assert [(i.path, i.error_class) for i in issues] == [
        ("connections[0].exchange", "schema_invalid"),
    ]  # the reference to a broken connection is not reported twice
    docs = valid_documents()
    docs["strategies.yaml"]["strategies"][0]["connection"] = "Nope"
    [issue] = repo.write(docs).issues(decrypt=False, keyless=True)
    assert issue.error_class == "reference_invalid"


def test_yaml_syntax_error_never_quotes_the_line(repo: Repo) -> None:
    repo.write(valid_documents())
    (repo.dir / "broken.yaml").write_text(
        f"version: 1\nconnections:\n  - api_key: {CANARY_KEY}\n   x: [\n"
    )
    [issue] = repo.issues()
    assert issue.error_class == "yaml_invalid"
    assert issue.file == f"{repo.dir}/broken.yaml"
    assert "line " in issue.message


def test_duplicate_yaml_keys_and_multi_document_files(repo: Repo) -> None:
    repo.write(valid_documents())
    (repo.dir / "dup.yaml").write_text("version: 1\nstrategies: []\nstrategies: []\n")
    (repo.dir / "multi.yaml").write_text("version: 1\n---\nversion: 1\n")
    (repo.dir / "list.yaml").write_text("- version: 1\n")
    issues = repo.issues()
    assert [(Path(i.file).name, i.error_class) for i in issues] == [
        ("dup.yaml", "yaml_invalid"),
        ("list.yaml", "yaml_invalid"),
        ("multi.yaml", "yaml_invalid"),
    ]
    assert "duplicate key: strategies" in issues[0].message


def test_every_error_is_reported_with_field_paths(repo: Repo) -> None:
    docs = valid_documents()
    docs["connections.yaml"]["connections"][1].pop("passphrase")
    docs["strategies.yaml"]["strategies"][0].update(pairs=["BTC/USDT", "ETH/BTC"], margin_limt=1)
    docs["extra.yaml"] = {
        "version": 1,
        "policy": {},
        "strategies": [strategy("Orphan", "MEXC Spot Mian")],
    }
    docs["v.yaml"] = {"connections": []}
    issues = repo.write(docs).issues()
    got = [(Path(i.file).name, i.path, i.error_class) for i in issues]
    assert got == [
        ("connections.yaml", "connections[1]", "schema_invalid"),
        ("extra.yaml", "policy", "duplicate_name"),
        ("extra.yaml", "strategies[0].connection", "reference_invalid"),
        ("strategies.yaml", "strategies[0].pairs", "schema_invalid"),
        ("strategies.yaml", "strategies[0].margin_limt", "schema_invalid"),
        ("v.yaml", "version", "schema_invalid"),
    ]
    by_path = {i.path: i.message for i in issues}
    assert by_path["connections[1]"] == (
        "kucoin requires a passphrase (the one chosen when creating the key) "
        '(connection "KuCoin Futures Conservative")'
    )
    assert "one quote currency" in by_path["strategies[0].pairs"]
    assert 'did you mean "margin_limit"?' in by_path["strategies[0].margin_limt"]
    assert "version: 1" in by_path["version"]


def test_duplicate_key_and_remote_endpoint(repo: Repo) -> None:
    docs = valid_documents()
    docs["more.yaml"] = {
        "version": 1,
        "connections": [
            mexc_connection("Recovery PRO Connection", endpoints={"spot": "https://api.mexc.com"})
        ],
    }
    issues = repo.write(docs).issues()
    assert sorted(i.error_class for i in issues) == ["duplicate_key", "policy_violation"]
    docs["connections.yaml"]["policy"] = {"allow_key_reuse": True, "allow_remote_endpoints": True}
    assert len(repo.write(docs).load().connections) == 3


def test_encrypted_non_secret_field_is_rejected(repo: Repo, tmp_path: Path) -> None:
    repo.write({})
    assert repo.public
    from backfuture_daemon.configuration.sops import encrypt_file

    path = repo.dir / "c.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "connections": [kucoin_connection()]}))
    encrypt_file(path, [repo.public], r"^(api_key|api_secret|passphrase|name)$")
    issues = repo.issues()
    assert ("connections[0].name", "schema_invalid") in [(i.path, i.error_class) for i in issues]


def test_empty_directory(repo: Repo) -> None:
    repo.dir.mkdir()
    state = repo.load()
    assert state.connections == ()
    [issue] = repo.issues(allow_empty=False)
    assert issue.error_class == "empty_config"


def test_missing_path(repo: Repo) -> None:
    [issue] = repo.issues(repo.tmp / "nope")
    assert issue.error_class == "file_unreadable"


def test_anchors_and_merge_keys_work(repo: Repo) -> None:
    repo.write(valid_documents())
    (repo.dir / "more.yaml").write_text(
        "version: 1\n"
        "strategies:\n"
        "  - &base {name: Alpha, connection: MEXC Spot Main, pairs: [BTC/USDT],"
        " margin_limit: 100}\n"
        "  - {<<: *base, name: Beta, margin_limit: 200}\n"
    )
    state = repo.load()
    limits = {s.name: (s.margin_limit, s.pairs) for s in state.strategies}
    assert limits["Alpha"] == (100, ("BTC/USDT",))
    assert limits["Beta"] == (200, ("BTC/USDT",))


def test_alias_bombs_and_deep_nesting_are_rejected_quickly(repo: Repo) -> None:
    repo.write(valid_documents())
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (repo.dir / "bomb.yaml").write_text("\n".join(lines) + "\n")
    (repo.dir / "deep.yaml").write_text("version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    issues = repo.issues()
    assert [(Path(i.file).name, i.error_class) for i in issues] == [
        ("bomb.yaml", "yaml_invalid"),
        ("deep.yaml", "yaml_invalid"),
    ]
    assert "aliases" in issues[0].message
