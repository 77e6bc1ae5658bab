"""Read the files of one revision and parse each into a raw YAML mapping, within fixed limits.

Called by configuration/loading.py (phase 1 of a load). Which files count is the rule in
loading.py's docstring; every problem becomes a `ConfigIssue` (never an exception), and no
message quotes a line of the file (it may hold a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backfuture_daemon.configuration.revision import MAX_FILE_BYTES, RevisionDigest, discover
from backfuture_daemon.errors import ConfigErrorClass, ConfigIssue

DOCUMENT_KEYS = frozenset({"version", "policy", "connections", "strategies"})
MAX_NODES = 100_000  # values in one document after alias expansion
MAX_DEPTH = 64  # a config document nests about 5 levels

_YAML = ConfigErrorClass.YAML_INVALID
_UNREADABLE = ConfigErrorClass.FILE_UNREADABLE


@dataclass
class Document:
    """One file as read: where it is, its raw YAML mapping, and its issues so far."""

    file: str  # as shown in messages
    path: Path
    raw: dict[str, Any]
    encrypted: bool
    issues: list[ConfigIssue] = field(default_factory=list)
    data: dict[str, Any] | None = None  # what the schema sees (decrypted or placeholders)


@dataclass
class ReadResult:
    """Every document of a revision, the issues found reading them, and the revision digest."""

    documents: list[Document]
    issues: list[ConfigIssue]
    skipped: list[str]
    digest: str
    is_dir: bool


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


def _yaml_message(exc: yaml.YAMLError) -> str:
    # Never str(exc): PyYAML quotes the offending source line, which may hold a secret.
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = ": ".join(p for p in (exc.context, exc.problem) if p)
        return f"{where}{what}"
    return type(exc).__name__


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


def parse(file: str, text: str) -> tuple[Any, list[ConfigIssue]]:
    """The one YAML document in `text` (None when empty), or the issues that prevent it."""
    try:
        if _too_deep(text, MAX_DEPTH):
            return None, [ConfigIssue(file, "", f"nested deeper than {MAX_DEPTH} levels", _YAML)]
        docs = list(yaml.load_all(text, Loader=_UniqueKeyLoader))
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(file, "", f"invalid YAML: {_yaml_message(exc)}", _YAML)]
    except RecursionError:
        return None, [ConfigIssue(file, "", "invalid YAML: nested too deeply", _YAML)]
    if _too_big(docs, MAX_NODES):
        return None, [
            ConfigIssue(
                file,
                "",
                f"more than {MAX_NODES} values once YAML aliases are expanded; write it plainly",
                _YAML,
            )
        ]
    docs = [d for d in docs if d is not None]
    if len(docs) > 1:
        return None, [
            ConfigIssue(
                file, "", f"{len(docs)} YAML documents in one file; put each in its own file", _YAML
            )
        ]
    return (docs[0] if docs else None), []


def _display(base: Path, p: Path, is_dir: bool) -> str:
    return str(base / p.name) if is_dir else str(p)


def read_documents(path: Path) -> ReadResult:
    """Read and parse every file of the revision at `path` (which must exist)."""
    files, is_dir = discover(path)
    issues: list[ConfigIssue] = []
    digest = RevisionDigest()
    docs: list[Document] = []
    skipped: list[str] = []
    for p in files:
        file = _display(path, p, is_dir)
        try:
            size = p.stat().st_size
            if size > MAX_FILE_BYTES:
                issues.append(
                    ConfigIssue(file, "", f"{size} bytes: larger than 5 MiB", _UNREADABLE)
                )
                continue
            content = p.read_bytes()
        except OSError as exc:
            issues.append(ConfigIssue(file, "", f"cannot read: {exc.strerror}", _UNREADABLE))
            continue
        digest.add(p.name if is_dir else p.resolve().name, content)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            issues.append(ConfigIssue(file, "", "not UTF-8 text", _YAML))
            continue
        raw, parse_issues = parse(file, text)
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
                    file, "", "a config document must be a YAML mapping (version: 1, ...)", _YAML
                )
            )
            continue
        docs.append(Document(file, p, raw, encrypted="sops" in raw))
    return ReadResult(docs, issues, skipped, digest.hexdigest(), is_dir)


def object_label(obj: Any, kind: str) -> str:
    """` (connection "NAME")` for messages, when the object has a string name."""
    name = obj.get("name") if isinstance(obj, Mapping) else None
    return f' ({kind} "{name}")' if isinstance(name, str) and name else ""
