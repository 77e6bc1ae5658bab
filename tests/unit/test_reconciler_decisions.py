"""The reconciler's decisions as pure functions: when to load, relabel or skip a probe, what a
loader's exception becomes, the empty-set guard, which failures retry on a timer, how long the
loop sleeps, and the wording of the events it logs."""

from __future__ import annotations

import logging
from pathlib import Path

from backfuture_daemon.configuration.revision import Probe
from backfuture_daemon.errors import ConfigError, ConfigIssue, DecryptError, UsageError
from backfuture_daemon.reconciler import events
from backfuture_daemon.reconciler.config_tracker import (
    Step,
    empty_guard,
    is_transient,
    load_issues,
    next_step,
    relabelled,
)
from backfuture_daemon.reconciler.loop import wait_seconds
from backfuture_daemon.reconciler.state import ConfigStatus
from tests.helpers.desired import conn, desired_state, strat

PATH = Path("/config")


def probe(digest: str = "d", commit: str | None = None) -> Probe:
    return Probe(str(PATH), commit, digest)


def test_a_probe_is_loaded_only_when_new_forced_or_a_retry_is_due() -> None:
    assert next_step(None, probe(), force=False, retry=False) is Step.LOAD
    assert next_step(probe("a"), probe("b"), force=False, retry=False) is Step.LOAD
    assert next_step(probe(), probe(), force=False, retry=False) is Step.SAME
    assert next_step(probe(), probe(), force=True, retry=False) is Step.LOAD
    assert next_step(probe(), probe(), force=False, retry=True) is Step.LOAD
    assert next_step(probe(commit="a"), probe(commit="b"), force=False, retry=False) is (
        Step.RELABEL
    )


def test_relabel_renames_the_applied_revision_only_when_it_is_the_good_one() -> None:
    good = ConfigStatus(applied_revision="old", attempted_revision="old")
    renamed = relabelled(good, probe(commit="c" * 40))
    assert (
        renamed.applied_revision == renamed.attempted_revision == probe(commit="c" * 40).revision_id
    )
    broken = ConfigStatus(applied_revision="old", last_error="x")
    assert relabelled(broken, probe(commit="c" * 40)).applied_revision == "old"


def test_every_loader_exception_becomes_issues_with_a_class() -> None:
    issue = ConfigIssue("a.yaml", "strategies[0]", "bad", "schema_invalid")
    assert load_issues(ConfigError([issue]), PATH) == [issue]
    (dec,) = load_issues(DecryptError("b.yaml", "decrypt_mac_mismatch", "MAC mismatch"), PATH)
    assert (dec.file, dec.error_class) == ("b.yaml", "decrypt_mac_mismatch")
    (other,) = load_issues(UsageError("too big"), PATH)
    assert (other.error_class, other.message) == ("file_unreadable", "too big")
    (bug,) = load_issues(ValueError("month must be in 1..12: 'pasted-secret'"), PATH)
    assert bug.error_class == "file_unreadable"
    assert "ValueError" in bug.message
    assert "pasted-secret" not in bug.message


def test_the_empty_set_guard_refuses_an_emptied_revision_only_while_bots_run() -> None:
    empty = desired_state([], [])
    no_strategies = desired_state([conn()], [])
    full = desired_state([conn()], [strat()])
    assert empty_guard(empty, 0, PATH) is None
    assert empty_guard(full, 3, PATH) is None
    refused = empty_guard(empty, 2, PATH)
    assert refused is not None
    assert (refused.path, refused.error_class) == ("connections", "empty_config")
    assert "while 2 bot(s) run" in refused.message
    refused = empty_guard(no_strategies, 1, PATH)
    assert refused is not None
    assert refused.path == "strategies"


def test_a_rejected_revision_is_one_error_line_naming_file_field_and_next_step() -> None:
    issues = [
        ConfigIssue("main.yaml", "connections[0].api_key", "plaintext", "plaintext_secret"),
        ConfigIssue("main.yaml", "strategies[1]", "bad", "schema_invalid"),
    ]
    ev = events.config_rejected(
        issues,
        "main.yaml: ...",
        kept="abc123",
        retry_in=None,
        revision="def456",
        classes=("plaintext_secret", "schema_invalid"),
        path=str(PATH),
    )
    assert ev.level == logging.ERROR
    assert ev.message == (
        "config revision rejected: main.yaml: ... (+1 more); keeping revision abc123; "
        "not retried until the files change or a forced reconcile"
    )
    assert ev.fields["field"] == "connections[0].api_key"
    transient = events.config_rejected(
        issues[:1], "t", kept=None, retry_in=4.0, revision=None, classes=(), path=str(PATH)
    )
    assert transient.message.endswith("keeping revision none; transient; retry in 4s")
    assert "revision" not in transient.fields  # empty fields are left out


def test_an_unexpected_error_is_named_by_type_and_scrubbed() -> None:
    token = "k" * 40
    ev = events.loop_failed(RuntimeError(f"boom {token}"), total=3, retry_in=2.5, where="x.py:1")
    assert ev.level == logging.ERROR
    assert ev.message.startswith("reconcile pass failed: RuntimeError: boom <redacted>")
    assert ev.message.endswith("; the last good revision keeps running; next pass in 2s")
    assert token not in ev.message
    assert ev.fields["loop_errors_total"] == 3


def test_only_failures_of_the_environment_are_retried_on_a_timer() -> None:
    assert is_transient(probe(), ["decrypt_timeout"])
    assert is_transient(probe(), ["decrypt_timeout", "decrypt_key_missing"])
    assert not is_transient(probe(), ["decrypt_timeout", "plaintext_secret"])
    assert not is_transient(probe(), [])
    assert not is_transient(None, ["decrypt_timeout"])  # unreadable path: re-probed anyway


def test_the_loop_sleeps_until_the_first_due_time_but_never_spins() -> None:
    assert wait_seconds(resync_in=60.0, due=(None, None), now=100.0, floor=0.005) == 60.0
    assert wait_seconds(resync_in=60.0, due=(130.0, 110.0), now=100.0, floor=0.005) == 10.0
    assert wait_seconds(resync_in=60.0, due=(90.0, None), now=100.0, floor=0.005) == 0.005
    assert wait_seconds(resync_in=-5.0, due=(), now=0.0, floor=2.5) == 2.5
