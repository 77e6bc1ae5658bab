"""scrub_text / redact_tree: the last guard before text leaves the process (logs, /status)."""

from __future__ import annotations

from backfuture_daemon.redaction import REDACTED, redact_tree, scrub_text
from tests.helpers.snapshots import CANARY_KEY, CANARY_SECRET, REVISION, register_canaries


def test_registered_secrets_go_even_when_short_and_embedded() -> None:
    register_canaries()
    assert scrub_text(f"key={CANARY_KEY}&sig=1") == f"key={REDACTED}&sig=1"


def test_key_like_tokens_go() -> None:
    mexc_secret = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # 32 hex: an API secret, not a git id
    kucoin_secret = "5c1f0d3e-7a2b-4c9d-8e6f-1a2b3c4d5e6f"
    base64_secret = "q8Zr+Jt0p1Yl0yQ9e8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2G1f0E="
    for token in (
        mexc_secret,
        kucoin_secret,
        base64_secret,
        "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
    ):
        assert token not in scrub_text(f"error: {token} rejected"), token


def test_revisions_digests_and_paths_stay() -> None:
    digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    path = "/var/lib/backfuture/git/.worktrees/config/connections/prod.sops.yaml"
    text = f"revision {REVISION} digest sha256:{digest} file {path}: connections[0].name"
    assert scrub_text(text) == text


def test_redact_tree_covers_keys_values_and_nesting() -> None:
    register_canaries()
    tree = {
        "a": [CANARY_SECRET, {"b": f"x {CANARY_KEY}"}],
        CANARY_SECRET: 1,
        "n": None,
        "f": 1.5,
        "t": True,
    }
    out = redact_tree(tree)
    assert out == {
        "a": [REDACTED, {"b": f"x {REDACTED}"}],
        REDACTED: 1,
        "n": None,
        "f": 1.5,
        "t": True,
    }


def test_age_public_keys_stay_private_keys_go() -> None:
    recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
    text = f"none of the age keys held can decrypt: encrypted to {recipient}; held {secret}"
    out = scrub_text(text)
    assert recipient in out
    assert secret not in out
