"""An unexpected crash of any `backfuture` subcommand prints a traceback with secrets redacted.

Python's default hook would print the raw exception chain (vendor messages with URLs, keys) to
stderr; `cli.main` catches it, scrubs it like a log line and exits 1.
"""

from __future__ import annotations

import argparse
import logging

import pytest

from backfuture_daemon import cli
from backfuture_daemon.commands import schema
from backfuture_daemon.redaction import GLOBAL_REDACTOR
from tests.helpers.configrepo import CANARIES, CANARY_KEY, CANARY_SECRET


def test_a_crash_prints_a_redacted_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    GLOBAL_REDACTOR.add(CANARIES)
    unregistered = "Zq" * 20  # a key-like token nobody registered (40 chars, mixed case)

    def crash(args: argparse.Namespace) -> int:
        try:
            raise ConnectionError(f"GET /api/v3/apiKeyInfo?accessKey={CANARY_KEY}&x={unregistered}")
        except ConnectionError as e:
            raise RuntimeError(f"secret {CANARY_SECRET} in a bug") from e

    monkeypatch.setattr(schema, "run", crash)
    assert cli.main(["schema"]) == 1
    out = capsys.readouterr()
    assert "RuntimeError" in out.err
    assert "Traceback" in out.err
    assert "apiKeyInfo" in out.err  # the cause is kept, only the secrets go
    for secret in (*CANARIES, unregistered):
        assert secret not in out.err + out.out


def test_warnings_of_commands_without_logging_set_up_are_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check`, `plan`, `validate` configure no logging: Python prints WARNING+ records (asyncio's
    "Task exception was never retrieved", a library's error) through `logging.lastResort`."""
    GLOBAL_REDACTOR.add(CANARIES)

    def warn(args: argparse.Namespace) -> int:
        logging.getLogger("asyncio").error("Task exception: GET ?accessKey=%s", CANARY_KEY)
        return 0

    monkeypatch.setattr(schema, "run", warn)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # pytest's capture handlers
    assert cli.main(["schema"]) == 0
    err = capsys.readouterr().err
    assert "Task exception" in err
    assert CANARY_KEY not in err
