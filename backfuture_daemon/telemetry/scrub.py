"""The last line of defence before text leaves the process (logs, /status, metric labels).

`scrub_text` removes registered secrets (GLOBAL_REDACTOR) and long opaque tokens that look like
keys or signatures, but keeps git object ids and content digests (40/64 lowercase hex) and file
paths so that revisions and "file: field: message" errors stay readable. Called by
telemetry/logging.py and telemetry/status.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from backfuture_daemon.redaction import GLOBAL_REDACTOR

_LONG_TOKEN = re.compile(r"\b[A-Za-z0-9+/=_\-]{32,}\b")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
REDACTED = "<redacted>"


def _looks_like_path(token: str) -> bool:
    # File paths name the file at fault and must stay; base64 secrets almost always carry + or =.
    parts = token.split("/")
    return (
        len(parts) > 1 and "+" not in token and "=" not in token and all(len(p) < 32 for p in parts)
    )


def _keep_object_ids(match: re.Match[str]) -> str:
    token = match.group(0)
    if _OBJECT_ID.fullmatch(token) or _looks_like_path(token):
        return token
    return REDACTED


def scrub_text(text: str) -> str:
    """Registered secrets and key-like tokens out; revisions and digests stay."""
    return _LONG_TOKEN.sub(_keep_object_ids, GLOBAL_REDACTOR(text))


def redact_tree(value: object) -> object:
    """Registered secrets out of every string (keys too) of a JSON-like tree."""
    # Keys and enum values repeat thousands of times in a big /status: redact each text once.
    cache: dict[str, str] = {}

    def text(s: str) -> str:
        out = cache.get(s)
        if out is None:
            out = cache[s] = GLOBAL_REDACTOR(s)
        return out

    def walk(v: object) -> object:
        if isinstance(v, str):
            return text(v)
        if isinstance(v, Mapping):
            return {text(str(k)): walk(x) for k, x in v.items()}
        if isinstance(v, Sequence) and not isinstance(v, bytes | bytearray):
            return [walk(x) for x in v]
        return v

    return walk(value)
