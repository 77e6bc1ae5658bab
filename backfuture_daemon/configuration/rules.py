"""Cross-object, cross-file rules of a config revision (the checks one model cannot make alone).

Called by configuration/loading.py after every document passed its schema; returns every issue
found (never stops at the first). The closed set of config error classes is
`errors.ConfigErrorClass`; `CONFIG_ERROR_CLASSES` here is its tuple of values.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from backfuture_daemon.configuration.live_rules import check_live, netting_conflicts
from backfuture_daemon.configuration.models import (
    Adding,
    ConfigDocument,
    Connection,
    Endpoints,
    ExchangeName,
    Market,
    Mode,
    Policy,
    RecoveryMode,
    RiskLevel,
    Strategy,
    is_loopback_host,
)
from backfuture_daemon.configuration.secrets_policy import PLACEHOLDER
from backfuture_daemon.configuration.sizing_rules import check_margin as check_margin
from backfuture_daemon.configuration.sizing_rules import check_sizing as check_sizing
from backfuture_daemon.configuration.sizing_rules import explain_sizing as explain_sizing
from backfuture_daemon.errors import ConfigErrorClass, ConfigIssue
from backfuture_daemon.health import ConnectionStatus, ErrorClass, Permission, StepStatus

#: Every `error_class` a ConfigIssue can carry (the enum's values; kept for existing importers).
CONFIG_ERROR_CLASSES: tuple[str, ...] = tuple(c.value for c in ConfigErrorClass)

#: The shortest secret redaction can remove without rewriting other text (KuCoin requires
#: passphrases of at least 7 characters; real keys and secrets are far longer than 8).
MIN_SECRET_LENGTH = {"api_key": 8, "api_secret": 8, "passphrase": 7}

#: Words the daemon itself prints (JSON, /status, metrics, logs): a secret inside one of them
#: would rewrite that word wherever it appears.
_VOCABULARY: tuple[str, ...] = tuple(
    {
        *(str(v) for e in (ConfigErrorClass, ErrorClass, ConnectionStatus, StepStatus) for v in e),
        *(str(v) for e in (Permission, ExchangeName, Market, Mode, RiskLevel) for v in e),
        *(
            name
            for m in (ConfigDocument, Policy, Connection, Endpoints, Strategy, Adding, RecoveryMode)
            for name in m.model_fields
        ),
        *("true", "false", "null", "none", "redacted", "encrypted", "connections", "strategies"),
        *("revision", "running", "paused", "stopped", "online", "degraded", "failed", "error"),
    }
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Located(Generic[T]):
    """An object and where it was written: file and its index in that file's list."""

    file: str
    index: int
    item: T

    def path(self, kind: str, field: str = "") -> str:
        base = f"{kind}[{self.index}]"
        return f"{base}.{field}" if field else base


def key_fingerprints(connections: Sequence[Located[Connection]]) -> dict[int, bytes]:
    """Salted (per call) HMACs of each API key: compared, never stored or shown."""
    salt = os.urandom(16)
    return {
        i: hmac.new(salt, c.item.api_key.get_secret_value().encode(), hashlib.sha256).digest()
        for i, c in enumerate(connections)
        if c.item.api_key.get_secret_value() != PLACEHOLDER  # not decrypted: cannot compare
    }


def _endpoint_issues(c: Located[Connection], policy: Policy) -> list[ConfigIssue]:
    """Keys go to loopback only; elsewhere only when policy allows it, and never in clear text."""
    assert c.item.endpoints is not None
    out: list[ConfigIssue] = []
    for field, url in (("spot", c.item.endpoints.spot), ("futures", c.item.endpoints.futures)):
        if url is None:
            continue
        parts = urlsplit(url)
        host = parts.hostname or ""
        if is_loopback_host(host):
            continue
        if not policy.allow_remote_endpoints:
            message = (
                f'host "{host}" is not loopback: API keys would be sent there. Only '
                "127.0.0.1/::1/localhost are allowed unless policy.allow_remote_endpoints is true"
            )
        elif parts.scheme != "https":
            message = (
                f'host "{host}" is remote and the URL is not https: the API key header would '
                "cross the network in clear text; use https://"
            )
        else:
            continue
        path = c.path("connections", f"endpoints.{field}")
        out.append(ConfigIssue(c.file, path, message, ConfigErrorClass.POLICY_VIOLATION))
    return out


def _public_texts(
    connections: Sequence[Located[Connection]], strategies: Sequence[Located[Strategy]]
) -> list[str]:
    """Cleartext the revision itself makes public (names, pairs, labels, URLs), lower case."""
    out = [w.lower() for w in _VOCABULARY]
    for c in connections:
        out += [c.item.name.lower(), *(f"{k} {v}".lower() for k, v in c.item.labels.items())]
        if c.item.endpoints is not None:
            out += [u.lower() for u in (c.item.endpoints.spot, c.item.endpoints.futures) if u]
    for s in strategies:
        out += [s.item.name.lower(), s.item.connection.lower(), *(p.lower() for p in s.item.pairs)]
    return out


def unsafe_secret_issues(
    connections: Sequence[Located[Connection]], strategies: Sequence[Located[Strategy]]
) -> list[ConfigIssue]:
    """Secrets too short or too common to redact safely: redaction removes a secret wherever it
    appears, so `true` or `Main` would rewrite JSON and names (and tell a reader the secret)."""
    public = _public_texts(connections, strategies)
    out: list[ConfigIssue] = []
    for c in connections:
        for field, minimum in MIN_SECRET_LENGTH.items():
            secret = getattr(c.item, field)
            value = secret.get_secret_value() if secret is not None else None
            if value is None or value == PLACEHOLDER:
                continue
            if len(value.strip()) < minimum:
                why = f"shorter than {minimum} characters"
            elif any(value.lower() in text for text in public):
                why = "a word that appears in names, pairs or the daemon's own output"
            else:
                continue
            out.append(
                ConfigIssue(
                    c.file,
                    c.path("connections", field),
                    f'connection "{c.item.name}": the {field} is {why}, so it cannot be kept out '
                    "of logs and outputs without rewriting other text. Create a new key on the "
                    "exchange with a longer, random value (and set it with `sops edit`)",
                    ConfigErrorClass.POLICY_VIOLATION,
                )
            )
    return out


