"""Config watching: revision probes (git HEAD from files, git-sync link names, content digest)
and the parent-directory watch that survives symlink swaps (reference/gitops.md §5.2)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from backfuture_daemon.reconciler.watch import git_head, probe_revision, watch_config


def git(repo: Path, *args: str) -> str:
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


def test_probe_reads_head_and_digest_without_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.yaml").write_text("version: 1\n")
    assert git_head(repo) is None  # unborn branch
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    first = probe_revision(repo)
    assert first.commit == git(repo, "rev-parse", "HEAD")
    git(repo, "pack-refs", "--all")  # packed-refs only
    assert probe_revision(repo) == first
    (repo / "a.yaml").write_text("version: 1\n# edit\n")
    edited = probe_revision(repo)
    assert edited.digest != first.digest
    assert edited.commit == first.commit
    assert first.commit is not None
    assert edited.revision_id == first.commit[:12]


def test_probe_names_git_sync_worktrees_by_their_link(tmp_path: Path) -> None:
    sha = "ab" * 20
    (tmp_path / ".worktrees" / sha).mkdir(parents=True)
    (tmp_path / ".worktrees" / sha / "c.yaml").write_text("version: 1\n")
    (tmp_path / "repo").symlink_to(Path(".worktrees") / sha)
    probe = probe_revision(tmp_path / "repo")
    assert probe.commit == sha
    assert probe.target.endswith(sha)


async def test_parent_watch_survives_repeated_symlink_swaps(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / ".worktrees").mkdir(parents=True)
    link = root / "repo"

    def publish(name: str) -> None:
        (root / ".worktrees" / name).mkdir()
        (root / ".worktrees" / name / "c.yaml").write_text(f"# {name}\n")
        tmp = root / "tmp-link"
        tmp.symlink_to(Path(".worktrees") / name)
        tmp.rename(link)

    publish("one")
    seen = asyncio.Event()
    stop = asyncio.Event()
    task = asyncio.create_task(watch_config(link, lambda _why: seen.set(), stop, debounce_ms=20))
    await asyncio.sleep(0.1)  # watchers armed
    for name in ("two", "three", "four"):
        seen.clear()
        publish(name)
        await asyncio.wait_for(seen.wait(), 2.0)
    # An in-place edit inside the current target is seen too (the re-aimed recursive watch).
    await asyncio.sleep(0.1)
    seen.clear()
    (root / ".worktrees" / "four" / "c.yaml").write_text("# edited\n")
    await asyncio.wait_for(seen.wait(), 2.0)
    stop.set()
    await asyncio.wait_for(task, 3.0)


def test_a_commit_landing_while_files_are_hashed_is_not_named_after_files_it_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backfuture_daemon.configuration import revision

    (tmp_path / "a.yaml").write_text("version: 1\n")
    head = ["a" * 40]
    monkeypatch.setattr(revision, "git_head", lambda root: head[0])
    real_read = revision.read_regular_file
    landed = False

    def read_regular_file(path: Path) -> bytes:
        nonlocal landed
        data = real_read(path)
        if not landed:  # `git pull` writes b.yaml and moves HEAD right after we read a.yaml
            landed = True
            (tmp_path / "b.yaml").write_text("version: 1\n")
            head[0] = "b" * 40
        return data

    monkeypatch.setattr(revision, "read_regular_file", read_regular_file)
    probe = probe_revision(tmp_path)
    assert probe.commit == "b" * 40
    assert probe.digest == probe_revision(tmp_path).digest  # b.yaml is in what it names "b…"


async def test_a_log_file_beside_the_config_does_not_wake_the_loop(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "c.yaml").write_text("version: 1\n")
    reasons: list[str] = []
    seen = asyncio.Event()

    def notify(why: str) -> None:
        reasons.append(why)
        seen.set()

    stop = asyncio.Event()
    task = asyncio.create_task(watch_config(config, notify, stop, debounce_ms=20))
    await asyncio.sleep(0.2)  # watchers armed
    log = tmp_path / "daemon.log"
    for i in range(10):  # what a DEBUG log line per pass would do
        with log.open("a") as f:
            f.write(f"pass {i}\n")
        await asyncio.sleep(0.03)
    await asyncio.sleep(0.3)
    assert reasons == []
    (config / "c.yaml").write_text("version: 1\n# edited\n")  # the config itself still wakes it
    await asyncio.wait_for(seen.wait(), 2.0)
    stop.set()
    await asyncio.wait_for(task, 3.0)


def test_a_garbled_git_head_names_no_commit_and_never_raises(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref: refs/heads/\xff\xfe\n")
    (tmp_path / "a.yaml").write_text("version: 1\n")
    assert git_head(tmp_path) is None
    assert probe_revision(tmp_path).commit is None
