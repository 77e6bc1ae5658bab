"""`backfuture plan PATH [--against URL]`: what `backfuture run` would do, and the ladders.

Runs the daemon's own planner against nothing (a fresh start) or a running daemon's /status read
back field by field. Exit codes follow argocd/flux diff: 0 no changes, 1 changes, 2 error. Keys
are compared through the daemon's salted fingerprints, never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backfuture_daemon.bots.model import BotCommand, BotState, BotStatus, Gate
from backfuture_daemon.commands import ladder_view
from backfuture_daemon.commands.ladder_view import StrategyLadder
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.errors import BackfutureError, ConfigError, DecryptError, UsageError
from backfuture_daemon.health import (
    CheckStep,
    ConnectionReport,
    ConnectionStatus,
    ErrorClass,
    StepStatus,
)
from backfuture_daemon.reconciler.desired import Desired
from backfuture_daemon.reconciler.plan import (
    Action,
    ForgetConnection,
    Observed,
    TestConnection,
    plan,
)
from backfuture_daemon.reconciler.state import ConnectionObservation
from backfuture_daemon.redaction import GLOBAL_REDACTOR, scrub_text, shorten

FRESH_SALT = "plan"
#: A /status of thousands of connections is a few MB; anything far larger is not one.
MAX_STATUS_BYTES = 64 * 2**20
_CLASSES = {c.value for c in ErrorClass}  # without --against nothing is compared, any salt will do


def _error_class(value: object) -> ErrorClass | None:
    """A /status value read back: an error class, or None for anything else (even a list)."""
    return ErrorClass(value) if isinstance(value, str) and value in _CLASSES else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="config directory or file")
    parser.add_argument(
        "--against",
        metavar="URL",
        help="a running daemon (http://127.0.0.1:9464 or its /status URL) to compare with",
    )
    parser.add_argument("--json", action="store_true", help="print the actions as JSON")
    parser.add_argument(
        "--sops-timeout", type=float, default=30.0, metavar="SECONDS", help="per file (30)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="for --against (10)"
    )


def run(args: argparse.Namespace) -> int:
    from backfuture_daemon.configuration.loading import load_revision
    from backfuture_daemon.settings import load_settings

    egress_ips = load_settings().egress_ips  # a bad BACKFUTURE_* value: UsageError, exit 2
    try:
        state = load_revision(
            args.path, sops_timeout=args.sops_timeout, extra_egress_ips=egress_ips
        )
    except (ConfigError, DecryptError) as e:
        issues = e.issues if isinstance(e, ConfigError) else (str(e),)
        for issue in issues:
            _err(str(issue))
        _err(f"{args.path}: invalid config; `backfuture run` would keep its last good revision")
        return 2
    except BackfutureError as e:
        _err(f"{args.path}: cannot read the config: {shorten(scrub_text(str(e)))}")
        return 2
    except Exception as e:
        # Whatever the loader raises, this is a config plan cannot read (exit 2, not 1 =
        # "changes"). The text of an unexpected error may echo a value from the file: not shown.
        _err(
            f"{args.path}: cannot read the config ({type(e).__name__} while loading); "
            "`backfuture validate` names the file and field"
        )
        return 2
    try:
        running = fetch_status(args.against, args.timeout) if args.against else None
        result = compare(state, running)
    except UsageError as e:
        _err(f"backfuture plan: {e}")
        return 2
    if args.json:
        _out(json.dumps(result.to_json(), indent=2))
    else:
        _out(result.render())
    return 1 if result.actions else 0


@dataclass(frozen=True, slots=True)
class PlanResult:
    revision: str
    against: str | None
    running_revision: str | None
    actions: tuple[Action, ...]
    #: Each strategy's ladder for an entry at 100: what its bot would order, before it trades.
    ladders: tuple[StrategyLadder, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "against": self.against,
            "running_revision": self.running_revision,
            "changes": len(self.actions),
            "actions": [{"action": _kind(a), **_fields(a)} for a in self.actions],
            "strategies": [{"name": sl.name, **ladder_view.as_json(sl)} for sl in self.ladders],
        }

    def render(self) -> str:
        head = f"revision {self.revision}"
        if self.against is not None:
            head += f" against {self.against} (running {self.running_revision or 'nothing'})"
        else:
            head += " (fresh start: nothing running to compare with)"
        lines = [head]
        lines += [f"  {_line(a)}" for a in self.actions]
        if not self.actions:
            lines.append("  no changes")
        for sl in self.ladders:  # before the summary, which stays the last line
            lines += ladder_view.render(sl, indent="  ", named=True)
        counts: dict[str, int] = {}
        for a in self.actions:
            counts[_verb(a)] = counts.get(_verb(a), 0) + 1
        if counts:
            lines.append("plan: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
        return "\n".join(lines)


def compare(state: DesiredState, running: dict[str, Any] | None) -> PlanResult:
    """The plan of `state` against a running daemon's /status document (None: a fresh start).
    Raises UsageError naming the field when the document cannot be read back."""
    salt = str(running.get("fingerprint_salt") or FRESH_SALT) if running else FRESH_SALT
    desired = Desired.from_state(state, salt)
    observed = observed_from_status(running) if running else Observed()
    # now=0: routine re-checks that are merely due are not changes of the config.
    actions = plan(desired, observed, 0.0)
    config = (running or {}).get("config") or {}
    if not isinstance(config, dict):
        raise _bad("config", "expected an object")
    applied = config.get("applied_revision")
    if applied is not None and not isinstance(applied, str):
        raise _bad("config.applied_revision", "expected text")
    return PlanResult(
        revision=state.revision.id,
        against=(running or {}).get("_url") if running else None,
        running_revision=applied,
        actions=actions,
        ladders=tuple(ladder_view.strategy_ladder(s) for s in state.strategies),
    )


class _StatusReader:
    """Reads fields of a /status document; a field of the wrong shape is a UsageError naming it."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc

    def items(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        value = self._doc.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _bad(key, "expected a list")
        out: list[tuple[str, dict[str, Any]]] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise _bad(f"{key}[{i}]", "expected an object")
            out.append((f"{key}[{i}]", item))
        return out


def _bad(where: str, what: str) -> UsageError:
    return UsageError(f"the /status document's field {where}: {what}")


def _text(item: dict[str, Any], where: str, key: str, default: str | None = None) -> str:
    value = item.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise _bad(f"{where}.{key}", "missing" if value in (None, "") else "expected text")
    return value


def _list(item: dict[str, Any], where: str, key: str) -> list[Any]:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"{where}.{key}", "expected a list")
    return value


