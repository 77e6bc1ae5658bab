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
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from backfuture_daemon.configuration import sops
from backfuture_daemon.configuration.models import (
    SECRET_FIELDS,
    ConfigDocument,
    Connection,
    DesiredState,
    IpAddress,
    Policy,
    Revision,
    Strategy,
    with_egress_ips,
)
from backfuture_daemon.configuration.rules import PLACEHOLDER, Located, check_revision
from backfuture_daemon.errors import ConfigError, ConfigIssue, DecryptError
from backfuture_daemon.redaction import GLOBAL_REDACTOR

DOCUMENT_KEYS = frozenset({"version", "policy", "connections", "strategies"})
YAML_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 5 * 1024 * 1024  # as Flux: a config document is never this large
MAX_NODES = 100_000  # values in one document after alias expansion
MAX_DEPTH = 64  # a config document nests about 5 levels
#: What sops writes for an encrypted string (sops 3.x, AES256-GCM).
ENC_VALUE = re.compile(
    r"^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:str\]$"
)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merge keys; explicit keys may override merged ones
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass
class _Doc:
    """One file as read: where it is, its raw YAML mapping, and its issues so far."""

    file: str
    path: Path
    raw: dict[str, Any]
    encrypted: bool
    issues: list[ConfigIssue] = field(default_factory=list)
    data: dict[str, Any] | None = None  # what the schema sees (decrypted or placeholders)


def _yaml_message(exc: yaml.YAMLError) -> str:
    # Never str(exc): PyYAML quotes the offending source line, which may hold a secret.
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = ": ".join(p for p in (exc.context, exc.problem) if p)
        return f"{where}{what}"
    return type(exc).__name__


def discover(path: Path) -> tuple[list[Path], bool]:
    """Candidate files and whether `path` is a directory (see the module docstring for the rule)."""
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.suffix in YAML_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
        return files, True
    return [path], False


def _git(directory: Path, *args: str, timeout: float) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            timeout=timeout,
            check=False,
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
    out = _git(directory, "rev-parse", "--verify", "-q", "HEAD", timeout=timeout)
    commit = (out or "").strip()
    if not re.fullmatch(r"[0-9a-f]{40,64}", commit):
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


def _display(base: Path, p: Path, is_dir: bool) -> str:
    return str(base / p.name) if is_dir else str(p)


