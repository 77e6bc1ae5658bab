"""A seeded mutation corpus of config revisions, and a runner that loads each one in-process.

Used by tests/integration/test_revision_fuzz.py (in the suite) and benchmarks/revision_fuzz.py
(prints the outcome table). Each case is a copy of a real sops-encrypted repository with one
mutation: type swaps, YAML tags, anchors/aliases, deep nesting, huge scalars, encodings, special
files, raw byte damage. Mutations that carry a value carry a per-case canary, which no outcome may
repeat (secret fields, tags, aliases and typed scalars: never names, which are public).
"""

from __future__ import annotations

import os
import random
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.errors import ConfigError
from tests.helpers.configrepo import CANARIES, sops_env, valid_documents, write_config_repo

#: Fields whose value a message may not echo (they are not names, pairs or URLs).
_OPAQUE_FIELDS = (
    "api_key",
    "api_secret",
    "passphrase",
    "exchange",
    "markets",
    "margin_limit",
    "mode",
    "risk_level",
    "leverage",
    "suspend",
    "egress_ips",
    "version",
    "take_profit_pct",
)
_TAGS = ("!!int", "!!bool", "!!float", "!!set", "!!binary", "!!timestamp", "!!null", "!!omap")
_TAGS += ("!!str", "!!map", "!!seq", "!!python/object:os.system", "!!pairs", "!<tag:x>")


@dataclass
class Base:
    """The unmutated repository: file name -> text, plus what decrypts it."""

    texts: dict[str, str]
    key_file: Path
    home: Path


@dataclass
class Outcome:
    kind: str
    result: str  # "accepted" or the sorted error classes joined by ","
    seconds: float
    crash: str | None = None
    canary_hit: bool = False


@dataclass
class Table:
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        rejected: Counter[str] = Counter()
        for o in self.outcomes:
            if o.result not in ("accepted", "crash"):
                for c in o.result.split(","):
                    rejected[c] += 1
        slowest = max(self.outcomes, key=lambda o: o.seconds)
        return {
            "cases": len(self.outcomes),
            "accepted": sum(o.result == "accepted" for o in self.outcomes),
            "rejected": sum(o.result not in ("accepted", "crash") for o in self.outcomes),
            "rejected_by_class": dict(sorted(rejected.items())),
            "kinds": dict(sorted(Counter(o.kind for o in self.outcomes).items())),
            "crashes": [o for o in self.outcomes if o.crash],
            "canary_hits": [o for o in self.outcomes if o.canary_hit],
            "slowest": (slowest.kind, round(slowest.seconds, 3)),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def make_base(root: Path) -> Base:
    key, _ = write_config_repo(root / "base", valid_documents())
    texts = {p.name: p.read_text() for p in sorted((root / "base").iterdir())}
    return Base(texts, key, root)


# --- mutations: each takes (rng, data or text, canary) -------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "sops":
                out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _swap_value(rng: random.Random, canary: str, opaque: bool) -> Any:
    choices: list[Any] = [0, -1, 1.5, 1e308, True, False, None, [], {}, "", " ", "x" * 300]
    choices += [[1, [2, [3]]], {"a": {"b": 1}}, "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==]"]
    choices += ["\u202e\u0000é", 10**30, "2024-01-01", "1e999", "NaN"]
    if opaque:
        choices += [canary, [canary], {"k": canary}]
    return rng.choice(choices)


def mutate_structure(rng: random.Random, text: str, canary: str) -> str:
    data = yaml.safe_load(text)
    paths = _paths(data)
    path = rng.choice(paths)
    op = rng.randrange(5)
    if op == 0:  # type swap
        opaque = str(path[-1]) in _OPAQUE_FIELDS
        _set(data, path, _swap_value(rng, canary, opaque))
    elif op == 1 and len(path) > 0:  # delete
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        del parent[path[-1]]
    elif op == 2:  # unknown field
        target: Any = data
        for part in path[:-1]:
            target = target[part]
        if isinstance(target, dict):
            target[rng.choice(["api_kye", "margin", "extra", "suspended", "Name"])] = 1
    elif op == 3:  # duplicate a list item (duplicate names, duplicate keys)
        for key in ("connections", "strategies"):
            if isinstance(data.get(key), list) and data[key]:
                data[key].append(data[key][0])
    else:  # a pasted plaintext secret
        conns = data.get("connections")
        if isinstance(conns, list) and conns:
            conns[0][rng.choice(["api_key", "api_secret", "passphrase"])] = canary
        else:
            data["policy"] = {"egress_ips": [canary]}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _value_spans(text: str) -> list[tuple[int, int]]:
    """Spans of `key: value` values on the lines of a block-style YAML text."""
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        if ": " in line and not line.lstrip().startswith("#"):
            start = pos + line.index(": ") + 2
            spans.append((start, pos + len(line.rstrip("\n"))))
        pos += len(line)
    return spans


def mutate_text(rng: random.Random, text: str, canary: str) -> str:
    spans = _value_spans(text) or [(len(text), len(text))]
    start, end = rng.choice(spans)
    value = text[start:end]
    op = rng.randrange(9)
    if op == 0:  # a YAML tag before a value (typed scalars that fail to construct)
        new = f"{rng.choice(_TAGS)} {rng.choice([value, canary])}"
    elif op == 1:  # an unknown local tag named like a secret
        new = f"!{canary} {value}"
    elif op == 2:  # an undefined alias
        new = f"*{canary}"
    elif op == 3:  # deep nesting (flow)
        depth = rng.choice([10, 63, 65, 200, 3000])
        new = "[" * depth + "]" * depth
    elif op == 4:  # an alias bomb / chain appended
        chain = rng.choice([True, False])
        lines = ["z0: &z0 [x, x, x, x, x, x, x, x, x, x]"]
        if chain:
            lines += [f"z{i}: &z{i} [*z{i - 1}]" for i in range(1, rng.choice([30, 70, 300]))]
        else:
            lines += [f"z{i}: &z{i} [{', '.join([f'*z{i - 1}'] * 10)}]" for i in range(1, 7)]
        return text + "\n".join(lines) + "\n"
    elif op == 5:  # huge scalars
        new = rng.choice(["9" * 5000, "7" * 4000, "a" * 200_000, f"'{canary}{'x' * 1_000_000}'"])
    elif op == 6:  # a typed scalar that will not construct
        new = rng.choice(["2024-13-45", "2024-02-30 25:61:00", f"!!int {canary}", "!!bool maybe"])
    elif op == 7:  # anchors reused as keys, lists as keys, merges of scalars
        new = rng.choice(["{? [a]: 1}", "{<<: 1}", f"{{<<: *{canary}}}", "!!set {a, b}", "&a"])
    else:  # multi-document, duplicate keys
        return text + rng.choice(["---\nversion: 1\n", "version: 1\n", "sops: 1\n", "...\n"])
    return text[:start] + new + text[end:]


def mutate_bytes(rng: random.Random, data: bytes, canary: str) -> bytes:
    op = rng.randrange(6)
    if op == 0:
        return data.decode().encode(rng.choice(["utf-16", "utf-32", "latin-1"]), "replace")
    if op == 1:
        return b"\xef\xbb\xbf" + data  # a BOM
    if op == 2:
        i = rng.randrange(len(data))
        return data[:i] + rng.choice([b"\x00", b"\x01", b"\xff\xfe", b"\x1b[31m", b"\t"]) + data[i:]
    if op == 3:
        return data[: rng.randrange(len(data))]  # truncated
    if op == 4:
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    return (
        data.replace(b"mac_only", b"mac_only")
        + (
            f"  mac_only_encrypted: {rng.choice(['y', 'yes', 'on', 'true', 'no', canary])}\n"
        ).encode()
    )


def _special(rng: random.Random, path: Path, outside: Path) -> str:
    path.unlink()
    kind = rng.choice(["fifo", "dir", "dangling", "loop", "outside", "empty", "huge"])
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "dangling":
        path.symlink_to(path.parent / "missing.yaml")
    elif kind == "loop":
        path.symlink_to(path)
    elif kind == "outside":
        path.symlink_to(outside)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"version: 1\n" + b"#" * (5 * 1024 * 1024))
    return kind


