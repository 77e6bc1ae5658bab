"""`backfuture check PATH [--connection NAME] [--json]`: the brief's "Run a connection test".

Loads and decrypts the config, tests every connection (exchanges.probes) concurrently, bounded,
with progress on a terminal's stderr (commands.progress), then prints a table and each failing or
warning step. Exit 0 all online/degraded, 1 any failed, 2 config/usage error. Redacted, keys masked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from backfuture_daemon.commands.progress import Progress
from backfuture_daemon.errors import ConfigError
from backfuture_daemon.health import (
    REMEDIES,
    ConnectionReport,
    ConnectionStatus,
    StepStatus,
)
from backfuture_daemon.redaction import GLOBAL_REDACTOR

if TYPE_CHECKING:
    from backfuture_daemon.configuration.desired_state import DesiredState
    from backfuture_daemon.configuration.models import Connection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="config directory or file")
    parser.add_argument("--connection", metavar="NAME", help="test only this connection")
    parser.add_argument("--json", action="store_true", help="print a JSON list of reports")
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per HTTP request (10)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="connections tested at once (16)"
    )
    parser.add_argument(
        "--sops-timeout", type=float, default=30.0, metavar="SECONDS", help="per file (30)"
    )


def run(args: argparse.Namespace) -> int:
    from backfuture_daemon.configuration.loading import load_revision
    from backfuture_daemon.settings import load_settings

    path: Path = args.path
    if not _exists(path):
        _err(f"backfuture check: {path}: no such file or directory")
        return 2
    try:
        state = load_revision(
            path,
            decrypt=True,
            sops_timeout=args.sops_timeout,
            extra_egress_ips=load_settings().egress_ips,
        )
    except ConfigError as exc:
        for issue in exc.issues:
            _err(str(issue))
        _err(f"{path}: invalid config ({', '.join(exc.error_classes)}); nothing was tested")
        return 2
    connections = _selected(state, args.connection)
    if connections is None:
        names = ", ".join(f'"{c.name}"' for c in state.connections) or "none"
        _err(f'backfuture check: no connection named "{args.connection}" (have: {names})')
        return 2
    tested = [c for c in connections if not c.suspend]
    progress = Progress.for_stream(sys.stderr, len(tested), as_json=args.json)
    try:
        reports = asyncio.run(
            _test_all(state, tested, args.timeout, max(args.concurrency, 1), progress)
        )
    finally:
        progress.clear()
    if args.json:
        _out(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        _out(render(reports, skipped=[c.name for c in connections if c.suspend]))
    return exit_code(reports)


def _selected(state: DesiredState, name: str | None) -> list[Connection] | None:
    if name is None:
        return list(state.connections)
    chosen = [c for c in state.connections if c.name == name]
    return chosen or None


async def _test_all(
    state: DesiredState,
    connections: Sequence[Connection],
    request_timeout: float,
    concurrency: int,
    progress: Progress,
) -> list[ConnectionReport]:
    from backfuture_daemon.exchanges.probes import ConnectionTester

    tester = ConnectionTester(timeout=request_timeout, max_concurrency=concurrency)

    async def one(c: Connection) -> ConnectionReport:
        report = await tester.test(c, state.strategies_for(c.name), state.policy)
        progress.advance(failed=report.status is ConnectionStatus.FAILED)
        return report

    progress.start()
    try:
        return list(await asyncio.gather(*(one(c) for c in connections)))
    finally:
        await tester.close()


def exit_code(reports: Sequence[ConnectionReport]) -> int:
    return 1 if any(r.status is ConnectionStatus.FAILED for r in reports) else 0


def _flag(value: bool | None) -> str:
    return {True: "+", False: "-", None: "?"}[value]


def _permissions(r: ConnectionReport) -> str:
    return " ".join(
        f"{name}{_flag(r.permissions.get(name))}"
        for name in ("read", "trade", "futures", "withdraw")
    )


def _ms(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{round(value):+d}ms" if signed else f"{round(value):d}ms"


def render(reports: Sequence[ConnectionReport], *, skipped: Sequence[str] = ()) -> str:
    """The human table, then every failing/warning/unknown step with its reason and remedy."""
    header = ("CONNECTION", "EXCHANGE", "STATUS", "ERRORS", "PERMISSIONS", "IP", "SKEW",
              "LATENCY", "KEY", "REMEDY")  # fmt: skip
    rows = [header]
    for r in reports:
        ip = {True: "restricted", False: "open", None: "?"}[r.ip_restricted]
        errors = ",".join(c.value for c in r.error_classes) or "-"
        remedy = REMEDIES[r.error_classes[0]] if r.error_classes else "-"
        rows.append((r.connection, r.exchange, r.status.value, errors, _permissions(r), ip,
                     _ms(r.clock_skew_ms, signed=True), _ms(r.latency_ms), r.key_masked,
                     remedy))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]
    for r in reports:
        notable = [s for s in r.steps if s.status is not StepStatus.PASS]
        if not notable:
            continue
        lines.append("")
        lines.append(f'connection "{r.connection}" ({r.exchange}): {r.status.value}')
        # Steps skipped for one reason are listed on one line.
        groups: list[tuple[StepStatus, list[str], str, str]] = []
        for s in notable:
            cls = f" {s.error_class.value}" if s.error_class else ""
            last = groups[-1] if groups else None
            if (
                last
                and s.status is StepStatus.UNKNOWN
                and last[0] is s.status
                and last[3] == s.reason
            ):
                last[1].append(s.name)
            else:
                groups.append((s.status, [s.name], cls, s.reason))
        for status, names, cls, reason in groups:
            lines.append(f"  {status.value:<7} {', '.join(names)}:{cls} {reason}")
        for c in r.error_classes:
            lines.append(f"  -> {c.value}: {REMEDIES[c]}")
    for name in skipped:
        lines.append(f'connection "{name}": not tested (suspend: true)')
    failed = sum(r.status is ConnectionStatus.FAILED for r in reports)
    lines.append("")
    lines.append(
        f"{len(reports)} connection(s) tested: {len(reports) - failed} usable, {failed} failed"
    )
    return "\n".join(lines)


def _out(text: str) -> None:
    sys.stdout.write(GLOBAL_REDACTOR(text) + "\n")


def _err(text: str) -> None:
    sys.stderr.write(GLOBAL_REDACTOR(text) + "\n")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: no such file either way
        return False
