"""One revision identity: the watcher's probe and the loader name the same files the same way
(digest, commit, id), also for a config directory inside a larger git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.configuration.revision import probe_revision
from backfuture_daemon.errors import ConfigErrorClass
from tests.helpers.configrepo import sops_env, valid_documents, write_config_repo

pytestmark = pytest.mark.integration


def _git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x.invalid",
        "HOME": str(repo),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, check=True)
    return done.stdout.decode().strip()


def test_probe_and_load_agree_on_digest_commit_and_id(tmp_path: Path) -> None:
    top = tmp_path / "top"
    top.mkdir()
    _git(top, "init", "-q", "-b", "main")
    config = top / "ops"
    key, _ = write_config_repo(config, valid_documents())
    (top / ".gitignore").write_text("*.age.key\n")
    _git(top, "add", "-A")
    _git(top, "commit", "-q", "-m", "one")
    head = _git(top, "rev-parse", "HEAD")

    state = load_revision(config, env=sops_env(key, tmp_path))
    probe = probe_revision(config)
    assert state.revision.digest == probe.digest
    assert state.revision.commit == probe.commit == head  # found from a subdirectory
    assert state.revision.id == probe.revision_id == head[:12]

    (config / "extra.yaml").write_text("version: 1\n")
    dirty = load_revision(config, env=sops_env(key, tmp_path))
    assert dirty.revision.id == f"{head[:12]}-dirty"
    assert dirty.revision.digest == probe_revision(config).digest != probe.digest


def test_single_file_probe_and_load_agree(tmp_path: Path) -> None:
    key, _ = write_config_repo(tmp_path / "c", valid_documents())
    link = tmp_path / "current.yaml"
    link.symlink_to(tmp_path / "c" / "connections.yaml")
    state = load_revision(link, env=sops_env(key, tmp_path))
    assert state.revision.digest == probe_revision(link).digest
    assert state.revision.id == f"sha256:{state.revision.digest[:12]}"


def test_error_classes_are_one_closed_enum() -> None:
    from backfuture_daemon.configuration.rules import CONFIG_ERROR_CLASSES
    from backfuture_daemon.configuration.sops import DECRYPT_ERROR_CLASSES

    assert tuple(ConfigErrorClass) == CONFIG_ERROR_CLASSES
    assert set(DECRYPT_ERROR_CLASSES) == {c for c in ConfigErrorClass if c.startswith("decrypt_")}
    assert "yaml_invalid" in CONFIG_ERROR_CLASSES
