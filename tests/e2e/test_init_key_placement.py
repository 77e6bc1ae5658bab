"""`backfuture init` never puts the age private key where git would pick it up.

The default key path is DIR/../<name>.age.key: outside DIR, but inside the enclosing git work tree
when DIR is a sub-directory of a repository (`backfuture init config` at a repo's root), where
`git add -A` would commit it. Also: 0600, never printed (tests/e2e/test_validate_cli.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_validate_cli import backfuture
from tests.helpers.configrepo import sops_env

pytestmark = pytest.mark.e2e


def _git_repo(path: Path) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_default_key_inside_an_enclosing_git_work_tree_is_refused(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "gitops")
    proc = backfuture("init", str(repo / "config"), env=sops_env(None, tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "git" in proc.stderr
    assert "--key-file" in proc.stderr
    assert not (repo / "config.age.key").exists()
    assert not (repo / "config").exists()


def test_key_file_inside_the_config_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "cfg"
    key = target / "age.txt"  # not even matched by the scaffold's .gitignore
    proc = backfuture("init", str(target), "--key-file", str(key), env=sops_env(None, tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "outside the config repository" in proc.stderr
    assert not key.exists()


def test_key_ignored_by_the_enclosing_repository_is_fine(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "gitops")
    (repo / ".gitignore").write_text("*.age.key\n")
    proc = backfuture("init", str(repo / "config"), env=sops_env(None, tmp_path))
    assert proc.returncode == 0, proc.stderr
    secret = (repo / "config.age.key").read_text().strip().splitlines()[-1]
    assert secret.startswith("AGE-SECRET-KEY-1")
    assert secret not in proc.stdout + proc.stderr
