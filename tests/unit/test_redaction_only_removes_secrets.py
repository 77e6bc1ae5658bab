"""Redaction removes secrets and never changes any other text (issue: a secret `true` broke JSON,
a passphrase `Main` renamed "KuCoin Main")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from backfuture_daemon.redaction import (
    GLOBAL_REDACTOR,
    REDACTED,
    Redactor,
    redact_tree,
    unsafe_secret_reason,
)


def test_common_words_and_literals_are_never_registered() -> None:
    r = Redactor(["true", "Main", "null", "123456", "aaaaaaaaaa", "yes"])
    text = '{"ready": true, "name": "KuCoin Main", "x": null, "n": 123456, "ok": "yes"}'
    assert r(text) == text


def test_unsafe_reason_names_the_rule_never_the_value() -> None:
    for value in ("true", "Main", "1234567", "zzzzzzzz"):
        reason = unsafe_secret_reason(value)
        assert reason is not None
        assert value not in reason
    assert unsafe_secret_reason("kcPass#2024") is None


def test_short_secret_only_as_a_whole_token() -> None:
    r = Redactor(["kcPass2024"])
    assert r("passphrase kcPass2024 rejected") == f"passphrase {REDACTED} rejected"
    assert r("key=kcPass2024&sig=1") == f"key={REDACTED}&sig=1"
    # Inside a longer word it is not that secret: the text stays as it is.
    assert r("XkcPass2024Y") == "XkcPass2024Y"


def test_long_secret_goes_even_inside_a_longer_token() -> None:
    secret = "a1b2c3d4e5f6g7h8i9"
    r = Redactor([secret])
    assert secret not in r(f"sig{secret}xyz")


def test_a_secret_with_quotes_is_removed_from_dumped_json_too() -> None:
    secret = 'pa"ss\\word-2024'
    r = Redactor([secret])
    dumped = json.dumps({"error": f"bad passphrase {secret}"})
    out = r(dumped)
    assert json.loads(out)["error"] == f"bad passphrase {REDACTED}"


def test_clear_forgets_every_secret() -> None:
    r = Redactor(["kcPass2024"])
    r.clear()
    assert r("kcPass2024") == "kcPass2024"


def test_each_test_starts_with_an_empty_global_redactor() -> None:
    # tests/conftest.py clears it, so a canary registered elsewhere cannot make a test pass.
    assert GLOBAL_REDACTOR("mx0vCANARYkey7Q2 canary-secret-5e1f9d") == (
        "mx0vCANARYkey7Q2 canary-secret-5e1f9d"
    )


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=1, max_size=40), words=st.lists(st.text(max_size=20), max_size=6))
def test_redacted_tree_is_valid_json_without_the_secret(secret: str, words: list[str]) -> None:
    r = Redactor([secret])
    doc = {"ready": True, "n": 1.5, "names": [*words, f"x {secret} y"], "m": [{secret: "k"}]}
    GLOBAL_REDACTOR.clear()
    GLOBAL_REDACTOR.add([secret])
    loaded = json.loads(json.dumps(redact_tree(doc), ensure_ascii=False))  # always valid JSON
    assert loaded["ready"] is True
    assert loaded["n"] == 1.5
    if unsafe_secret_reason(secret) is None:
        assert loaded["names"][-1] == f"x {REDACTED} y"
        assert loaded["m"] == [{REDACTED: "k"}]
        assert r(f"x {secret} y") == f"x {REDACTED} y"
    else:  # never registered: nothing is rewritten
        assert loaded["names"][-1] == f"x {secret} y"
        assert r(f"x {secret} y") == f"x {secret} y"
    GLOBAL_REDACTOR.clear()


def test_the_suite_fails_a_test_that_leaks_an_asyncio_task(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        (Path(__file__).parents[1] / "conftest.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "test_leak.py").write_text(
        "import asyncio\n\n"
        "async def test_leaks():\n"
        "    asyncio.get_running_loop().create_task(asyncio.sleep(30), name='forgotten')\n\n"
        "async def test_clean():\n"
        "    await asyncio.sleep(0)\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout
    assert "ERROR test_leak.py::test_leaks - Failed: test leaked 1 asyncio task" in proc.stdout
    assert "forgotten" in proc.stdout
    assert "test_clean" not in proc.stdout
