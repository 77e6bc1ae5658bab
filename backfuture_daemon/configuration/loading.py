"""Load one config revision (a directory or a file) into a validated `DesiredState`, all-or-nothing.

Called by `backfuture validate`, `plan`, `check` and the daemon's reconciler on every change.
Which files count (the rule, also in the README):
  * a directory is read NON-recursively: every `*.yaml` / `*.yml` directly inside it, in name order
    (subdirectories are ignored, so `deploy/` or `docs/` YAML cannot leak in);
  * hidden files (`.sops.yaml`, `.pre-commit-config.yaml`, `.github/...`) are never documents;
  * a YAML file whose top-level mapping has none of `version`, `policy`, `connections`,
    `strategies` (a Kubernetes manifest, a compose file) and empty files are skipped and listed in
    `DesiredState.skipped` so `validate` can show them;
  * a single file path is always a document.
Every problem of every file is collected as a `ConfigIssue`; any issue rejects the whole revision.
The phases: read + parse (documents.py), secret rules (secrets_policy.py), decrypt (sops.py),
schema (models.py, schema_issues.py), cross-object rules (rules.py), name (revision.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backfuture_daemon.configuration import sops
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.documents import Document, read_documents
from backfuture_daemon.configuration.models import (
    SECRET_FIELDS,
    ConfigDocument,
    Connection,
    IpAddress,
    Policy,
    Strategy,
    with_egress_ips,
)
from backfuture_daemon.configuration.revision import YAML_SUFFIXES, Revision, git_commit
from backfuture_daemon.configuration.rules import Located, check_revision
from backfuture_daemon.configuration.schema_issues import schema_issues
from backfuture_daemon.configuration.secrets_policy import check_secrets, with_placeholders
from backfuture_daemon.errors import ConfigError, ConfigErrorClass, ConfigIssue, DecryptError
from backfuture_daemon.redaction import GLOBAL_REDACTOR


def load_revision(
    path: Path,
    *,
    decrypt: bool = True,
    sops_timeout: float = 30.0,
    allow_empty: bool = True,
    env: Mapping[str, str] | None = None,
    extra_egress_ips: Sequence[IpAddress] = (),
) -> DesiredState:
    """Read, decrypt and validate one revision; ConfigError lists every issue found.

    `extra_egress_ips` (BACKFUTURE_EGRESS_IPS, the daemon's own knowledge of its public IPs) are
    added to `policy.egress_ips`, so a deployment can state its IPs without a config commit.

    decrypt=False (`--no-decrypt`, PR CI without keys) checks structure and schema with every
    secret required to be an ENC[...] value. Decrypted secrets go to GLOBAL_REDACTOR.
    `env` is the environment for sops (default: this process's).

    A revision is data, never a crash: whatever the files hold, the outcome is a DesiredState or
    a ConfigError (an unexpected failure becomes an issue naming its type, never its text).
    """
    try:
        return _load(path, decrypt, sops_timeout, allow_empty, env, extra_egress_ips)
    except ConfigError:
        raise
    except Exception as exc:
        issue = ConfigIssue(
            str(path),
            "",
            f"cannot be validated ({type(exc).__name__} while reading it); nothing from this "
            "revision is applied",
            ConfigErrorClass.FILE_UNREADABLE if isinstance(exc, OSError) else _SCHEMA,
        )
        raise ConfigError([issue]) from None


_SCHEMA = ConfigErrorClass.SCHEMA_INVALID
_DECRYPT_FAILED = ConfigErrorClass.DECRYPT_FAILED


def _load(
    path: Path,
    decrypt: bool,
    sops_timeout: float,
    allow_empty: bool,
    env: Mapping[str, str] | None,
    extra_egress_ips: Sequence[IpAddress],
) -> DesiredState:
    if not path.exists():
        raise ConfigError(
            [ConfigIssue(str(path), "", "does not exist", ConfigErrorClass.FILE_UNREADABLE)]
        )
    read = read_documents(path)
    issues = list(read.issues)
    for doc in read.documents:
        check_secrets(doc)
    _decrypt_all(read.documents, decrypt=decrypt, timeout=sops_timeout, env=env)
    policy, connections, strategies, broken = _validate_documents(read.documents, issues)

    # A file that did not even parse may define any connection: do not guess at references.
    unreadable = any(
        i.error_class in (ConfigErrorClass.YAML_INVALID, ConfigErrorClass.FILE_UNREADABLE)
        for i in issues
    )
    policy = with_egress_ips(policy or Policy(), extra_egress_ips)
    issues += check_revision(
        policy,
        connections,
        strategies,
        secrets_known=decrypt,
        allow_empty=allow_empty or bool(broken) or unreadable,
        unresolved=broken,
        references_complete=not unreadable,
    )
    if issues:
        issues.sort(key=_issue_order)
        raise ConfigError(issues)
    # The same files discover() reads: top-level *.yaml/*.yml (glob `*` stops at "/").
    specs = [f":(glob)*{suffix}" for suffix in YAML_SUFFIXES] if read.is_dir else [path.name]
    commit, dirty = git_commit(path if read.is_dir else path.parent, specs)
    sources = {
        f"connections/{c.item.name}": f"{c.file}: connections[{c.index}]" for c in connections
    }
    sources |= {f"strategies/{s.item.name}": f"{s.file}: strategies[{s.index}]" for s in strategies}
    state = DesiredState(
        revision=Revision(digest=read.digest, commit=commit, dirty=dirty),
        policy=policy,
        connections=tuple(c.item for c in connections),
        strategies=tuple(s.item for s in strategies),
        sources=sources,
        skipped=tuple(read.skipped),
    )
    if decrypt:
        GLOBAL_REDACTOR.add(state.secret_values())
    return state


def _validate_documents(
    docs: list[Document], issues: list[ConfigIssue]
) -> tuple[Policy | None, list[Located[Connection]], list[Located[Strategy]], set[str]]:
    """Schema-check every document; appends to `issues`. Returns what the cross-object rules see
    and the names of connections that exist but failed their own schema."""
    policy: Policy | None = None
    policy_file = ""
    connections: list[Located[Connection]] = []
    strategies: list[Located[Strategy]] = []
    broken: set[str] = set()
    for doc in docs:
        issues += doc.issues
        if doc.data is None:  # not decrypted: its cleartext names still exist
            conns = doc.raw.get("connections")
            for raw in conns if isinstance(conns, list) else []:
                broken.add(str(raw.get("name")) if isinstance(raw, Mapping) else "")
            continue
        model: ConfigDocument | _Salvaged
        try:
            model = ConfigDocument.model_validate(doc.data)
        except ValidationError as exc:
            issues += schema_issues(doc.file, doc.data, exc)
            model = _salvage(doc.data, broken)
        except Exception as exc:
            message = f"cannot be validated ({type(exc).__name__})"
            issues.append(ConfigIssue(doc.file, "", message, _SCHEMA))
            continue
        if model.policy is not None:
            if policy is not None:
                issues.append(
                    ConfigIssue(
                        doc.file,
                        "policy",
                        f"policy is already set in {policy_file}; it may appear in one "
                        "document only",
                        ConfigErrorClass.DUPLICATE_NAME,
                    )
                )
            else:
                policy, policy_file = model.policy, doc.file
        connections += [
            Located(doc.file, i, c) for i, c in enumerate(model.connections) if c is not None
        ]
        strategies += [
            Located(doc.file, i, s) for i, s in enumerate(model.strategies) if s is not None
        ]
    return policy, connections, strategies, broken


def _issue_order(issue: ConfigIssue) -> tuple[str, str, int]:
    """Per file, then per object (`connections[2]`, indices as numbers); stable within one."""
    m = re.match(r"(\w*)(?:\[(\d+)\])?", issue.path)
    assert m is not None  # the pattern matches the empty string
    return issue.file, m.group(1), int(m.group(2) or -1)


@dataclass
class _Salvaged:
    policy: Policy | None = None
    connections: list[Connection | None] = field(default_factory=list)
    strategies: list[Strategy | None] = field(default_factory=list)


def _salvage(data: Mapping[str, Any], broken: set[str]) -> _Salvaged:
    """The objects of a schema-invalid document that are valid on their own, for the
    cross-object rules (so one bad field does not hide a dangling reference elsewhere)."""
    out = _Salvaged()
    try:
        out.policy = Policy.model_validate(data["policy"]) if data.get("policy") else None
    except ValidationError:
        out.policy = None
    conns, strats = data.get("connections"), data.get("strategies")
    for raw in conns if isinstance(conns, list) else []:
        try:
            out.connections.append(Connection.model_validate(raw))
        except ValidationError:
            name = raw.get("name") if isinstance(raw, Mapping) else None
            broken.add(str(name))
            out.connections.append(None)
    for raw in strats if isinstance(strats, list) else []:
        try:
            out.strategies.append(Strategy.model_validate(raw))
        except ValidationError:
            out.strategies.append(None)
    return out


def _decrypt_all(
    docs: list[Document], *, decrypt: bool, timeout: float, env: Mapping[str, str] | None
) -> None:
    """Fill each doc's `data`: decrypted (in parallel), placeholders, or the raw mapping."""
    todo: list[Document] = []
    for doc in docs:
        if doc.issues:
            # Schema-check what we can (with placeholders) so every error shows in one run.
            doc.data = with_placeholders(doc.raw)
        elif doc.encrypted and decrypt:
            todo.append(doc)
        elif doc.encrypted:
            doc.data = with_placeholders(doc.raw)
        else:
            doc.data = dict(doc.raw)
    if not todo:
        return

    def one(doc: Document) -> None:
        try:
            recipients = sops.file_recipients(doc.raw)
            data = sops.decrypt_file(
                doc.path, timeout, env=env, recipients=recipients, content=doc.content or None
            )
        except DecryptError as exc:
            message = str(exc).removeprefix(f"{exc.file}: ")
            doc.issues.append(ConfigIssue(doc.file, "", message, exc.error_class))
            return
        except Exception as exc:
            message = f"cannot be decrypted ({type(exc).__name__})"
            doc.issues.append(ConfigIssue(doc.file, "", message, _DECRYPT_FAILED))
            return
        _register_secrets(data)
        doc.data = data

    with ThreadPoolExecutor(max_workers=min(4, len(todo))) as pool:
        list(pool.map(one, todo))


def _register_secrets(data: Mapping[str, Any]) -> None:
    conns = data.get("connections")
    if isinstance(conns, list):
        GLOBAL_REDACTOR.add(
            str(c[f])
            for c in conns
            if isinstance(c, Mapping)
            for f in SECRET_FIELDS
            if c.get(f) is not None
        )
