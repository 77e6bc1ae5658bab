"""Fuzz, daemon side: 1,000 mutated revisions (the seeded corpus of tests/helpers/revision_fuzz.py)
fed one after another into the git work tree of ONE running daemon (real loader, real sops, real
SQLite, real HTTP; a fake connection tester), each forced with POST /reconcile and awaited. Every
one is judged (never a crash, a hang or a traceback), the daemon stays alive, a rejected revision
leaves the applied revision, connections and bots exactly as they were, and no canary appears in
/status, /, /metrics, the JSON logs or (after shutdown) the SQLite state.
benchmarks/daemon_fuzz.py prints the same table. Then the corpus streamed: files landing while
the daemon reads must never stall a pass, crash it, or keep the base from running again.

Also here: regression tests for two bugs the fuzz found (fixed in 585fb64).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from backfuture_daemon.configuration import sops
from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.errors import ConfigError, ConfigErrorClass
from tests.helpers.configrepo import sops_env, valid_documents, write_config_repo
from tests.helpers.daemon_fuzz import (
    CANARY_RE,
    check_log_lines,
    comparable,
    differences,
    run_daemon_fuzz,
    stream_daemon_fuzz,
)

pytestmark = pytest.mark.integration

CASES = 1000
STREAMED = 600


@pytest.mark.timeout(300)  # ~40 s on 2 cores; the margin is for a loaded CI machine
async def test_a_thousand_mutated_revisions_through_one_running_daemon(tmp_path: Path) -> None:
    table = await run_daemon_fuzz(tmp_path, cases=CASES, seed=8, commit_every=10)
    print(table.render())
    s = table.summary()
    assert s["cases"] == CASES
    assert s["crashes"] == [], table.render()
    assert s["canary_hits"] == [], table.render()
    assert s["changed_by_rejected"] == [], table.render()
    assert s["rejected_unexpected_exception"] == 0, table.render()
    assert s["loop_errors_total"] == 0
    assert s["exit_code"] == 0
    assert s["bad_log_lines"] == 0, table.bad_log_lines[:3]
    assert s["log_lines"] > CASES  # the logs were captured (DEBUG: a line per pass at least)
    assert s["state_files"] >= 1  # SQLite was scanned for canaries too, after shutdown
    # Every case met the running base (two bots running, two connections online), so "nothing
    # changed" is a claim about a live daemon; accepted ones were undone and awaited.
    assert s["judged_while_running"] == CASES
    assert s["restores"] > 0
    # The corpus exercises both outcomes and many classes, and many canaries reached the daemon
    # (else "no canary anywhere" would prove nothing).
    assert s["accepted"] > 30
    assert s["rejected"] > 600
    classes = set(s["rejected_by_class"])
    assert classes <= {c.value for c in ConfigErrorClass}
    assert {
        "yaml_invalid",
        "schema_invalid",
        "file_unreadable",
        "plaintext_secret",
        "decrypt_mac_mismatch",
        "empty_config",
    } <= classes
    assert s["canaries_carried"] > 100
    assert s["committed"] >= CASES // 10 - 5  # a FIFO cannot be committed: judged dirty
    assert len([k for k in s["kinds"] if k.startswith("special-")]) >= 6
    index, kind, seconds = s["slowest"]
    assert seconds < 5.0, (index, kind)
    assert s["slowest_pass"] < 5.0


@pytest.mark.timeout(240)  # ~15 s on 2 cores
async def test_revisions_landing_while_the_daemon_reads_never_stall_or_crash_it(
    tmp_path: Path,
) -> None:
    """The same corpus streamed: files land back to back in random order while the daemon reads
    (a POST /reconcile now and then), as a busy repository or a git pull does. No pass stalls
    (before 585fb64 a swap under sops stalled the loop for the sops timeout), nothing crashes,
    and once the stream ends the base runs again as before."""
    report = await stream_daemon_fuzz(tmp_path, cases=STREAMED, seed=9, gap=0.02)
    print(report.render())
    assert report.cases == STREAMED
    assert report.reloads > 30  # the daemon read while the writes were landing
    assert report.healthz_failures == []
    assert report.slowest_pass < 5.0
    assert report.loop_errors_total == 0
    assert report.base_again_seconds is not None
    assert report.base_again_seconds < 10.0
    assert report.exit_code == 0
    assert report.log_lines > STREAMED // 10
    assert report.bad_log_lines == []
    assert report.canary_hits == []


def _status(bot_state: str, applied: str = "abc123") -> dict[str, Any]:
    conn = {"name": "M", "exchange": "mexc", "status": "online", "healthy": True}
    conn |= {"fingerprint": "f1", "inputs_digest": "i1"}
    bot = {"strategy": "B", "connection": "M", "state": bot_state, "enabled": True}
    bot |= {"reason": "", "since": 1.0, "mode": "paper"}
    config = {"applied_revision": applied, "applied_digest": "d" * 64}
    return {"config": config, "connections": [conn], "bots": [bot]}


def test_the_fuzz_checks_notice_what_they_look_for() -> None:
    """The table's zeros mean something: each check flags its own kind of failure."""
    lines = '{"msg": "ok"}\nTraceback (most recent call last):\n{"exc_info": "Traceback (x)"}\n[1]'
    assert len(check_log_lines(lines)) == 3
    assert check_log_lines('{"msg": "config rejected", "error_class": "yaml_invalid"}') == []
    assert CANARY_RE.findall("a CANARYfz00012q7 b CANARYkey0000aaaa1111bbbb.") == [
        "CANARYfz00012q7",
        "CANARYkey0000aaaa1111bbbb",
    ]
    same = comparable(_status("running"))
    assert differences(same, comparable(_status("running"))) == []
    assert differences(same, comparable(_status("paused")))
    assert differences(same, comparable(_status("running", applied="def456")))


