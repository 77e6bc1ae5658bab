"""The CLI's exit codes hold for every input: `validate` 1 and `check` 2 for a revision they
cannot read (hostile YAML, a FIFO as PATH), with no traceback and no value from the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_validate_cli import backfuture
from tests.helpers.configrepo import sops_env

pytestmark = pytest.mark.e2e

CANARY = "CANARYcli5a4b3c2d"
CRASHERS = {
    "int_tag": f"version: 1\npolicy: !!int {CANARY}\n",
    "list_key": f"version: 1\n? [{CANARY}]\n: 1\n",
    "timestamp": "version: 1\nstrategies: [{margin_limit: 2024-13-45}]\n",
    "alias": f"version: 1\npolicy: *{CANARY}\n",
}


def assert_clean(out: str) -> None:
    assert CANARY not in out
    assert "Traceback" not in out


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_validate_no_decrypt_json_rejects_hostile_yaml_with_exit_1(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / "c.yaml").write_text(CRASHERS[name])
    proc = backfuture(
        "validate", "--no-decrypt", "--json", str(tmp_path), env=sops_env(None, tmp_path)
    )
    assert proc.returncode == 1, proc.stderr
    assert_clean(proc.stdout + proc.stderr)
    doc = json.loads(proc.stdout)
    assert doc["error_classes"] == ["yaml_invalid"]
    assert doc["issues"][0]["file"] == str(tmp_path / "c.yaml")


def test_check_exits_2_for_a_config_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CRASHERS["list_key"])
    proc = backfuture("check", str(tmp_path), env=sops_env(None, tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert_clean(proc.stdout + proc.stderr)
    assert "yaml_invalid" in proc.stderr


def test_a_fifo_as_path_never_hangs_validate(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "c.yaml")
    proc = backfuture("validate", str(tmp_path / "c.yaml"), env=sops_env(None, tmp_path))
    assert proc.returncode == 1
    assert "not a regular file" in proc.stdout
    assert_clean(proc.stdout + proc.stderr)


@pytest.mark.parametrize("command", ["validate", "check"])
def test_a_path_name_too_long_is_a_usage_error(tmp_path: Path, command: str) -> None:
    proc = backfuture(command, str(tmp_path / ("a" * 300)), env=sops_env(None, tmp_path))
    assert proc.returncode == 2
    assert_clean(proc.stdout + proc.stderr)
