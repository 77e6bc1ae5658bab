"""`backfuture plan PATH [--against URL]`: what `backfuture run` would do with this config.

Loads and decrypts the revision (configuration.loading), then runs the daemon's own pure planner
(reconciler/plan.py) against either nothing (a fresh start) or a running daemon's `/status`
(`--against http://127.0.0.1:9464`): connections to test, bots to start / pause / stop.
Exit codes follow argocd/flux diff: 0 no changes, 1 changes, 2 error. Secrets never printed:
keys are compared through the daemon's salted fingerprints.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backfuture_daemon.bots.model import BotState, BotStatus
from backfuture_daemon.configuration.models import DesiredState
from backfuture_daemon.errors import ConfigError, DecryptError, UsageError
from backfuture_daemon.health import (
    CheckStep,
    ConnectionReport,
    ConnectionStatus,
    ErrorClass,
    StepStatus,
)
from backfuture_daemon.reconciler.fingerprint import check_inputs_digest, connection_fingerprint
from backfuture_daemon.reconciler.plan import (
    Action,
    Desired,
    ForgetConnection,
    Observed,
    PauseBot,
    StartBot,
    StopBot,
    TestConnection,
    plan,
)
from backfuture_daemon.reconciler.state import ConnectionObservation
from backfuture_daemon.redaction import GLOBAL_REDACTOR

FRESH_SALT = "plan"
_CLASSES = {c.value for c in ErrorClass}  # without --against nothing is compared, any salt will do


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

    try:
        state = load_revision(
            args.path,
            sops_timeout=args.sops_timeout,
            extra_egress_ips=load_settings().egress_ips,
        )
    except (ConfigError, DecryptError) as e:
        issues = e.issues if isinstance(e, ConfigError) else (str(e),)
        for issue in issues:
            _err(str(issue))
        _err(f"{args.path}: invalid config; `backfuture run` would keep its last good revision")
        return 2
    try:
        running = fetch_status(args.against, args.timeout) if args.against else None
    except UsageError as e:
        _err(f"backfuture plan: {e}")
        return 2
    result = compare(state, running)
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

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "against": self.against,
            "running_revision": self.running_revision,
            "changes": len(self.actions),
            "actions": [{"action": type(a).__name__, **_fields(a)} for a in self.actions],
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
        counts: dict[str, int] = {}
        for a in self.actions:
            counts[_verb(a)] = counts.get(_verb(a), 0) + 1
        if counts:
            lines.append("plan: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
        return "\n".join(lines)


def compare(state: DesiredState, running: dict[str, Any] | None) -> PlanResult:
    salt = str(running.get("fingerprint_salt") or FRESH_SALT) if running else FRESH_SALT
    fingerprints = {c.name: connection_fingerprint(c, salt) for c in state.connections}
    inputs = {
        c.name: check_inputs_digest(state.policy, state.strategies_for(c.name))
        for c in state.connections
    }
    desired = Desired(state, fingerprints, inputs)
    observed = observed_from_status(running) if running else Observed()
    # now=0: routine re-checks that are merely due are not changes of the config.
    actions = plan(desired, observed, 0.0)
    return PlanResult(
        revision=state.revision.id,
        against=(running or {}).get("_url") if running else None,
        running_revision=((running or {}).get("config") or {}).get("applied_revision"),
        actions=actions,
    )


def observed_from_status(doc: dict[str, Any]) -> Observed:
    """Rebuild the planner's view of a running daemon from its /status document."""
    conns: dict[str, ConnectionObservation] = {}
    in_flight: set[str] = set()
    for c in doc.get("connections") or []:
        report = _report(c)
        if report is None:
            in_flight.add(str(c["name"]))  # listed but not tested yet: its test is under way
        sched = c.get("scheduling") or {}
        conns[str(c["name"])] = ConnectionObservation(
            name=str(c["name"]),
            exchange=str(c.get("exchange", "")),
            report=report,
            fingerprint=str(c.get("fingerprint", "")),
            next_check_at=sched.get("next_check_at"),
            consecutive_failures=int(sched.get("consecutive_failures") or 0),
            inputs_digest=str(c.get("inputs_digest", "")),
        )
    bots = {
        str(b["strategy"]): BotStatus(
            strategy=str(b["strategy"]),
            connection=str(b["connection"]),
            state=BotState(b["state"]),
            reason=str(b.get("reason", "")),
            since=float(b.get("since") or 0.0),
            mode=str(b.get("mode", "paper")),
            market=str(b.get("market", "spot")),
        )
        for b in doc.get("bots") or []
    }
    return Observed(conns, bots, frozenset(in_flight))


def _report(c: dict[str, Any]) -> ConnectionReport | None:
    r = c.get("report")
    if not r:
        return None
    classes = tuple(ErrorClass(x) for x in r.get("error_classes") or [] if x in _CLASSES)
    steps = tuple(
        CheckStep(
            str(s.get("name", "")),
            StepStatus(s.get("status", "unknown")),
            str(s.get("reason", "")),
            ErrorClass(s["error_class"]) if s.get("error_class") in _CLASSES else None,
        )
        for s in r.get("steps") or []
    )
    return ConnectionReport(
        connection=str(c["name"]),
        exchange=str(c.get("exchange", "")),
        status=ConnectionStatus(r.get("status", "unknown")),
        steps=steps,
        error_classes=classes,
        permissions=dict(r.get("permissions") or {}),
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
            doc = json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise UsageError(f"--against {status_url}: cannot read the daemon's status ({e})") from e
    if not isinstance(doc, dict) or "connections" not in doc:
        raise UsageError(f"--against {status_url}: not a backfuture /status document")
    doc["_url"] = base.removesuffix("/status")
    return doc


def _fields(a: Action) -> dict[str, Any]:
    return {k: getattr(a, k) for k in a.__dataclass_fields__ if not k.startswith("_")}


def _verb(a: Action) -> str:
    if isinstance(a, PauseBot) and a.reason.startswith("waiting for the first test"):
        return "bot(s) added"
    return {
        TestConnection: "connection test(s)",
        ForgetConnection: "connection(s) removed",
        StartBot: "bot start(s)",
        PauseBot: "bot pause(s)",
        StopBot: "bot stop(s)",
    }[type(a)]


def _line(a: Action) -> str:
    if isinstance(a, TestConnection):
        return f'~ test connection "{a.name}": {a.reason}'
    if isinstance(a, ForgetConnection):
        return f'- remove connection "{a.name}" (no longer in config)'
    if isinstance(a, StartBot):
        return f'+ start bot "{a.strategy}" on "{a.connection}" ({a.mode}, {a.market}): {a.reason}'
    if isinstance(a, PauseBot) and a.reason.startswith("waiting for the first test"):
        return f'+ add bot "{a.strategy}" on "{a.connection}": starts once its connection passes'
    if isinstance(a, PauseBot):
        return f'| pause bot "{a.strategy}" on "{a.connection}": {a.reason}'
    return f'- stop bot "{a.strategy}" on "{a.connection}": {a.reason}'


def _out(text: str) -> None:
    sys.stdout.write(GLOBAL_REDACTOR(text) + "\n")


def _err(text: str) -> None:
    sys.stderr.write(GLOBAL_REDACTOR(text) + "\n")
