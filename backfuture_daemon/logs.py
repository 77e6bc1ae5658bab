"""Process logging: one line per event, text or JSON lines, secrets redacted on every handler.

`backfuture run` (and any command that logs) calls `configure_logging(fmt, level)` once at start;
code everywhere logs events with `log_event(logger, level, message, connection=..., ...)` so the
fields (connection, strategy, revision, error_class) are structured in JSON and `key=value` in text.
The `RedactionFilter` scrubs messages, fields, exception text and tracebacks before any output.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import IO, Any, Literal

from backfuture_daemon.redaction import scrub_text

#: The attribute of a LogRecord that carries `log_event` fields.
FIELDS_ATTR = "backfuture_fields"
#: Well-known fields, printed first and in this order.
EVENT_FIELDS: tuple[str, ...] = (
    "connection",
    "strategy",
    "revision",
    "error_class",
    "reconcile_id",
)
_REDACTED_MARK = "_backfuture_redacted"
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName", FIELDS_ATTR, _REDACTED_MARK}
)
_CORE_KEYS = frozenset({"ts", "level", "logger", "msg", "exc_info", "stack_info"})
_TRACEBACK_FORMATTER = logging.Formatter()


def _scrub_value(value: object) -> object:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return scrub_text(str(value))


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """Event fields of a record: `log_event` fields plus any `extra=` attributes, ordered."""
    found: dict[str, object] = {}
    fields = getattr(record, FIELDS_ATTR, None)
    if isinstance(fields, Mapping):
        found.update({str(k): v for k, v in fields.items()})
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in found:
            found[key] = value
    ordered = {k: found[k] for k in EVENT_FIELDS if k in found}
    ordered.update({k: found[k] for k in sorted(found) if k not in ordered})
    return {k: v for k, v in ordered.items() if v is not None}


class RedactionFilter(logging.Filter):
    """Rewrites a record in place so that no registered secret or key-like token survives.

    Installed on every handler (not on loggers: a logger's filters do not see records propagated
    from child loggers). Idempotent per record, so several handlers may share the work.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _REDACTED_MARK, False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the event
            message = f"{record.msg!s} {record.args!r}"
        record.msg = scrub_text(message)
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
            # Formatters print exc_text; dropping exc_info stops any handler from re-rendering
            # the raw exception (whose message may hold a secret).
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, Mapping):
            setattr(record, FIELDS_ATTR, {str(k): _scrub_value(v) for k, v in fields.items()})
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                setattr(record, key, _scrub_value(value))
        setattr(record, _REDACTED_MARK, True)
        return True


def _timestamp(created: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        + f".{int(created % 1 * 1000):03d}Z"
    )


def _text_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """`2026-11-25T08:30:00.123Z INFO backfuture.reconciler message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            _timestamp(record.created),
            record.levelname,
            record.name,
            record.getMessage(),
        ]
        parts += [f"{k}={_text_value(v)}" for k, v in record_fields(record).items()]
        line = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the event fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            doc[f"field_{key}" if key in _CORE_KEYS else key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc_info"] = record.exc_text
        if record.stack_info:
            doc["stack_info"] = record.stack_info
        return json.dumps(doc, ensure_ascii=False, default=str)


_OUR_HANDLER = "_backfuture_handler"


def install_redaction(handler: logging.Handler) -> None:
    """Put the redaction filter on `handler` (once)."""
    if not any(isinstance(f, RedactionFilter) for f in handler.filters):
        handler.addFilter(RedactionFilter())


def _all_handlers() -> list[logging.Handler]:
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    return handlers


def configure_logging(
    fmt: Literal["text", "json"] | str = "text",
    level: str | int = "INFO",
    *,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Log to `stream` (stderr by default, so a command's stdout stays machine-readable) in
    `fmt` at `level`; put the redaction filter on this and every other existing handler.
    Calling it again replaces the handler it installed before. Returns the new handler."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OUR_HANDLER, False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _OUR_HANDLER, True)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for h in _all_handlers():
        install_redaction(h)
    return handler


def log_event(logger: logging.Logger, level: int | str, message: str, /, **fields: object) -> None:
    """Log one event line; `fields` (connection, strategy, revision, error_class, ...) are
    structured. None-valued fields are left out."""
    lvl = level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]
    if not logger.isEnabledFor(lvl):
        return
    logger.log(lvl, message, extra={FIELDS_ATTR: fields}, stacklevel=2)
