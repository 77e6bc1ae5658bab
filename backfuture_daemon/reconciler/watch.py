"""Notice config changes: a git pull in place, a git-sync symlink swap, or a plain edit.

Started by the reconcile loop (reconciler/loop.py). Watching a symlink dies after the first swap
(reference/gitops.md §5.2), so we watch the config path's PARENT directory non-recursively, plus
the current target of the path recursively (re-aimed whenever the link moves). Events only wake
the loop; the loop decides by comparing `probe_revision` (configuration/revision.py: readlink + git
commit + the loader's own content digest), and re-reads periodically as the safety net for missed
events (NFS, subPath mounts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from backfuture_daemon.configuration.revision import Probe, git_head, probe_revision

__all__ = ["Probe", "git_head", "probe_revision", "watch_config"]

log = logging.getLogger(__name__)


def _config_filter(change: object, path: str) -> bool:
    """Inside the config tree: everything except git internals, but keep HEAD and ref moves."""
    parts = Path(path).parts
    if ".git" not in parts:
        return not path.endswith(("~", ".swp", ".swx"))
    tail = parts[parts.index(".git") + 1 :]
    return bool(tail) and (tail[0] in ("HEAD", "packed-refs") or tail[0] == "refs")


def _parent_filter(name: str) -> Callable[[object, str], bool]:
    """In the parent directory only the config path itself matters (a symlink swap, the path
    appearing or vanishing): a log file or state directory beside it must not wake the loop,
    or each pass's own log line would trigger the next."""

    def keep(change: object, path: str) -> bool:
        return Path(path).name == name

    return keep


async def _watch(
    paths: list[Path],
    *,
    recursive: bool,
    notify: Callable[[str], None],
    stop: asyncio.Event,
    debounce_ms: int,
    on_batch: Callable[[], None] | None = None,
    watch_filter: Callable[[object, str], bool] | None = None,
) -> None:
    from watchfiles import awatch

    async for changes in awatch(
        *paths,
        watch_filter=_config_filter if recursive else watch_filter,
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
    absolute = Path(os.path.abspath(path))  # noqa: ASYNC240 (no I/O: cwd join)
    parent = absolute.parent
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
                    watch_filter=_parent_filter(absolute.name),
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