def check_revision(
    policy: Policy,
    connections: Sequence[Located[Connection]],
    strategies: Sequence[Located[Strategy]],
    *,
    secrets_known: bool,
    allow_empty: bool = True,
    unresolved: Collection[str] = (),
    references_complete: bool = True,
) -> list[ConfigIssue]:
    """Every cross-object rule; `secrets_known=False` (--no-decrypt) skips the key-reuse check.

    `unresolved`: names of connections that exist but failed their own schema check; strategies
    referring to them get no (misleading) "no connection named" issue; `references_complete=False`
    (a file did not parse, so any name may be defined there) drops that check altogether.
    """
    issues: list[ConfigIssue] = []

    if not allow_empty and not connections:
        issues.append(
            ConfigIssue(
                "(revision)",
                "connections",
                "no connection in this revision; refusing to stop every bot because of an empty "
                "config (restore the files, or stop the daemon deliberately)",
                ConfigErrorClass.EMPTY_CONFIG,
            )
        )

    by_name: dict[str, Located[Connection]] = {}
    for c in connections:
        first = by_name.get(c.item.name)
        if first is not None:
            issues.append(
                ConfigIssue(
                    c.file,
                    c.path("connections", "name"),
                    f'connection name "{c.item.name}" is already used at {first.file}: '
                    f"{first.path('connections')}; names must be unique",
                    ConfigErrorClass.DUPLICATE_NAME,
                )
            )
        else:
            by_name[c.item.name] = c
        if c.item.endpoints is not None:
            issues += _endpoint_issues(c, policy)

    if secrets_known:
        issues += unsafe_secret_issues(connections, strategies)

    if secrets_known and not policy.allow_key_reuse:
        prints = key_fingerprints(connections)
        seen: dict[bytes, Located[Connection]] = {}
        for i, c in enumerate(connections):
            if i not in prints:
                continue
            other = seen.get(prints[i])
            if other is not None:
                issues.append(
                    ConfigIssue(
                        c.file,
                        c.path("connections", "api_key"),
                        f'connection "{c.item.name}" uses the same API key as "{other.item.name}" '
                        f"({other.file}); use a separate key per connection (the brief's rule), "
                        "or set policy.allow_key_reuse: true",
                        ConfigErrorClass.DUPLICATE_KEY,
                    )
                )
            else:
                seen[prints[i]] = c

    strat_names: dict[str, Located[Strategy]] = {}
    for s in strategies:
        first_s = strat_names.get(s.item.name)
        if first_s is not None:
            issues.append(
                ConfigIssue(
                    s.file,
                    s.path("strategies", "name"),
                    f'strategy name "{s.item.name}" is already used at {first_s.file}: '
                    f"{first_s.path('strategies')}; names must be unique",
                    ConfigErrorClass.DUPLICATE_NAME,
                )
            )
        else:
            strat_names[s.item.name] = s
        conn = by_name.get(s.item.connection)
        if conn is None and (s.item.connection in unresolved or not references_complete):
            pass
        elif conn is None:
            close = difflib.get_close_matches(s.item.connection, list(by_name), n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            known = ", ".join(f'"{n}"' for n in by_name) or "none"
            issues.append(
                ConfigIssue(
                    s.file,
                    s.path("strategies", "connection"),
                    f'strategy "{s.item.name}": no connection named "{s.item.connection}"{hint} '
                    f"(known: {known})",
                    ConfigErrorClass.REFERENCE_INVALID,
                )
            )
        elif s.item.market not in conn.item.markets:
            markets = ", ".join(m.value for m in conn.item.markets)
            issues.append(
                ConfigIssue(
                    s.file,
                    s.path("strategies", "market"),
                    f'strategy "{s.item.name}": market {s.item.market.value} is not enabled on '
                    f'connection "{conn.item.name}" (markets: {markets}); add it to the '
                    "connection's markets (and to the key's permissions) or change the market",
                    ConfigErrorClass.REFERENCE_INVALID,
                )
            )
        if conn is not None:
            live = check_live(s.item, conn.item)
            if live is not None:
                issues.append(
                    ConfigIssue(
                        s.file,
                        s.path("strategies", "mode"),
                        f'strategy "{s.item.name}": {live}',
                        ConfigErrorClass.POLICY_VIOLATION,
                    )
                )
        sizing = s.item.sizing()
        margin = check_margin(s.item, sizing)
        if margin is not None:
            issues.append(
                ConfigIssue(
                    s.file,
                    s.path("strategies", "margin_limit"),
                    f'strategy "{s.item.name}": {margin}',
                    ConfigErrorClass.MARGIN_EXCEEDED,
                )
            )
        for field, message in check_sizing(s.item, sizing):
            issues.append(
                ConfigIssue(
                    s.file,
                    s.path("strategies", field),
                    f'strategy "{s.item.name}": {message}',
                    ConfigErrorClass.SIZING_INVALID,
                )
            )
    for i, why in netting_conflicts([s.item for s in strategies]).items():
        s = strategies[i]
        issues.append(
            ConfigIssue(
                s.file,
                s.path("strategies", "pairs"),
                f'strategy "{s.item.name}": {why}',
                ConfigErrorClass.POLICY_VIOLATION,
            )
        )
    return issues
