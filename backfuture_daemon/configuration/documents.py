"""Read the files of one revision and parse each into a raw YAML mapping, within fixed limits.

Called by configuration/loading.py (phase 1 of a load). Which files count is the rule in
loading.py's docstring; every problem becomes a `ConfigIssue` (never an exception), and no
message quotes a line of the file (it may hold a secret).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backfuture_daemon.configuration.models import (
    NAME_PATTERN,
    Adding,
    ConfigDocument,
    Connection,
    Endpoints,
    Policy,
    RecoveryMode,
    Strategy,
)
from backfuture_daemon.configuration.revision import (
    RevisionDigest,
    discover,
    read_regular_file,
)
from backfuture_daemon.errors import ConfigErrorClass, ConfigIssue

DOCUMENT_KEYS = frozenset({"version", "policy", "connections", "strategies"})
MAX_NODES = 100_000  # values in one file after alias expansion (a config has a few hundred)
MAX_DEPTH = 64  # nesting levels after alias expansion (a config document nests about 5)
MAX_DOCUMENTS = 16  # `---` separated documents scanned before giving up (one is allowed)

_YAML = ConfigErrorClass.YAML_INVALID
_UNREADABLE = ConfigErrorClass.FILE_UNREADABLE
#: libyaml when built in (about 20x faster than the pure-Python parser on a hostile 5 MiB file).
_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Field names of the config models and sops metadata: the only keys a message may quote.
_KNOWN_KEYS = frozenset(
    name
    for model in (ConfigDocument, Policy, Connection, Endpoints, Strategy, Adding, RecoveryMode)
    for name in model.model_fields
) | {"sops", "mac_only_encrypted", "age", "recipient", "enc", "lastmodified", "mac", "version"}


_NAME = re.compile(NAME_PATTERN)


class LimitExceeded(Exception):
    """The event scan refused a file; the message names the limit hit (or the dangling alias)."""


@dataclass
class Document:
    """One file as read: where it is, its raw YAML mapping, and its issues so far."""

    file: str  # as shown in messages
    path: Path
    raw: dict[str, Any]
    encrypted: bool
    issues: list[ConfigIssue] = field(default_factory=list)
    data: dict[str, Any] | None = None  # what the schema sees (decrypted or placeholders)
    #: The bytes that passed the limits: sops decrypts exactly these, never the path again (a
    #: commit landing meanwhile could hand sops content no limit has seen).
    content: bytes = b""


@dataclass
class ReadResult:
    """Every document of a revision, the issues found reading them, and the revision digest."""

    documents: list[Document]
    issues: list[ConfigIssue]
    skipped: list[str]
    digest: str
    is_dir: bool


class _Loader(_BASE_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader, with duplicate keys refused and every constructor failure (PyYAML raises
    ValueError, KeyError, TypeError... for `!!int abc`, `!!bool maybe`, `2024-13-45`) turned into
    a ConstructorError at the node's position that never quotes the value."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception:
            raise yaml.constructor.ConstructorError(
                None, None, f"a {_tag_name(node.tag)} that YAML cannot read", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found a {node.id}", node.start_mark
            )
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merge keys; explicit keys may override merged ones
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool | None):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
            if key in seen:
                named = f": {key}" if isinstance(key, str) and key in _KNOWN_KEYS else ""
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key{named}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _tag_name(tag: str | None) -> str:
    short = (tag or "").removeprefix("tag:yaml.org,2002:")
    known = ("int", "float", "bool", "null", "str", "timestamp", "binary", "set", "omap", "pairs")
    return f"!!{short} value" if short in known else "value"


_QUOTED = re.compile(r"""'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?""")
_TOKEN = re.compile(r"""^['"]<[a-z ]+>['"]$""")


def _safe_text(text: str | None) -> str:
    """PyYAML's problem text with every quoted part (a tag, an alias, a character, a value)
    hidden; token names such as '<block end>' kept."""
    if not text:
        return ""
    return _QUOTED.sub(lambda m: m.group() if _TOKEN.match(m.group()) else "(hidden)", text)


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _yaml_message(exc: yaml.YAMLError) -> str:
    # Never str(exc): PyYAML quotes the offending source line, which may hold a secret.
    if isinstance(exc, yaml.MarkedYAMLError):
        where = _where(exc.problem_mark or exc.context_mark)
        what = ": ".join(_safe_text(p) for p in (exc.context, exc.problem) if p)
        return f"{where}{what}"
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character {exc.position + 1}: a control character YAML does not allow"
    return type(exc).__name__