def _too_big(node: Any, limit: int) -> bool:
    """True when the parsed tree has more than `limit` values (aliases expanded), stopping early:
    a "billion laughs" document must not hang the walkers and validators that follow."""
    stack, seen = [node], 0
    while stack:
        seen += 1
        if seen > limit:
            return True
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _too_deep(text: str, limit: int) -> bool:
    """Nesting depth above `limit`, found from the (non-recursive) event stream: PyYAML's composer
    recurses per level and would hit RecursionError slowly."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > limit:
                return True
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
    return False


def _parse(file: str, text: str) -> tuple[Any, list[ConfigIssue]]:
    try:
        if _too_deep(text, MAX_DEPTH):
            return None, [
                ConfigIssue(file, "", f"nested deeper than {MAX_DEPTH} levels", "yaml_invalid")
            ]
        docs = list(yaml.load_all(text, Loader=_UniqueKeyLoader))
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(file, "", f"invalid YAML: {_yaml_message(exc)}", "yaml_invalid")]
    except RecursionError:
        return None, [ConfigIssue(file, "", "invalid YAML: nested too deeply", "yaml_invalid")]
    if _too_big(docs, MAX_NODES):
        return None, [
            ConfigIssue(
                file,
                "",
                f"more than {MAX_NODES} values once YAML aliases are expanded; write it plainly",
                "yaml_invalid",
            )
        ]
    docs = [d for d in docs if d is not None]
    if len(docs) > 1:
        return None, [
            ConfigIssue(
                file,
                "",
                f"{len(docs)} YAML documents in one file; put each in its own file",
                "yaml_invalid",
            )
        ]
    return (docs[0] if docs else None), []


def _is_enc(value: Any) -> bool:
    return isinstance(value, str) and bool(ENC_VALUE.match(value))


def _secret_checks(doc: _Doc) -> None:
    """Secrets only as ENC[...] in sops files; nothing but secrets encrypted (PR-readable)."""
    conns = doc.raw.get("connections")
    if isinstance(conns, list):
        for i, c in enumerate(conns):
            if not isinstance(c, Mapping):
                continue
            label = _object_label(c, "connection")
            for f in SECRET_FIELDS:
                if f not in c or c[f] is None:
                    continue
                where = f"connections[{i}].{f}"
                if not doc.encrypted:
                    hint = (
                        "the value looks encrypted but the file has no `sops:` metadata (deleted?)"
                        if _is_enc(c[f])
                        else "a plaintext secret in a file that is not SOPS-encrypted"
                    )
                    doc.issues.append(
                        ConfigIssue(
                            doc.file,
                            where,
                            f"{hint}{label}. Secrets must be committed encrypted: `sops encrypt "
                            f"-i {doc.path.name}` with encrypted_regex '{sops.SECRET_REGEX}'; if "
                            "this secret was ever pushed, rotate the key on the exchange",
                            "plaintext_secret",
                        )
                    )
                elif not _is_enc(c[f]):
                    doc.issues.append(
                        ConfigIssue(
                            doc.file,
                            where,
                            f"not an ENC[...] value{label}: a plaintext secret was pasted into an "
                            "encrypted file. Rotate that key on the exchange, then set the new "
                            f"value with `sops edit {doc.path.name}`",
                            "plaintext_secret",
                        )
                    )
    meta = doc.raw.get("sops")
    for where in _addressed_key_sources(meta):
        doc.issues.append(
            ConfigIssue(
                doc.file,
                where,
                "a key source that names its own server address is refused: sops would send "
                "this daemon's credentials (VAULT_TOKEN, Azure token) to whatever address a "
                "commit writes there. Encrypt to age recipients (see .sops.yaml)",
                "policy_violation",
            )
        )
    if (
        isinstance(conns, list)
        and conns
        and isinstance(meta, Mapping)
        and meta.get("mac_only_encrypted") is True
    ):
        # The MAC would not cover cleartext fields: a commit could re-point these keys
        # (endpoints, exchange) at another host without being able to decrypt them.
        doc.issues.append(
            ConfigIssue(
                doc.file,
                "sops.mac_only_encrypted",
                "a file with connections must be encrypted with a MAC over every value: "
                "with mac_only_encrypted, its cleartext endpoints and exchange could be "
                "changed by anyone and the keys sent elsewhere. Remove mac_only_encrypted "
                f"from .sops.yaml and re-encrypt {doc.path.name} (sops decrypt, then "
                "sops encrypt)",
                "policy_violation",
            )
        )
    for where in _encrypted_non_secrets(doc.raw, ""):
        doc.issues.append(
            ConfigIssue(
                doc.file,
                where,
                "only api_key, api_secret and passphrase may be encrypted; other fields must stay "
                f"readable in pull requests (set encrypted_regex: '{sops.SECRET_REGEX}' in "
                ".sops.yaml and re-encrypt)",
                "schema_invalid",
            )
        )


#: sops key sources whose server address is written in the (committed) file's metadata.
_ADDRESSED_KEY_SOURCES = ("hc_vault", "azure_kv")


def _addressed_key_sources(meta: Any) -> list[str]:
    """Paths of `sops:` key sources that would make sops call a server the file chooses."""
    if not isinstance(meta, Mapping):
        return []
    found = [f"sops.{k}" for k in _ADDRESSED_KEY_SOURCES if meta.get(k)]
    groups = meta.get("key_groups")
    for i, group in enumerate(groups if isinstance(groups, list) else []):
        if isinstance(group, Mapping):
            found += [f"sops.key_groups[{i}].{k}" for k in _ADDRESSED_KEY_SOURCES if group.get(k)]
    return found


def _encrypted_non_secrets(node: Any, where: str) -> list[str]:
    out: list[str] = []
    if isinstance(node, Mapping):
        for k, v in node.items():
            if where == "" and k == "sops":
                continue
            sub = f"{where}.{k}" if where else str(k)
            if str(k) in SECRET_FIELDS and where.startswith("connections["):
                continue
            out += _encrypted_non_secrets(v, sub)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _encrypted_non_secrets(v, f"{where}[{i}]")
    elif isinstance(node, str) and node.startswith("ENC["):
        out.append(where)
    return out


def _object_label(obj: Any, kind: str) -> str:
    name = obj.get("name") if isinstance(obj, Mapping) else None
    return f' ({kind} "{name}")' if isinstance(name, str) and name else ""


def _with_placeholders(raw: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in raw.items() if k != "sops"}
    conns = data.get("connections")
    if isinstance(conns, list):
        data["connections"] = [
            {k: (PLACEHOLDER if k in SECRET_FIELDS and v is not None else v) for k, v in c.items()}
            if isinstance(c, Mapping)
            else c
            for c in conns
        ]
    return data


# --- pydantic errors -> `connections[0].api_key: message (connection "X")` -----------------------

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LIST_KINDS = {"connections": "connection", "strategies": "strategy"}


def _loc_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _FIELD.match(part):
            out += f".{part}" if out else part
        # else: a pydantic union/validator tag such as "lax-or-strict[...]": not a user path
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class a location points into (for "did you mean" on unknown fields)."""
    model: type[BaseModel] | None = ConfigDocument
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _model_in(info.annotation)
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _friendly(err: Mapping[str, Any]) -> str:
    typ, msg, loc = err["type"], str(err["msg"]), tuple(err["loc"])
    if typ == "missing" and loc == ("version",):
        return "missing `version: 1` (every config document starts with it)"
    if loc == ("version",) and typ == "literal_error":
        return "unsupported version; this daemon reads `version: 1`"
    if typ in ("ip_v4_address", "ip_v6_address"):
        return "not a valid IPv4 or IPv6 address"
    if typ == "extra_forbidden":
        name = str(loc[-1])
        model = _model_at(loc[:-1])
        if model is not None:
            fields = list(model.model_fields)
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            return f"unknown field; {hint}allowed: {', '.join(fields)}"
        return "unknown field"
    if typ == "string_pattern_mismatch" and loc and loc[-1] == "name":
        return (
            "names are 2-64 characters: letters, digits, spaces and . _ - / ( ), starting with a "
            "letter or digit"
        )
    if typ == "missing":
        return "required field is missing"
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def schema_issues(file: str, raw: Mapping[str, Any], exc: ValidationError) -> list[ConfigIssue]:
    """One issue per field (union alternatives merged); never echoes input values."""
    merged: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(err["loc"])
        path = _loc_path(loc)
        label = ""
        if len(loc) >= 2 and loc[0] in _LIST_KINDS and isinstance(loc[1], int):
            items = raw.get(str(loc[0]))
            if isinstance(items, list) and loc[1] < len(items):
                label = _object_label(items[loc[1]], _LIST_KINDS[str(loc[0])])
        message = GLOBAL_REDACTOR(_friendly(err)) + label
        bucket = merged.setdefault(path, [])
        if message not in bucket:
            bucket.append(message)
    return [ConfigIssue(file, p, "; ".join(ms), "schema_invalid") for p, ms in merged.items()]


