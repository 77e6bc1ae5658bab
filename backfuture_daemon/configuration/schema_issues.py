"""Pydantic validation errors -> `connections[0].api_key: message (connection "X")` issues.

Called by configuration/loading.py when a document fails its schema. One issue per field (union
alternatives merged), "did you mean" for unknown fields, and never an echo of the input value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from backfuture_daemon.configuration.documents import object_label
from backfuture_daemon.configuration.models import ConfigDocument
from backfuture_daemon.errors import ConfigErrorClass, ConfigIssue
from backfuture_daemon.redaction import GLOBAL_REDACTOR

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
    if typ == "string_pattern_mismatch" and loc and loc[-1] in ("name", "connection"):
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
                label = object_label(items[loc[1]], _LIST_KINDS[str(loc[0])])
        message = GLOBAL_REDACTOR(_friendly(err)) + label
        bucket = merged.setdefault(path, [])
        if message not in bucket:
            bucket.append(message)
    return [
        ConfigIssue(file, p, "; ".join(ms), ConfigErrorClass.SCHEMA_INVALID)
        for p, ms in merged.items()
    ]
