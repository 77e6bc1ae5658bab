"""configuration/sops.py against the real sops binary with age keys generated in the test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from backfuture_daemon.configuration import sops
from backfuture_daemon.configuration.agekeys import (
    generate_identity,
    held_keys,
    parse_identities,
    public_key_of,
)
from backfuture_daemon.errors import DecryptError
from tests.helpers.configrepo import (
    CANARIES,
    CANARY_KEY,
    CANARY_SECRET,
    sops_env,
    valid_documents,
    write_config_repo,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path, str]:
    key_file, public = write_config_repo(tmp_path / "repo", valid_documents())
    return tmp_path / "repo" / "connections.yaml", key_file, public


def assert_no_canary(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


def decrypt_error(path: Path, env: dict[str, str]) -> DecryptError:
    with pytest.raises(DecryptError) as info:
        sops.decrypt_file(path, 10, env=env)
    assert info.value.error_class in sops.DECRYPT_ERROR_CLASSES
    assert_no_canary(str(info.value))
    return info.value


def test_version_is_pinned() -> None:
    assert sops.sops_version() == "3.11.0"


def test_encrypts_only_secret_fields_and_decrypts(
    repo: tuple[Path, Path, str], tmp_path: Path
) -> None:
    path, key_file, public = repo
    text = path.read_text()
    assert_no_canary(text)
    assert "name: MEXC Spot Main" in text  # non-secret fields stay readable in PRs
    assert re.search(r"api_key: ENC\[AES256_GCM,", text)
    assert sops.file_recipients(yaml.safe_load(text)) == (public,)
    data = sops.decrypt_file(path, 10, env=sops_env(key_file, tmp_path))
    assert data["connections"][0]["api_key"] == CANARY_KEY
    assert "sops" not in data


def test_inline_key_from_sops_age_key(repo: tuple[Path, Path, str], tmp_path: Path) -> None:
    path, key_file, _ = repo
    env = sops_env(None, tmp_path)
    env["SOPS_AGE_KEY"] = key_file.read_text()
    assert sops.decrypt_file(path, 10, env=env)["connections"][0]["api_secret"] == CANARY_SECRET


def test_wrong_key_lists_recipients_and_held_keys(
    repo: tuple[Path, Path, str], tmp_path: Path
) -> None:
    path, _, public = repo
    other_secret, other_public = generate_identity()
    other = tmp_path / "other.key"
    other.write_text(other_secret + "\n")
    err = decrypt_error(path, sops_env(other, tmp_path))
    assert err.error_class == "decrypt_no_matching_key"
    msg = str(err)
    assert f"encrypted to {public}" in msg
    assert f"holds {other_public} (SOPS_AGE_KEY_FILE={other})" in msg
    assert "sops updatekeys" in msg
    assert other_secret not in msg


def test_no_key_at_all(repo: tuple[Path, Path, str], tmp_path: Path) -> None:
    path, _, public = repo
    err = decrypt_error(path, sops_env(None, tmp_path))
    assert err.error_class == "decrypt_key_missing"
    assert "SOPS_AGE_KEY_FILE" in str(err)
    assert public in str(err)


def test_unreadable_key_file_is_key_missing(repo: tuple[Path, Path, str], tmp_path: Path) -> None:
    path, _, _ = repo
    err = decrypt_error(path, sops_env(tmp_path / "nope.key", tmp_path))
    assert err.error_class == "decrypt_key_missing"
    assert "cannot read" in str(err)


def test_mac_mismatch_after_editing_a_cleartext_field(
    repo: tuple[Path, Path, str], tmp_path: Path
) -> None:
    path, key_file, _ = repo
    path.write_text(
        path.read_text().replace("markets:\n        - spot", "markets:\n        - futures", 1)
    )
    err = decrypt_error(path, sops_env(key_file, tmp_path))
    assert err.error_class == "decrypt_mac_mismatch"
    assert "sops edit" in str(err)


def test_corrupted_ciphertext(repo: tuple[Path, Path, str], tmp_path: Path) -> None:
    path, key_file, _ = repo
    text = path.read_text()
    m = re.search(r"api_secret: ENC\[AES256_GCM,data:([A-Za-z0-9+/]{4})", text)
    assert m
    flipped = "AAAA" if m.group(1) != "AAAA" else "BBBB"
    path.write_text(text[: m.start(1)] + flipped + text[m.end(1) :])
    err = decrypt_error(path, sops_env(key_file, tmp_path))
    assert err.error_class == "decrypt_corrupt"


def test_raw_secret_pasted_into_encrypted_field_is_redacted(
    repo: tuple[Path, Path, str], tmp_path: Path
) -> None:
    path, key_file, _ = repo
    pasted = "CANARYpastedRAWsecret999"
    text = re.sub(r"api_key: ENC\[[^\]]*\]", f"api_key: {pasted}", path.read_text(), count=1)
    path.write_text(text)
    err = decrypt_error(path, sops_env(key_file, tmp_path))
    assert err.error_class == "decrypt_corrupt"
    assert pasted not in str(err)
    assert "rotate" in str(err)


def test_not_encrypted(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("version: 1\n")
    err = decrypt_error(plain, sops_env(None, tmp_path))
    assert err.error_class == "decrypt_not_encrypted"


def test_yaml_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"version: 1\nconnections: [\n  api_key: {CANARY_KEY}\n")
    err = decrypt_error(bad, sops_env(None, tmp_path))
    assert err.error_class == "decrypt_parse_error"


def test_timeout(repo: tuple[Path, Path, str], tmp_path: Path) -> None:
    path, key_file, _ = repo
    with pytest.raises(DecryptError) as info:
        sops.decrypt_file(path, 0.000001, env=sops_env(key_file, tmp_path))
    assert info.value.error_class == "decrypt_timeout"


def test_encrypt_ignores_a_stray_sops_yaml(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - encrypted_regex: ^name$\n    age: age1notakey\n"
    )
    secret, public = generate_identity()
    key = tmp_path / "k"
    key.write_text(secret)
    doc = tmp_path / "c.yaml"
    doc.write_text(f"version: 1\nconnections:\n  - name: X\n    api_key: {CANARY_KEY}\n")
    sops.encrypt_file(doc, [public])
    text = doc.read_text()
    assert "name: X" in text
    assert CANARY_KEY not in text
    assert sops.decrypt_file(doc, 10, env=sops_env(key, tmp_path))["connections"][0]["name"] == "X"


def test_held_keys_reads_every_source(tmp_path: Path) -> None:
    s1, p1 = generate_identity()
    s2, p2 = generate_identity()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# comment\n{s1}\nnot-a-key\n")
    held = held_keys(
        {"SOPS_AGE_KEY_FILE": str(key_file), "SOPS_AGE_KEY": s2, "HOME": str(tmp_path)}
    )
    assert set(held.public_keys) == {p1, p2}
    assert held.problems
    assert "1 line(s)" in held.problems[0]
    assert s1 not in held.describe()
    assert s2 not in " ".join(held.problems)
    assert parse_identities(f"{s1}\n\n# x\n") == ([s1], 0)
    assert public_key_of(s1) == p1
    with pytest.raises(ValueError, match="not a valid") as info:
        public_key_of(s1[:-3] + "qqq")
    assert s1[:-3] not in str(info.value)
