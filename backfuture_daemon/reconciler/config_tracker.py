"""The config half of the loop: which revision runs, which one was tried, when to read again.

The loop calls `ConfigTracker.observe()` on a possible change (watcher, resync, SIGHUP) or a due
retry; it probes, loads and re-probes through injected functions, while the pure functions below
decide what a probe or a load means. Whatever is read, the last good revision keeps running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.revision import Probe
from backfuture_daemon.errors import BackfutureError, ConfigError, ConfigIssue, DecryptError
from backfuture_daemon.reconciler import events
from backfuture_daemon.reconciler.backoff import BackoffPolicy, RandomSource, transient_delay
from backfuture_daemon.reconciler.desired import Desired
from backfuture_daemon.reconciler.state import ConfigStatus, ReconcileResult

EMPTY_CONFIG = "empty_config"
#: Config failures of the environment, not of the revision (a slow or overloaded machine, the age
#: key not mounted yet): the same digest is retried with backoff. Every other class is terminal
#: for its digest (Flux's TerminalError): not retried until the files change or a forced reconcile.
TRANSIENT_CONFIG_CLASSES = frozenset({"decrypt_timeout", "decrypt_key_missing"})

Loader = Callable[[Path], DesiredState]  # sync (runs sops); raises ConfigError / DecryptError
ProbeFn = Callable[[Path], Probe]


class Step(Enum):
    LOAD = "load"  # new content, a forced reconcile, or a transient failure due for a retry
    SAME = "same"  # same content and commit: nothing to do
    RELABEL = "relabel"  # same content under another commit: rename, never re-attempt or re-log


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one `observe()` did: a result for the history, or `read_again` (files moved)."""

    result: ReconcileResult | None = None
    read_again: bool = False


# -- decisions (pure) -------------------------------------------------------------------------


def next_step(last: Probe | None, probe: Probe, *, force: bool, retry: bool) -> Step:
    if force or retry or last is None or probe.digest != last.digest:
        return Step.LOAD
    return Step.RELABEL if probe.commit != last.commit else Step.SAME


def relabelled(config: ConfigStatus, probe: Probe) -> ConfigStatus:
    # Files are seen before `git commit` ends: the same content may get its commit's name later.
    good = config.last_error is None
    return replace(
        config,
        attempted_revision=probe.revision_id,
        applied_revision=probe.revision_id if good else config.applied_revision,
    )


def load_issues(error: Exception, path: Path) -> list[ConfigIssue]:
    """Whatever the loader raised, as issues of a rejected revision (never a crash).

    An unexpected exception (a YAML constructor's ValueError, a bug) is named by its type only:
    its text may echo a scalar of the file, i.e. a pasted secret."""
    if isinstance(error, ConfigError):
        return list(error.issues)
    if isinstance(error, DecryptError):
        return [ConfigIssue(error.file, "", events.safe(str(error)), error.error_class)]
    if isinstance(error, BackfutureError):
        return [ConfigIssue(str(path), "", events.safe(str(error)), "file_unreadable")]
    text = f"could not be read ({type(error).__name__} while loading); run `backfuture validate`"
    return [ConfigIssue(str(path), "", text, "file_unreadable")]


def is_transient(probe: Probe | None, classes: Sequence[str]) -> bool:
    """Retry the same digest after a backoff: only when every class is of the environment (an
    unreadable path is re-probed on every trigger anyway, so it never needs a timer)."""
    return probe is not None and bool(classes) and set(classes) <= TRANSIENT_CONFIG_CLASSES


def empty_guard(state: DesiredState, running: int, path: Path) -> ConfigIssue | None:
    """Argo CD `allowEmpty: false`: an emptied revision while bots run is far more often a broken
    checkout or merge than an intent; suspending strategies stops every bot on purpose."""
    if not running or (state.connections and state.strategies):
        return None
    empty = "connections" if not state.connections else "strategies"
    return ConfigIssue(
        str(path),
        empty,
        f"revision has no {empty} while {running} bot(s) run; refused "
        "(empty-set guard: set `suspend: true` to stop bots on purpose); the last good "
        "revision keeps running",
        EMPTY_CONFIG,
    )


def applied_name(config: ConfigStatus, probe: Probe, state: DesiredState, changed: bool) -> str:
    # git-sync worktrees are named after their commit even where `git` cannot tell.
    name = (
        probe.revision_id if state.revision.commit is None and probe.commit else state.revision.id
    )
    if not changed and state.revision.dirty and config.applied_revision:
        return config.applied_revision  # same content from a dirty tree: keep its committed name
    return name


def accepted(config: ConfigStatus, state: DesiredState, revision: str, now: float) -> ConfigStatus:
    reloads = dict(config.reloads_total)
    reloads["success"] = reloads.get("success", 0) + 1
    return replace(
        config,
        applied_revision=revision,
        applied_digest=state.revision.digest,
        attempted_revision=revision,
        attempted_digest=state.revision.digest,
        last_error=None,
        last_success_at=now,
        reloads_total=reloads,
    )


def rejected(
    config: ConfigStatus, probe: Probe | None, classes: Sequence[str], text: str
) -> ConfigStatus:
    errors = dict(config.errors_total)
    for c in classes:
        errors[c] = errors.get(c, 0) + 1
    reloads = dict(config.reloads_total)
    reloads["failure"] = reloads.get("failure", 0) + 1
    return replace(
        config,
        attempted_revision=probe.revision_id if probe else None,
        attempted_digest=probe.digest if probe else None,
        last_error=text,
        reloads_total=reloads,
        errors_total=errors,
    )


