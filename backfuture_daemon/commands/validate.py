"""`backfuture validate PATH [--no-decrypt] [--json]`: decrypt and validate one config revision.

Exit 0 valid, 1 invalid, 2 usage error. Used by people, the config repo's pre-commit hook, PR CI
(`--no-decrypt`, no key needed) and `make demo`; shows each strategy's ladder (ladder_view.py).
Secrets are shown only masked, and every line printed goes through the global redactor.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from backfuture_daemon.commands import ladder_view
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.configuration.models import Connection, Strategy
from backfuture_daemon.configuration.rules import explain_sizing
from backfuture_daemon.configuration.secrets_policy import PLACEHOLDER
from backfuture_daemon.errors import ConfigError, ConfigIssue
from backfuture_daemon.redaction import GLOBAL_REDACTOR, mask


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="config directory or file")
    parser.add_argument(
        "--no-decrypt",
        action="store_true",
        help="check structure and schema without keys (secrets must be ENC[...]); for PR CI",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--sops-timeout", type=float, default=30.0, metavar="SECONDS", help="per file (30)"
    )


def run(args: argparse.Namespace) -> int:
    path: Path = args.path
    if not _exists(path):
        print(f"backfuture validate: {path}: no such file or directory", file=sys.stderr)
        return 2
    decrypt = not args.no_decrypt
    try:
        state = load_revision(path, decrypt=decrypt, sops_timeout=args.sops_timeout)
    except ConfigError as exc:
        _emit(_invalid_json(exc.issues) if args.json else _invalid_text(path, exc), args.json)
        return 1
    _emit(
        _valid_json(state, decrypt) if args.json else _valid_text(path, state, decrypt), args.json
    )
    return 0


def _emit(out: str | dict[str, Any], as_json: bool) -> None:
    text = json.dumps(out, indent=2) if as_json else str(out)
    sys.stdout.write(GLOBAL_REDACTOR(text) + "\n")


def _key(conn: Connection, decrypt: bool) -> str:
    value = conn.api_key.get_secret_value()
    return "ENC[…] (not decrypted)" if not decrypt or value == PLACEHOLDER else mask(value)


def _users(state: DesiredState) -> dict[str, int]:
    """Strategies per connection: 0 is an unused key (delete it on the exchange if it is old)."""
    counts = {c.name: 0 for c in state.connections}
    for s in state.strategies:
        if s.connection in counts:
            counts[s.connection] += 1
    return counts


def _connection_dict(c: Connection, decrypt: bool, source: str, users: int) -> dict[str, Any]:
    return {
        "name": c.name,
        "exchange": c.exchange.value,
        "markets": [m.value for m in c.markets],
        "api_key": _key(c, decrypt),
        "passphrase": c.passphrase is not None,
        "endpoints": c.endpoints.model_dump(exclude_none=True) if c.endpoints else {},
        "suspend": c.suspend,
        "strategies": users,
        "unused": users == 0,
        "source": source,
    }


def _strategy_dict(s: Strategy, source: str) -> dict[str, Any]:
    z = s.sizing()
    return {
        "name": s.name,
        "connection": s.connection,
        "market": s.market.value,
        "mode": s.mode.value,
        "pairs": list(s.pairs),
        "risk_level": s.risk_level.value,
        "margin_limit": s.margin_limit,
        "quote": s.quote,
        "suspend": s.suspend,
        "sizing": {
            "max_active_groups": z.max_active_groups,
            "base_order_quote": z.base_order_quote,
            "add_order_quote": z.add_order_quote,
            "max_adds": z.max_adds,
            "max_active_adds": z.max_active_adds,
            "step_pct": z.step_pct,
            "step_scale": z.step_scale,
            "volume_scale": z.volume_scale,
            "take_profit_pct": z.take_profit_pct,
            "max_group_funds": round(z.max_group_funds, 8),
            "max_total_funds": round(z.max_total_funds, 8),
        },
        "recovery_mode": s.recovery_mode.enabled,
        "source": source,
        **ladder_view.as_json(ladder_view.strategy_ladder(s)),
    }


def _valid_json(state: DesiredState, decrypt: bool) -> dict[str, Any]:
    r = state.revision
    users = _users(state)
    return {
        "valid": True,
        "decrypted": decrypt,
        "revision": {"id": r.id, "commit": r.commit, "dirty": r.dirty, "digest": r.digest},
        "issues": [],
        "connections": [
            _connection_dict(
                c, decrypt, state.sources.get(f"connections/{c.name}", ""), users[c.name]
            )
            for c in state.connections
        ],
        "strategies": [
            _strategy_dict(s, state.sources.get(f"strategies/{s.name}", ""))
            for s in state.strategies
        ],
        "skipped": list(state.skipped),
    }


def _invalid_json(issues: tuple[ConfigIssue, ...]) -> dict[str, Any]:
    return {
        "valid": False,
        "revision": None,
        "issues": [
            {"file": i.file, "path": i.path, "message": i.message, "error_class": i.error_class}
            for i in issues
        ],
        "error_classes": sorted({i.error_class for i in issues}),
        "connections": [],
        "strategies": [],
    }


def _valid_text(path: Path, state: DesiredState, decrypt: bool) -> str:
    r = state.revision
    rev = f"sha256:{r.digest[:12]}"
    if r.commit:
        dirty = " + uncommitted changes" if r.dirty else ""
        rev = f"commit {r.commit[:12]}{dirty}, {rev}"
    mode = "" if decrypt else " (not decrypted: --no-decrypt)"
    p = state.policy
    lines = [
        f"{path}: valid{mode} — revision {rev}",
        f"policy: egress_ips [{', '.join(str(ip) for ip in p.egress_ips)}], "
        f"require_ip_whitelist {str(p.require_ip_whitelist).lower()}, "
        f"allow_key_reuse {str(p.allow_key_reuse).lower()}, "
        f"allow_remote_endpoints {str(p.allow_remote_endpoints).lower()}",
        f"{len(state.connections)} connection(s):",
    ]
    for c in state.connections:
        endpoints = ""
        if c.endpoints:
            pairs = c.endpoints.model_dump(exclude_none=True).items()
            endpoints = "  endpoints " + " ".join(f"{k}={v}" for k, v in pairs)
        suspended = "  SUSPENDED" if c.suspend else ""
        lines.append(
            f'  "{c.name}": {c.exchange.value} {"+".join(m.value for m in c.markets)}, '
            f"key {_key(c, decrypt)}{endpoints}{suspended}"
        )
    lines.append(f"{len(state.strategies)} strateg{'y' if len(state.strategies) == 1 else 'ies'}:")
    for s in state.strategies:
        z = s.sizing()
        suspended = "  SUSPENDED" if s.suspend else ""
        lines.append(
            f'  "{s.name}" on "{s.connection}": {s.market.value} {s.mode.value}, '
            f"{', '.join(s.pairs)}, {s.risk_level.value}{suspended}"
        )
        lines.append(
            f"      max funds {explain_sizing(s, z)} <= margin_limit {s.margin_limit:g} {s.quote}"
        )
        lines += ladder_view.render(ladder_view.strategy_ladder(s))
    unused = [name for name, n in _users(state).items() if n == 0]
    if unused:
        lines.append(
            "note: no strategy uses "
            + ", ".join(f'"{name}"' for name in unused)
            + ": an unused key is risk without benefit; delete it on the exchange and remove the"
            " connection if it is old"
        )
    if state.skipped:
        lines.append("skipped (not config documents): " + ", ".join(state.skipped))
    return "\n".join(lines)


def _invalid_text(path: Path, exc: ConfigError) -> str:
    lines = [str(i) for i in exc.issues]
    n = len(exc.issues)
    lines.append(
        f"{path}: invalid — {n} issue{'s' if n != 1 else ''} "
        f"({', '.join(exc.error_classes)}); nothing from this revision would be applied"
    )
    return "\n".join(lines)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: no such file either way
        return False
