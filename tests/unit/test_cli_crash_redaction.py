"""An unexpected crash of any `backfuture` subcommand prints a traceback with secrets redacted.

Python's default hook would print the raw exception chain (vendor messages with URLs, keys) to
stderr; `cli.main` catches it, scrubs it like a log line and exits 1.
"""

from __future__ import annotations

import argparse

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