def _scan(text: str) -> None:
    """Check the limits on the event stream, BEFORE any tree is built: nodes and depth counted
    with every alias expanded (a "billion laughs" or an alias chain is stopped after at most
    MAX_NODES events). Raises LimitExceeded, or yaml.YAMLError for broken YAML."""
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, expanded depth)
    stack: list[tuple[str | None, int, list[int]]] = []  # open collections: anchor, start, depth
    total = documents = 0

    def done(anchor: str | None, size: int, depth: int) -> None:
        if len(stack) + depth > MAX_DEPTH:
            raise LimitExceeded(f"nested deeper than {MAX_DEPTH} levels (aliases expanded)")
        if stack:
            stack[-1][2][0] = max(stack[-1][2][0], depth)
        if anchor is not None:
            anchors[anchor] = (size, depth)

    for event in yaml.parse(text, Loader=_BASE_LOADER):
        if isinstance(event, yaml.AliasEvent):
            found = anchors.get(event.anchor or "")
            if found is None:
                raise LimitExceeded(
                    f"invalid YAML: {_where(event.start_mark)}an alias (*name) refers to no "
                    "anchor defined before it"
                )
            total += found[0]
            if total > MAX_NODES:
                raise LimitExceeded(
                    f"more than {MAX_NODES} values once YAML aliases are expanded "
                    f"(limit {MAX_NODES}); write it plainly"
                )
            done(None, found[0], found[1])
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            done(event.anchor, 1, 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            total += 1
            stack.append((event.anchor, total, [0]))
            if len(stack) > MAX_DEPTH:
                raise LimitExceeded(f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start, child_depth = stack.pop()
            done(anchor, total - start + 1, child_depth[0] + 1)
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            anchors.clear()  # anchors never cross documents
            if documents > MAX_DOCUMENTS:
                raise LimitExceeded(f"more than {MAX_DOCUMENTS} YAML documents in one file")
        if total > MAX_NODES:
            raise LimitExceeded(
                f"more than {MAX_NODES} values (limit {MAX_NODES}, aliases expanded)"
            )


def parse(file: str, text: str) -> tuple[Any, list[ConfigIssue]]:
    """The one YAML document in `text` (None when empty), or the issues that prevent it.

    Never raises: whatever the text, the answer is a value or issues, and no issue quotes it.
    """
    try:
        _scan(text)
        docs = list(yaml.load_all(text, Loader=_Loader))
    except LimitExceeded as exc:
        return None, [ConfigIssue(file, "", str(exc), _YAML)]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(file, "", f"invalid YAML: {_yaml_message(exc)}", _YAML)]
    except RecursionError:
        return None, [ConfigIssue(file, "", "invalid YAML: nested too deeply", _YAML)]
    except Exception as exc:
        message = f"invalid YAML: cannot be read ({type(exc).__name__})"
        return None, [ConfigIssue(file, "", message, _YAML)]
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
    """Read and parse every file of the revision at `path` (which must exist). Never raises."""
    try:
        found = discover(path)
    except OSError as exc:
        issue = ConfigIssue(str(path), "", f"cannot list: {exc.strerror}", _UNREADABLE)
        return ReadResult([], [issue], [], RevisionDigest().hexdigest(), True)
    is_dir = found.is_dir
    issues = [
        ConfigIssue(_display(path, p, is_dir), "", f"refused: {problem}", _refusal_class(problem))
        for p, problem in found.refused
    ]
    digest = RevisionDigest()
    docs: list[Document] = []
    skipped: list[str] = []
    for p in found.files:
        file = _display(path, p, is_dir)
        try:
            content = read_regular_file(p)
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
        docs.append(Document(file, p, raw, encrypted="sops" in raw, content=content))
    for p, problem in found.refused:
        digest.add(p.name, f"refused: {problem}".encode())
    return ReadResult(docs, issues, skipped, digest.hexdigest(), is_dir)


def _refusal_class(problem: str) -> ConfigErrorClass:
    if "outside the config directory" in problem:
        return ConfigErrorClass.POLICY_VIOLATION
    return _UNREADABLE


def object_label(obj: Any, kind: str) -> str:
    """` (connection "NAME")` for messages, when the object has a string name."""
    name = obj.get("name") if isinstance(obj, Mapping) else None
    # Only a valid name is public: anything else may be a pasted value of any length.
    return f' ({kind} "{name}")' if isinstance(name, str) and _NAME.match(name) else ""