# -- the tracker (I/O through injected functions) -----------------------------------------------


class ConfigTracker:
    """Holds the last good revision (`desired`) and the config status the daemon publishes."""

    def __init__(
        self,
        path: Path,
        *,
        loader: Loader,
        probe: ProbeFn,
        salt: str,
        backoff: BackoffPolicy,
        clock: Callable[[], float],
        rand: RandomSource,
        emit: events.Emit,
        on_applied: Callable[[DesiredState], None] | None = None,
    ) -> None:
        self.path = path
        self.loader = loader
        self.probe = probe
        self.desired = Desired(None)
        self.status = ConfigStatus()
        self.loaded_once = False
        self.retry_at: float | None = None  # when to retry a transient config failure
        self._salt = salt
        self._backoff = backoff
        self._clock = clock
        self._rand = rand
        self._emit = emit
        self._on_applied = on_applied
        self._last_probe: Probe | None = None
        self._failures = 0  # transient config failures in a row (same digest)

    def reread(self) -> None:
        """Forget the last probe: the next `observe` loads the files even if they look unchanged
        (after a pass that failed half-way, so a revision is never skipped as "seen")."""
        self._last_probe = None

    def retry_due(self) -> bool:
        return self.retry_at is not None and self.retry_at <= self._clock()

    async def observe(self, *, force: bool, running: int) -> Outcome:
        """Probe the path and load the revision when it may be new; `running`: bots running now
        (the empty-set guard)."""
        try:
            probe = await asyncio.to_thread(self.probe, self.path)
        except OSError as e:
            return Outcome(self._unreadable(e))
        last, self._last_probe = self._last_probe, probe
        step = next_step(last, probe, force=force, retry=self.retry_due())
        if step is Step.RELABEL:
            self.status = relabelled(self.status, probe)
        if step is not Step.LOAD:
            return Outcome()
        now = self._clock()
        self.retry_at = None
        self.status = replace(
            self.status, attempted_revision=probe.revision_id, attempted_digest=probe.digest
        )
        outcome: DesiredState | list[ConfigIssue]
        try:
            outcome = await asyncio.to_thread(self.loader, self.path)
        except Exception as e:  # a revision is data, never a crash
            outcome = load_issues(e, self.path)
        if await self._changed_since(probe):
            # A pull or commit landed while the files were read (sops takes a while): what was
            # read may mix two revisions, or carry the next commit's name. Neither apply nor
            # reject it (no count, no log): read again at once.
            self._last_probe = None
            return Outcome(read_again=True)
        if isinstance(outcome, list):
            return Outcome(self._reject(probe, outcome))
        issue = empty_guard(outcome, running, self.path)
        if issue is not None:
            return Outcome(self._reject(probe, [issue]))
        return Outcome(self._accept(probe, outcome, now))

    def _unreadable(self, error: OSError) -> ReconcileResult | None:
        self.retry_at = None  # re-probed on every trigger anyway: never a timer spin
        text = f"cannot read: {error.strerror}"
        if self._last_probe is None and self.status.last_error == f"{self.path}: {text}":
            return None  # still unreadable: counted and logged once already
        self._last_probe = None
        return self._reject(None, [ConfigIssue(str(self.path), "", text, "file_unreadable")])

    async def _changed_since(self, probe: Probe) -> bool:
        try:
            after = await asyncio.to_thread(self.probe, self.path)
        except OSError:
            return True
        return after.digest != probe.digest

    def _accept(self, probe: Probe, state: DesiredState, now: float) -> ReconcileResult:
        previous = self.desired.state
        changed = previous is None or previous.revision.digest != state.revision.digest
        revision = applied_name(self.status, probe, state, changed)
        self.desired = Desired.from_state(state, self._salt)
        self.status = accepted(self.status, state, revision, now)
        self.loaded_once = True
        self._failures = 0
        self._emit(
            events.config_applied(
                revision,
                changed=changed,
                connections=len(state.connections),
                strategies=len(state.strategies),
            )
        )
        if self._on_applied is not None:
            self._on_applied(state)
        return ReconcileResult(
            at=now, revision=revision, result="success" if changed else "unchanged"
        )

    def _reject(self, probe: Probe | None, issues: list[ConfigIssue]) -> ReconcileResult:
        now = self._clock()
        classes = tuple(sorted({i.error_class for i in issues}))
        text = events.safe("; ".join(str(i) for i in issues), 2000)
        kept = self.status.applied_revision
        self.status = rejected(self.status, probe, classes, text)
        self.loaded_once = True
        retry_in: float | None = None
        if is_transient(probe, classes):
            self._failures += 1
            retry_in = transient_delay(self._failures, self._backoff, self._rand)
            self.retry_at = now + retry_in
        else:
            self._failures = 0
        revision = probe.revision_id if probe else None
        self._emit(
            events.config_rejected(
                issues,
                text,
                kept=kept,
                retry_in=retry_in,
                revision=revision,
                classes=classes,
                path=str(self.path),
            )
        )
        return ReconcileResult(
            at=now, revision=revision, result="failure", message=text, error_classes=classes
        )