# --- found by the fuzz (fixed) --------------------------------------------------------------

ALIAS_BOMB = "z0: &z0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"z{i}: &z{i} [{', '.join([f'*z{i - 1}'] * 10)}]\n" for i in range(1, 7)
)


def test_sops_decrypts_the_bytes_the_loader_checked_not_the_file_as_it_is_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid revision is being loaded when the next commit lands: its connections.yaml (still
    sops-encrypted) gains an alias bomb, which the loader would refuse in milliseconds. The swap
    happens after the loader read and checked the file, just before sops runs — where a `git
    pull` can land in the daemon. Found by the daemon-side fuzz: sops then ran until its timeout
    (RSS past 1.5 GB in 25 s) while the reconcile loop waited; fixed in 585fb64 (sops decrypts
    a private copy of the checked bytes). The load ends in well under a second, never as
    decrypt_timeout (the daemon then notices the change and reads again)."""
    repo = tmp_path / "config"
    key, _ = write_config_repo(repo, valid_documents())
    target = repo / "connections.yaml"
    bomb = target.read_text() + ALIAS_BOMB
    original = sops.file_recipients
    swapped: list[Path] = []

    def swap_then_recipients(document: Any) -> tuple[str, ...]:
        swapped.append(target)
        tmp = repo / ".connections.yaml.tmp"
        tmp.write_text(bomb)
        tmp.replace(target)  # as git writes it: a rename
        return original(document)

    monkeypatch.setattr(sops, "file_recipients", swap_then_recipients)
    started = time.monotonic()
    classes: tuple[str, ...] = ()
    try:
        load_revision(repo, env=sops_env(key, tmp_path), sops_timeout=3.0)
    except ConfigError as e:
        classes = tuple(e.error_classes)
    elapsed = time.monotonic() - started
    assert swapped == [target]  # the file was replaced between the checks and sops
    assert target.read_text() == bomb
    assert "decrypt_timeout" not in classes
    assert elapsed < 2.0, f"{elapsed:.1f} s ({classes})"


SHORT_CANARY = "CANARYq8x"  # Go's yaml.v3 quotes values of up to 10 characters in full


@pytest.mark.parametrize("where", ["lastmodified", "sops_scalar"])
def test_sops_parse_errors_do_not_echo_a_scalar_of_the_file(tmp_path: Path, where: str) -> None:
    """Found next to the fuzz (its corpus appends `sops: 1`, and the daemon's last_error read
    "cannot unmarshal !!int `1`"): a value in place of that 1 came back in the message (sops's
    Go YAML errors quote it); fixed in 585fb64."""
    repo = tmp_path / "config"
    key, _ = write_config_repo(repo, valid_documents())
    if where == "lastmodified":  # the encrypted file's metadata, edited by hand
        target = repo / "connections.yaml"
        text = target.read_text()
        start = text.index("lastmodified: ")
        end = text.index("\n", start)
        target.write_text(f"{text[:start]}lastmodified: {SHORT_CANARY}{text[end:]}")
    else:  # a plain file that gained a `sops:` key
        target = repo / "strategies.yaml"
        target.write_text(target.read_text() + f"sops: {SHORT_CANARY}\n")
    with pytest.raises(ConfigError) as info:
        load_revision(repo, env=sops_env(key, tmp_path))
    assert set(info.value.error_classes) <= {c.value for c in ConfigErrorClass}
    text = str(info.value) + repr(info.value.issues)
    assert SHORT_CANARY not in text
