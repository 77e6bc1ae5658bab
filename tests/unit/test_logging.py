"""configure_logging / log_event: one line per event, text or JSON, secrets redacted everywhere."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from backfuture_daemon.logs import (
    RedactionFilter,
    configure_logging,
    log_event,
)
from tests.helpers.snapshots import (
    CANARIES,
    CANARY_AGE,
    CANARY_KEY,
    CANARY_PASSPHRASE,
    CANARY_SECRET,
    REVISION,
    register_canaries,
)

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR|DEBUG) \S+ ")


def _every_handler() -> list[logging.Handler]:
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return [h for lg in loggers for h in lg.handlers]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; leave other tests' handlers (caplog's)
    exactly as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = {h: list(h.filters) for h in _every_handler()}
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    for h, before in filters.items():
        h.filters[:] = before
    root.setLevel(level)


@pytest.fixture
def logger() -> logging.Logger:
    return logging.getLogger("backfuture.test")


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_text_line_shape(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging("text", "INFO", stream=out)
    log_event(
        logger,
        "warning",
        "ip_not_allowed; bots paused; re-check in 5m",
        connection="MEXC Spot Main",
        strategy="BTC",
        revision=REVISION,
        error_class="ip_not_allowed",
        attempt=3,
    )
    [line] = lines(out)
    assert TEXT_LINE.match(line), line
    assert " WARNING backfuture.test ip_not_allowed; bots paused; re-check in 5m " in line
    assert line.endswith(
        f'connection="MEXC Spot Main" strategy=BTC revision={REVISION} '
        "error_class=ip_not_allowed attempt=3"
    )


def test_json_lines_shape(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging("json", "INFO", stream=out)
    log_event(
        logger,
        logging.INFO,
        "bot started",
        connection="KuCoin Spot",
        strategy="KC Alts",
        revision=REVISION,
        error_class=None,
    )
    logger.info("plain %s message", "formatted", extra={"connection": "X"})
    first, second = (json.loads(line) for line in lines(out))
    assert set(first) == {"ts", "level", "logger", "msg", "connection", "strategy", "revision"}
    assert first["level"] == "INFO"
    assert first["logger"] == "backfuture.test"
    assert first["msg"] == "bot started"
    assert first["revision"] == REVISION  # 40-hex revisions are not mistaken for secrets
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert second["msg"] == "plain formatted message"
    assert second["connection"] == "X"


def test_field_names_never_clobber_core_keys(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging("json", "INFO", stream=out)
    log_event(logger, "INFO", "hello", msg="other", level="x")
    [doc] = [json.loads(line) for line in lines(out)]
    assert doc["msg"] == "hello"
    assert doc["level"] == "INFO"
    assert doc["field_msg"] == "other"


def test_level_filters_and_log_event_respects_it(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging("text", "WARNING", stream=out)
    log_event(logger, "INFO", "quiet", connection="A")
    logger.info("also quiet")
    log_event(logger, "ERROR", "loud", connection="A")
    assert [line.split(" ", 3)[1] for line in lines(out)] == ["ERROR"]


def test_reconfigure_replaces_our_handler(logger: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("text", "INFO", stream=first)
    configure_logging("json", "INFO", stream=second)
    logger.info("once")
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["msg"] == "once"


def test_bad_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml", "INFO")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_canaries_never_logged(fmt: str, logger: logging.Logger) -> None:
    register_canaries()
    out = io.StringIO()
    configure_logging(fmt, "DEBUG", stream=out)
    logger.info("key %s secret %s", CANARY_KEY, CANARY_SECRET)
    logger.warning(f"sops said: Input string {CANARY_PASSPHRASE} does not match")
    log_event(
        logger,
        "ERROR",
        f"vendor body {CANARY_AGE}",
        connection=f"conn {CANARY_KEY}",
        error_class="invalid_key",
        detail={"secret": CANARY_SECRET},
    )
    logger.error("with extra", extra={"strategy": f"s {CANARY_SECRET}"})
    try:
        raise RuntimeError(f"exchange echoed {CANARY_SECRET} and {CANARY_KEY}")
    except RuntimeError:
        logger.exception("check failed for %s", CANARY_PASSPHRASE)
    logger.info("stack", stack_info=True, extra={"revision": CANARY_AGE})
    text = out.getvalue()
    for canary in CANARIES:
        assert canary not in text
    assert text.count("<redacted>") >= 8
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: exchange echoed <redacted> and <redacted>" in text


def test_unregistered_key_like_tokens_are_scrubbed_but_paths_and_revisions_stay(
    logger: logging.Logger,
) -> None:
    out = io.StringIO()
    configure_logging("text", "INFO", stream=out)
    signature = "a1B2c3D4e5F6a7B8c9D0e1F2a3B4c5D6e7F8a9B0"  # mixed-case, not a git object id
    path = "/tmp/pytest-of-root/pytest-7/test_reload0/config/prod.sops.yaml"
    logger.info("signature=%s in %s at %s", signature, path, REVISION)
    line = out.getvalue()
    assert signature not in line
    assert path in line
    assert REVISION in line


def test_redaction_filter_is_on_every_existing_handler() -> None:
    register_canaries()
    other_out = io.StringIO()
    other = logging.getLogger("backfuture.test.other")
    other_handler = logging.StreamHandler(other_out)
    other.addHandler(other_handler)
    try:
        configure_logging("text", "INFO", stream=io.StringIO())
        assert any(isinstance(f, RedactionFilter) for f in other_handler.filters)
        for handler in logging.getLogger().handlers:
            assert any(isinstance(f, RedactionFilter) for f in handler.filters)
        other.warning("leak? %s", CANARY_SECRET)
        assert CANARY_SECRET not in other_out.getvalue()
        assert "<redacted>" in other_out.getvalue()
    finally:
        other.removeHandler(other_handler)


def test_filter_is_idempotent_across_handlers(logger: logging.Logger) -> None:
    register_canaries()
    a, b = io.StringIO(), io.StringIO()
    configure_logging("text", "INFO", stream=a)
    extra = logging.StreamHandler(b)
    extra.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(extra)
    configure_logging("json", "INFO", stream=a)  # re-run: puts the filter on `extra` too
    assert sum(isinstance(f, RedactionFilter) for f in extra.filters) == 1
    logger.info("value %s", CANARY_SECRET)
    assert b.getvalue() == "value <redacted>\n"