def write_case(rng: random.Random, i: int, base: Base, root: Path) -> tuple[Path, str, str]:
    """Write case `i` under `root`; returns (its directory, its kind, its canary)."""
    canary = f"CANARYfz{i:05d}q7"
    d = root / f"case{i:05d}"
    d.mkdir(parents=True)
    for name, text in base.texts.items():
        (d / name).write_text(text)
    name = rng.choice(["connections.yaml", "strategies.yaml"])
    target = d / name
    text = base.texts[name]
    family = rng.choices(["structure", "text", "bytes", "special"], weights=[4, 5, 2, 1])[0]
    if family == "structure":
        target.write_text(mutate_structure(rng, text, canary))
        kind = "structure"
    elif family == "text":
        target.write_text(mutate_text(rng, text, canary))
        kind = "text"
    elif family == "bytes":
        target.write_bytes(mutate_bytes(rng, text.encode(), canary))
        kind = "bytes"
    else:
        outside = root / "outside.yaml"
        if not outside.exists():
            outside.write_text("version: 1\n")
        kind = f"special-{_special(rng, target, outside)}"
    return d, kind, canary


def run_case(
    path: Path, kind: str, canary: str, base: Base, *, decrypt: bool
) -> tuple[Outcome, str]:
    """Load one case in-process; (its outcome, every text it produced)."""
    env = sops_env(base.key_file, base.home) if decrypt else None
    started = time.perf_counter()
    text = ""
    try:
        load_revision(path, decrypt=decrypt, env=env, sops_timeout=30.0)
        result, crash = "accepted", None
    except ConfigError as exc:
        text = str(exc) + repr(exc.issues)
        result, crash = ",".join(exc.error_classes), None
    except Exception as exc:
        text = repr(exc)
        result, crash = "crash", type(exc).__name__
    seconds = time.perf_counter() - started
    hit = any(c in text for c in (canary, *CANARIES))
    return Outcome(kind, result, seconds, crash, hit), text


def run_corpus(
    root: Path,
    *,
    cases: int,
    decrypt_every: int = 20,
    seed: int = 8,
    on_case: Callable[[int, Path, str, str], None] | None = None,
) -> Table:
    """Generate and load `cases` mutated revisions; every `decrypt_every`-th through real sops."""
    rng = random.Random(seed)
    base = make_base(root)
    table = Table()
    for i in range(cases):
        path, kind, canary = write_case(rng, i, base, root / "cases")
        decrypt = decrypt_every > 0 and i % decrypt_every == 0
        outcome, _ = run_case(
            path, kind + ("+decrypt" if decrypt else ""), canary, base, decrypt=decrypt
        )
        table.outcomes.append(outcome)
        if on_case is not None:
            on_case(i, path, kind, canary)
    return table
