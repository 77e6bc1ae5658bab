"""A revision is data, never a crash: hostile or careless YAML, special files and odd encrypted
values end as a rejected revision (ConfigError, a class, `FILE: field: message`), quickly, and no
message repeats a value from the file."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.errors import ConfigError, ConfigErrorClass, ConfigIssue
from tests.helpers.configrepo import (
    CANARIES,
    kucoin_connection,
    mexc_connection,
    sops_env,
    valid_documents,
    write_config_repo,
)

pytestmark = pytest.mark.integration

CANARY = "CANARYhostile9f8e7d"


def rejected(path: Path, **kw: Any) -> list[ConfigIssue]:
    kw.setdefault("decrypt", False)
    with pytest.raises(ConfigError) as info:
        load_revision(path, **kw)
    text = str(info.value) + repr(info.value.issues)
    for canary in (CANARY, *CANARIES):
        assert canary not in text
    assert {i.error_class for i in info.value.issues} <= set(ConfigErrorClass)
    return list(info.value.issues)


# Each is a class of input that crashed the loader, echoed a scalar, or is refused by a limit.
HOSTILE = {
    "bad_timestamp": "version: 1\nstrategies:\n  - margin_limit: 2024-13-45\n",
    "int_tag": f"version: 1\npolicy: !!int {CANARY}\n",
    "bool_tag": f"version: 1\npolicy: !!bool {CANARY}\n",
    "float_tag": f"version: 1\npolicy: !!float {CANARY}\n",
    "set_of_list": "version: 1\npolicy: !!set [1]\n",
    "list_as_key": "version: 1\n? [a]\n: 1\n",
    "map_as_key": "version: 1\n? {a: 1}\n: 1\n",
    "huge_int": "version: 1\npolicy: " + "9" * 5000 + "\n",
    "undefined_alias": f"version: 1\npolicy: *{CANARY}\n",
    "unknown_tag": f"version: 1\npolicy: !{CANARY} x\n",
    "python_tag": f"version: 1\npolicy: !!python/object/apply:os.system [{CANARY}]\n",
    "escape": f'version: 1\npolicy: "\\q{CANARY}"\n',
    "control_char": f"version: 1\npolicy: \x01{CANARY}\n",
    "duplicate_anchor": f"version: 1\na: &{CANARY} 1\nb: &{CANARY} 2\n",
    "duplicate_secret_key": f"version: 1\n{CANARY}: 1\n{CANARY}: 2\n",
    "binary": f"version: 1\npolicy: !!binary {CANARY}!\n",
    "merge_scalar": f"version: 1\npolicy: {{<<: {CANARY}}}\n",
    "alias_chain": "version: 1\n"
    + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [x]\n" for i in range(200)),
    "alias_bomb": "version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)),
    "deep_flow": "version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep_block": "version: 1\n" + "".join("  " * i + f"k{i}:\n" for i in range(200)),
    "many_documents": "version: 1\n" + "---\nversion: 1\n" * 40,
    "utf16": "version: 1\n".encode("utf-16").decode("latin-1"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_is_a_rejected_revision_not_a_crash(tmp_path: Path, name: str) -> None:
    (tmp_path / "c.yaml").write_text(HOSTILE[name], encoding="utf-8")
    started = time.monotonic()
    issues = rejected(tmp_path)
    assert time.monotonic() - started < 2.0
    assert issues
    assert all(i.file == str(tmp_path / "c.yaml") for i in issues)
    assert {i.error_class for i in issues} <= {"yaml_invalid", "schema_invalid"}


@pytest.mark.parametrize(
    ("shape", "limit_words"),
    [
        ("flat", "more than 100000 values"),
        ("aliases", "aliases are expanded"),
        ("deep", "deeper than 64 levels"),
        ("flow", "more than 100000 values"),
    ],
)
def test_a_large_hostile_file_under_the_size_cap_is_refused_fast_naming_the_limit(
    tmp_path: Path, shape: str, limit_words: str
) -> None:
    size = int(4.8 * 1024 * 1024)
    if shape == "flat":
        body = "".join(f"k{i}: v\n" for i in range(size // 9))
    elif shape == "aliases":
        unit = "a: &a [x, x, x, x, x, x, x, x]\n"
        body = unit + "b: [" + ", ".join(["*a"] * (size // 4)) + "]\n"
    elif shape == "deep":
        body = (
            "x: "
            + "[" * 60
            + "{a: " * 10
            + "1"
            + "}" * 10
            + "]" * 60
            + "\n"
            + "# pad\n" * (size // 6)
        )
    else:
        body = "x: [" + ", ".join(["1"] * (size // 3)) + "]\n"
    (tmp_path / "big.yaml").write_text("version: 1\n" + body[:size])
    started = time.monotonic()
    [issue] = rejected(tmp_path)
    assert time.monotonic() - started < 5.0  # about a second alone; 2 shared cores in CI
    assert limit_words in issue.message
    assert issue.error_class == "yaml_invalid"


def test_a_file_over_5_mib_is_refused_without_parsing(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_bytes(b"version: 1\n" + b"#" * (5 * 1024 * 1024))
    [issue] = rejected(tmp_path)
    assert issue.error_class == "file_unreadable"
    assert "5 MiB" in issue.message


@pytest.mark.parametrize(
    "value", ["true", "True", "y", "Y", "yes", '"yes"', "on", "ON", "'true'", "1"]
)
def test_mac_only_encrypted_is_refused_however_sops_would_read_true(
    tmp_path: Path, value: str
) -> None:
    meta = "sops:\n  age: []\n  mac: x\n  version: 3.11.0\n"
    doc = yaml.safe_dump({"version": 1, "connections": [mexc_connection()]}, sort_keys=False)
    (tmp_path / "c.yaml").write_text(doc + meta + f"  mac_only_encrypted: {value}\n")
    issues = rejected(tmp_path)
    assert ("sops.mac_only_encrypted", "policy_violation") in [
        (i.path, i.error_class) for i in issues
    ]


@pytest.mark.parametrize("value", ["false", "no", "off", "n", '""', "null"])
def test_mac_only_encrypted_false_in_any_spelling_is_not_refused(
    tmp_path: Path, value: str
) -> None:
    meta = "sops:\n  age: []\n  mac: x\n  version: 3.11.0\n"
    doc = yaml.safe_dump({"version": 1, "connections": [mexc_connection()]}, sort_keys=False)
    (tmp_path / "c.yaml").write_text(doc + meta + f"  mac_only_encrypted: {value}\n")
    issues = rejected(tmp_path)  # the pasted plaintext secrets, not the MAC setting
    assert "sops.mac_only_encrypted" not in [i.path for i in issues]


def test_special_entries_named_like_documents_are_reported(tmp_path: Path) -> None:
    config = tmp_path / "config"
    write_config_repo(config, valid_documents())
    outside = tmp_path / "outside.yaml"
    outside.write_text("version: 1\n")
    (config / "dangling.yaml").symlink_to(config / "missing.yaml")
    (config / "loop.yaml").symlink_to(config / "loop.yaml")
    (config / "escape.yaml").symlink_to(outside)
    (config / "dir.yaml").mkdir()
    os.mkfifo(config / "fifo.yaml")
    (config / "sub").mkdir()
    (config / "sub" / "k8s.yaml").write_text("kind: Deployment\n")
    (config / "inside.yaml").symlink_to(config / "sub" / "k8s.yaml")  # allowed: stays inside
    issues = rejected(config)
    got = {Path(i.file).name: (i.error_class, i.message) for i in issues}
    assert set(got) == {"dangling.yaml", "loop.yaml", "escape.yaml", "dir.yaml", "fifo.yaml"}
    assert "dangling symlink" in got["dangling.yaml"][1]
    assert "symlink loop" in got["loop.yaml"][1]
    assert got["escape.yaml"] == (
        "policy_violation",
        "refused: a symlink pointing outside the config directory (refused)",
    )
    assert "directory" in got["dir.yaml"][1]
    assert "FIFO" in got["fifo.yaml"][1]


def test_a_fifo_as_the_path_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "c.yaml")
    started = time.monotonic()
    [issue] = rejected(tmp_path / "c.yaml")
    assert time.monotonic() - started < 2.0
    assert issue.error_class == "file_unreadable"
    assert "not a regular file" in issue.message


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (1234567890123, "a number"),
        (["CANARYpartone1", "CANARYparttwo2"], "a list"),
        (True, "a boolean"),
    ],
)
def test_an_encrypted_non_string_secret_is_diagnosed_as_such(
    tmp_path: Path, value: Any, kind: str
) -> None:
    config = tmp_path / "config"
    key, _ = write_config_repo(
        config, {"c.yaml": {"version": 1, "connections": [kucoin_connection(api_key=value)]}}
    )
    assert "ENC[" in (config / "c.yaml").read_text()
    issues = rejected(config, decrypt=True, env=sops_env(key, tmp_path))
    assert [(i.path, i.error_class) for i in issues] == [
        ("connections[0].api_key", "schema_invalid")
    ]
    assert f"encrypted, but as {kind}, not a string" in issues[0].message
    assert "plaintext" not in issues[0].message


def test_a_decrypt_failure_names_only_real_age_recipients(tmp_path: Path) -> None:
    config = tmp_path / "config"
    write_config_repo(config, valid_documents())
    path = config / "connections.yaml"
    text = path.read_text()
    assert "recipient: age1" in text
    path.write_text(text.replace("recipient: age1", f"recipient: {CANARY}age1", 1))
    other_key, _ = write_config_repo(tmp_path / "other", {})  # holds a key the file lacks
    issues = rejected(config, decrypt=True, env=sops_env(other_key, tmp_path))
    assert [i.error_class for i in issues] == ["decrypt_no_matching_key"]
    assert "(not an age key)" in issues[0].message