def _number(item: dict[str, Any], where: str, key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{where}.{key}", "expected a number")
    try:
        number = float(value)
    except OverflowError:  # an integer of a thousand digits
        number = math.inf
    if not math.isfinite(number):  # JSON as Python reads it allows Infinity and NaN
        raise _bad(f"{where}.{key}", "expected a finite number")
    return number


def _choice(enum: type[Any], value: object, where: str, default: str) -> Any:
    values = [m.value for m in enum]
    if value is None:
        value = default
    if value not in values:
        raise _bad(where, f"unknown value (expected one of {', '.join(values)})")
    return enum(value)


def observed_from_status(doc: dict[str, Any]) -> Observed:
    """Rebuild the planner's view of a running daemon from its /status document.

    Raises UsageError naming the first field it cannot read (unknown state, missing name, a
    `since` that is not a number...): a document from another version or not from a daemon."""
    reader = _StatusReader(doc)
    conns: dict[str, ConnectionObservation] = {}
    in_flight: set[str] = set()
    for where, c in reader.items("connections"):
        name = _text(c, where, "name")
        report = _report(c, where, name)
        if report is None:
            in_flight.add(name)  # listed but not tested yet: its test is under way
        sched = c.get("scheduling") or {}
        if not isinstance(sched, dict):
            raise _bad(f"{where}.scheduling", "expected an object")
        failures = _number(sched, f"{where}.scheduling", "consecutive_failures")
        conns[name] = ConnectionObservation(
            name=name,
            exchange=_text(c, where, "exchange", ""),
            report=report,
            fingerprint=_text(c, where, "fingerprint", ""),
            next_check_at=_number(sched, f"{where}.scheduling", "next_check_at"),
            consecutive_failures=int(failures or 0),
            inputs_digest=_text(c, where, "inputs_digest", ""),
        )
    bots: dict[str, BotStatus] = {}
    for where, b in reader.items("bots"):
        strategy = _text(b, where, "strategy")
        bots[strategy] = BotStatus(
            strategy=strategy,
            connection=_text(b, where, "connection"),
            state=_choice(BotState, b.get("state"), f"{where}.state", ""),
            reason=_text(b, where, "reason", ""),
            since=_number(b, where, "since") or 0.0,
            mode=_text(b, where, "mode", "paper"),
            market=_text(b, where, "market", "spot"),
        )
    return Observed(conns, bots, frozenset(in_flight))


def _report(c: dict[str, Any], where: str, name: str) -> ConnectionReport | None:
    r = c.get("report")
    if not r:
        return None
    if not isinstance(r, dict):
        raise _bad(f"{where}.report", "expected an object")
    exchange = _text(c, where, "exchange", "")
    where = f"{where}.report"
    classes = tuple(
        ErrorClass(x)
        for x in _list(r, where, "error_classes")
        if isinstance(x, str) and x in _CLASSES
    )
    steps = []
    for i, s in enumerate(_list(r, where, "steps")):
        if not isinstance(s, dict):
            raise _bad(f"{where}.steps[{i}]", "expected an object")
        steps.append(
            CheckStep(
                _text(s, f"{where}.steps[{i}]", "name", ""),
                _choice(StepStatus, s.get("status"), f"{where}.steps[{i}].status", "unknown"),
                _text(s, f"{where}.steps[{i}]", "reason", ""),
                _error_class(s.get("error_class")),
            )
        )
    permissions = r.get("permissions") or {}
    if not isinstance(permissions, dict):
        raise _bad(f"{where}.permissions", "expected an object")
    return ConnectionReport(
        connection=name,
        exchange=exchange,
        status=_choice(ConnectionStatus, r.get("status"), f"{where}.status", "unknown"),
        steps=tuple(steps),
        error_classes=classes,
        permissions=dict(permissions),
    )


def fetch_status(url: str, timeout: float) -> dict[str, Any]:
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    base = url.rstrip("/")
    status_url = base if base.endswith("/status") else base + "/status"
    if urlsplit(status_url).scheme not in ("http", "https"):
        raise UsageError(f"--against {url}: expected an http(s) URL")
    try:
        with urllib.request.urlopen(status_url, timeout=timeout) as resp:  # noqa: S310
            body = resp.read(MAX_STATUS_BYTES + 1)
        if len(body) > MAX_STATUS_BYTES:
            raise ValueError(f"larger than {MAX_STATUS_BYTES // 2**20} MiB")
        doc = json.loads(body.decode("utf-8"))
    except RecursionError as e:
        raise UsageError(f"--against {status_url}: not a backfuture /status document") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise UsageError(f"--against {status_url}: cannot read the daemon's status ({e})") from e
    if not isinstance(doc, dict) or "connections" not in doc:
        raise UsageError(f"--against {status_url}: not a backfuture /status document")
    doc["_url"] = base.removesuffix("/status")
    return doc


def _fields(a: Action) -> dict[str, Any]:
    return {k: getattr(a, k) for k in a.__dataclass_fields__ if not k.startswith("_")}


_KIND = {Gate.RUN: "StartBot", Gate.PAUSE: "PauseBot", Gate.STOP: "StopBot"}


def _kind(a: Action) -> str:
    """The action's name in `--json` (bot commands by their gate, as before the bots' type)."""
    return _KIND[a.gate] if isinstance(a, BotCommand) else type(a).__name__


def _verb(a: Action) -> str:
    if isinstance(a, TestConnection):
        return "connection test(s)"
    if isinstance(a, ForgetConnection):
        return "connection(s) removed"
    if a.pending:
        return "bot(s) added"
    return {Gate.RUN: "bot start(s)", Gate.PAUSE: "bot pause(s)", Gate.STOP: "bot stop(s)"}[a.gate]


def _line(a: Action) -> str:
    if isinstance(a, TestConnection):
        return f'~ test connection "{a.name}": {a.reason}'
    if isinstance(a, ForgetConnection):
        return f'- remove connection "{a.name}" (no longer in config)'
    where = f'bot "{a.strategy}" on "{a.connection}"'
    if a.gate is Gate.RUN:
        return f"+ start {where} ({a.mode}, {a.market}): {a.reason}"
    if a.pending:
        return f"+ add {where}: starts once its connection passes"
    if a.gate is Gate.PAUSE:
        return f"| pause {where}: {a.reason}"
    return f"- stop {where}: {a.reason}"


def _out(text: str) -> None:
    sys.stdout.write(GLOBAL_REDACTOR(text) + "\n")


def _err(text: str) -> None:
    sys.stderr.write(GLOBAL_REDACTOR(text) + "\n")
