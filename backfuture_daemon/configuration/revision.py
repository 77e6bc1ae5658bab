"""What a config revision IS: its files, its content digest, its git commit and its id.

One implementation shared by the loader (configuration/loading.py names the revision it validated)
and the watcher (reconciler/watch.py probes every few seconds without decrypting): so a probe and
a load of the same files give the same digest, commit and id.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backfuture_daemon.configuration.identity import Revision as Revision
from backfuture_daemon.configuration.identity import revision_id

YAML_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 5 * 1024 * 1024  # as Flux: a config document is never this large
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


@dataclass(frozen=True, slots=True)
class Probe:
    """What identifies a config revision on disk, without decrypting anything."""

    target: str  # where the path points now (resolved symlinks)
    commit: str | None  # git HEAD of the target, or the sha a git-sync link is named after
    digest: str  # the content digest (`RevisionDigest`) of exactly the files the loader reads

    @property
    def revision_id(self) -> str:
        return revision_id(self.commit, self.digest)


@dataclass(frozen=True, slots=True)
class Discovery:
    """The files of a revision: regular `*.yaml`/`*.yml` files to read, and the entries named like
    documents that are refused (with why: a dangling, looping or escaping symlink, a FIFO, a
    directory). Refused entries are reported by the loader, never silently skipped."""

    files: tuple[Path, ...]
    is_dir: bool
    refused: tuple[tuple[Path, str], ...] = ()


def discover(path: Path) -> Discovery:
    """What the revision at `path` is made of (the rule: configuration/loading.py).

    Raises OSError when the directory itself cannot be listed.
    """
    if not path.is_dir():
        return Discovery((path,), False)
    root = path.resolve()
    files: list[Path] = []
    refused: list[tuple[Path, str]] = []
    for p in sorted(path.iterdir()):
        if p.suffix not in YAML_SUFFIXES or p.name.startswith("."):
            continue
        problem = _entry_problem(root, p)
        if problem is None:
            files.append(p)
        else:
            refused.append((p, problem))
    return Discovery(tuple(files), True, tuple(refused))


def _entry_problem(root: Path, p: Path) -> str | None:
    """Why a directory entry named like a document cannot be one (None: a regular file)."""
    try:
        if p.is_symlink():
            try:
                target = p.resolve(strict=True)
            except RuntimeError:
                return "a symlink loop"
            except OSError as e:
                return "a symlink loop" if e.errno == errno.ELOOP else "a dangling symlink"
            if not target.is_relative_to(root):
                return "a symlink pointing outside the config directory (refused)"
        mode = p.stat().st_mode
    except OSError as e:
        return f"cannot stat: {e.strerror}"
    if stat.S_ISDIR(mode):
        return "a directory named like a document"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device)"
    return None


class RevisionDigest:
    """sha256 over each file's name and content, in discovery order: THE revision digest."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, name: str, content: bytes) -> None:
        self._h.update(name.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def read_regular_file(file: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """At most `limit` bytes of a regular file. Never blocks on a FIFO (opened non-blocking and
    refused): OSError for anything that is not a regular file or is larger than `limit`."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket, device or directory)")
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"{st.st_size} bytes: larger than the 5 MiB limit")
        chunks: list[bytes] = []
        left = limit + 1  # a file growing while read is caught too
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise OSError(errno.EFBIG, "larger than the 5 MiB limit")
        return data
    finally:
        os.close(fd)


def read_for_digest(file: Path) -> bytes:
    """A file's bytes, or a marker naming why they cannot be read (too large, vanished)."""
    try:
        return read_regular_file(file)
    except OSError as e:  # vanished between walk and read: part of an ongoing change
        return f"unreadable: {e.errno}".encode()


def content_digest(found: Discovery) -> str:
    """The digest the loader computes for the same files (refused entries count by name)."""
    digest = RevisionDigest()
    for f in found.files:
        digest.add(f.name if found.is_dir else f.resolve().name, read_for_digest(f))
    for f, problem in found.refused:
        digest.add(f.name, f"refused: {problem}".encode())
    return digest.hexdigest()


# --- git ------------------------------------------------------------------------------------------


def _git_dir(root: Path) -> Path | None:
    dot = root / ".git"
    if dot.is_dir():
        return dot
    if dot.is_file():  # a worktree: "gitdir: /path/to/repo/.git/worktrees/x"
        text = dot.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            gd = Path(text.split(":", 1)[1].strip())
            return gd if gd.is_absolute() else (root / gd)
    return None


def _find_git_dir(directory: Path) -> Path | None:
    """The .git of the work tree holding `directory` (searched upwards, as git does)."""
    for candidate in (directory, *directory.parents):
        try:
            gd = _git_dir(candidate)
        except (OSError, ValueError):
            return None
        if gd is not None:
            return gd
    return None


def git_head(directory: Path) -> str | None:
    """HEAD's commit read from the files (no git process): detached, loose ref or packed-refs.

    None outside a git work tree and on an unborn branch.
    """
    gd = _find_git_dir(directory.absolute())
    if gd is None:
        return None
    try:
        head = (gd / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref:"):
            return head if _SHA.match(head) else None
        ref = head.split(":", 1)[1].strip()
        common = gd
        commondir = gd / "commondir"
        if commondir.is_file():
            common = (gd / commondir.read_text(encoding="utf-8").strip()).resolve()
        for base in (gd, common):
            loose = base / ref
            if loose.is_file():
                value = loose.read_text(encoding="utf-8").strip()
                return value if _SHA.match(value) else None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _SHA.match(parts[0]):
                    return parts[0]
    except (OSError, ValueError):  # unreadable, or not text (UnicodeDecodeError)
        return None
    return None  # unborn branch


def _git(directory: Path, *args: str, timeout: float) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env={
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_OPTIONAL_LOCKS": "0",  # `status` must not write the index of a live checkout
                "PATH": os.environ.get("PATH", os.defpath),
                "HOME": os.environ.get("HOME", "/"),  # git reads safe.directory from ~/.gitconfig
            },
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else None


def git_commit(
    directory: Path, pathspecs: Sequence[str] = (".",), timeout: float = 5.0
) -> tuple[str | None, bool]:
    """(HEAD of the git work tree holding `directory`, whether `pathspecs` differ from it).

    Pathspecs are relative to `directory` (added, edited and deleted files all count).
    (None, False) without git, a repository or a commit: the content digest then names the
    revision on its own.
    """
    commit = git_head(directory)
    if commit is None:
        return None, False
    status = _git(
        directory,
        "status",
        "--porcelain",
        "--untracked-files=all",
        "--",
        *pathspecs,
        timeout=timeout,
    )
    return commit, bool(status and status.strip())


def probe_revision(path: Path) -> Probe:
    """Cheap to call every few seconds: digests exactly the files the loader would read
    (`discover`), so editor swap files or temp files change nothing."""
    try:
        target = path.resolve()
    except RuntimeError:  # a symlink loop (Python 3.11 raises it from a non-strict resolve)
        raise OSError(errno.ELOOP, "a symlink loop", str(path)) from None
    root = target if target.is_dir() else target.parent
    # HEAD before and after hashing: `git pull` writes the files, then moves HEAD, so a HEAD that
    # moved meanwhile may name files we did not see. Hash again (a few times at most).
    commit, digest = git_head(root), ""
    for _ in range(3):
        before = commit
        digest = content_digest(discover(target))
        commit = git_head(root)
        if commit == before:
            break
    if commit is None and _SHA.match(target.name):
        commit = target.name  # git-sync names each worktree after its commit
    return Probe(target=str(target), commit=commit, digest=digest)