# --- the revision ---------------------------------------------------------------------------------


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
    """
    if not path.exists():
        raise ConfigError([ConfigIssue(str(path), "", "does not exist", "file_unreadable")])
    files, is_dir = discover(path)
    issues: list[ConfigIssue] = []
    digest = hashlib.sha256()
    docs: list[_Doc] = []
    skipped: list[str] = []
    for p in files:
        file = _display(path, p, is_dir)
        try:
            size = p.stat().st_size
            if size > MAX_FILE_BYTES:
                issues.append(
                    ConfigIssue(file, "", f"{size} bytes: larger than 5 MiB", "file_unreadable")
                )
                continue
            content = p.read_bytes()
        except OSError as exc:
            issues.append(ConfigIssue(file, "", f"cannot read: {exc.strerror}", "file_unreadable"))
            continue
        digest.update(p.name.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            issues.append(ConfigIssue(file, "", "not UTF-8 text", "yaml_invalid"))
            continue
        raw, parse_issues = _parse(file, text)
        issues += parse_issues
        if parse_issues:
            continue
        if raw is None or (is_dir and isinstance(raw, Mapping) and not DOCUMENT_KEYS & set(raw)):
            if is_dir:
                skipped.append(file)
                continue
            raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            issues.append(
                ConfigIssue(
                    file,
                    "",
                    "a config document must be a YAML mapping (version: 1, ...)",
                    "yaml_invalid",
                )
            )
            continue
        doc = _Doc(file, p, raw, encrypted="sops" in raw)
        _secret_checks(doc)
        docs.append(doc)

    _decrypt_all(docs, decrypt=decrypt, timeout=sops_timeout, env=env)

    policy: Policy | None = None
    policy_file = ""
    connections: list[Located[Connection]] = []
    strategies: list[Located[Strategy]] = []
    broken: set[str] = set()  # names of connections that failed their schema
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
        if model.policy is not None:
            if policy is not None:
                issues.append(
                    ConfigIssue(
                        doc.file,
                        "policy",
                        f"policy is already set in {policy_file}; it may appear in one "
                        "document only",
                        "duplicate_name",
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

    # A file that did not even parse may define any connection: do not guess at references.
    unreadable = any(i.error_class in ("yaml_invalid", "file_unreadable") for i in issues)
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
    specs = [f":(glob)*{suffix}" for suffix in YAML_SUFFIXES] if is_dir else [path.name]
    commit, dirty = git_commit(path if is_dir else path.parent, specs)
    revision = Revision(digest=digest.hexdigest(), commit=commit, dirty=dirty)
    sources = {
        f"connections/{c.item.name}": f"{c.file}: connections[{c.index}]" for c in connections
    }
    sources |= {f"strategies/{s.item.name}": f"{s.file}: strategies[{s.index}]" for s in strategies}
    state = DesiredState(
        revision=revision,
        policy=policy,
        connections=tuple(c.item for c in connections),
        strategies=tuple(s.item for s in strategies),
        sources=sources,
        skipped=tuple(skipped),
    )
    if decrypt:
        GLOBAL_REDACTOR.add(state.secret_values())
    return state


def _issue_order(issue: ConfigIssue) -> tuple[str, str, int]:
    """Per file, then per object (`connections[2]`, indices as numbers); stable within one."""
    m = re.match(r"(\w*)(?:\[(\d+)\])?", issue.path)
    assert m is not None  # the pattern matches the empty string
    return issue.file, m.group(1), int(m.group(2) or -1)


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


@dataclass
class _Salvaged:
    policy: Policy | None = None
    connections: list[Connection | None] = field(default_factory=list)
    strategies: list[Strategy | None] = field(default_factory=list)


def _decrypt_all(
    docs: list[_Doc], *, decrypt: bool, timeout: float, env: Mapping[str, str] | None
) -> None:
    """Fill each doc's `data`: decrypted (in parallel), placeholders, or the raw mapping."""
    todo: list[_Doc] = []
    for doc in docs:
        if doc.issues:
            # Schema-check what we can (with placeholders) so every error shows in one run.
            doc.data = _with_placeholders(doc.raw)
        elif doc.encrypted and decrypt:
            todo.append(doc)
        elif doc.encrypted:
            doc.data = _with_placeholders(doc.raw)
        else:
            doc.data = dict(doc.raw)
    if not todo:
        return

    def one(doc: _Doc) -> None:
        try:
            data = sops.decrypt_file(doc.path, timeout, env=env)
        except DecryptError as exc:
            message = str(exc).removeprefix(f"{exc.file}: ")
            doc.issues.append(ConfigIssue(doc.file, "", message, exc.error_class))
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
