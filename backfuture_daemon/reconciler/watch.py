"""Notice config changes: a git pull in place, a git-sync symlink swap, or a plain edit.

Started by the reconcile loop (reconciler/loop.py). Watching a symlink dies after the first swap
(reference/gitops.md §5.2), so we watch the config path's PARENT directory non-recursively, plus
the current target of the path recursively (re-aimed whenever the link moves). Events only wake
the loop; the loop decides by comparing `probe_revision` (readlink + git commit + content digest),
and re-reads periodically as the safety net for missed events (NFS, subPath mounts).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_MAX_FILE_BYTES = 5 * 1024 * 1024  # Flux's limit for one encrypted file


@dataclass(frozen=True, slots=True)
class Probe:
    """What identifies a config revision on disk, without decrypting anything."""

    target: str  # where the path points now (resolved symlinks)
    commit: str | None  # git HEAD of the target, or the sha a git-sync link is named after
    digest: str  # sha256 over every file's relative path and content (not .git)

    @property
    def revision_id(self) -> str:
        return self.commit[:12] if self.commit else f"sha256:{self.digest[:12]}"


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


def git_head(root: Path) -> str | None:
    """HEAD's commit read from the files (no git process): detached, loose ref or packed-refs."""
    gd = _git_dir(root)
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
    except OSError:
        return None
    return None  # unborn branch


def probe_revision(path: Path) -> Probe:
    """Cheap to call every few seconds: reads exactly the files the loader would read
    (configuration.loading.discover), so editor swap files or temp files change nothing."""
    from backfuture_daemon.configuration.loading import discover

    target = path.resolve()
    root = target if target.is_dir() else target.parent
    # HEAD before and after hashing: `git pull` writes the files, then moves HEAD, so a HEAD that
    # moved meanwhile may name files we did not see. Hash again (a few times at most).
    commit, digest = git_head(root), ""
    for _ in range(3):
        before = commit
        digest = _digest(root, discover(target)[0])
        commit = git_head(root)
        if commit == before:
            break
    if commit is None and _SHA.match(target.name):
        commit = target.name  # git-sync names each worktree after its commit
    return Probe(target=str(target), commit=commit, digest=digest)


def _digest(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        try:
            if f.stat().st_size > _MAX_FILE_BYTES:
                data = f"too large: {f.stat().st_size}".encode()
            else:
                data = f.read_bytes()
        except OSError as e:  # vanished between walk and read: part of an ongoing change
            data = f"unreadable: {e.errno}".encode()
        h.update(str(f.relative_to(root)).encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def _config_filter(change: object, path: str) -> bool:
    """Inside the config tree: everything except git internals, but keep HEAD and ref moves."""
    parts = Path(path).parts
    if ".git" not in parts:
        return not path.endswith(("~", ".swp", ".swx"))
    tail = parts[parts.index(".git") + 1 :]
    return bool(tail) and (tail[0] in ("HEAD", "packed-refs") or tail[0] == "refs")


async def _watch(
    paths: list[Path],
    *,
    recursive: bool,
    notify: Callable[[str], None],
    stop: asyncio.Event,
    debounce_ms: int,
    on_batch: Callable[[], None] | None = None,
) -> None:
    from watchfiles import awatch

    async for changes in awatch(
        *paths,
        watch_filter=_config_filter if recursive else None,
        recursive=recursive,
        stop_event=stop,
        debounce=debounce_ms,
        step=min(50, debounce_ms),
        ignore_permission_denied=True,
    ):
        notify(f"{len(changes)} change(s) under {paths[0]}")
        if on_batch is not None:
            on_batch()


async def watch_config(
    path: Path,
    notify: Callable[[str], None],
    stop: asyncio.Event,
    *,
    debounce_ms: int = 100,
    retry_seconds: float = 5.0,
) -> None:
    """Call `notify(reason)` after changes that may alter the config, until `stop` is set.

    Each watcher gets its own stop event: watchfiles sets the event it was given when its task
    is cancelled, and the daemon's own stop event must only ever mean "shut down".
    """
    parent = Path(os.path.abspath(path)).parent  # noqa: ASYNC240 (no I/O: cwd join)
    parent_stop = asyncio.Event()
    inner_stop = asyncio.Event()
    inner: asyncio.Task[None] | None = None
    target: Path | None = None

    def aim() -> None:
        nonlocal inner, inner_stop, target
        new = path.resolve()
        if new == target and inner is not None and not inner.done():
            return
        if inner is not None and inner.done() and not inner.cancelled() and inner.exception():
            log.warning("config watch on %s ended; re-aiming at %s", target, new)
        inner_stop.set()  # the old target's watcher ends by itself within one step
        inner_stop = asyncio.Event()
        target = new
        inner = None
        if new.is_dir():
            inner = asyncio.create_task(
                _watch(
                    [new], recursive=True, notify=notify, stop=inner_stop, debounce_ms=debounce_ms
                ),
                name="backfuture-watch-config",
            )

    async def bridge() -> None:
        await stop.wait()
        parent_stop.set()
        inner_stop.set()

    bridge_task = asyncio.create_task(bridge(), name="backfuture-watch-stop")
    try:
        while not stop.is_set():
            try:
                aim()
                await _watch(
                    [parent],
                    recursive=False,
                    notify=notify,
                    stop=parent_stop,
                    debounce_ms=debounce_ms,
                    on_batch=aim,
                )
            except Exception as e:  # a vanished directory, inotify limits: poll meanwhile
                log.warning(
                    "watching %s failed (%s); relying on periodic re-read, retry in %.0fs",
                    parent,
                    type(e).__name__,
                    retry_seconds,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), retry_seconds)
    finally:
        inner_stop.set()
        parent_stop.set()
        bridge_task.cancel()
        if inner is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(inner, 2.0)
