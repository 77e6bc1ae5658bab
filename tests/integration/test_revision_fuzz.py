"""Fuzz: 1,200 mutated revisions (type swaps, YAML tags, anchors/aliases, deep nesting, huge
scalars, encodings, special files, byte damage) of a real sops-encrypted repository each end
accepted or rejected (never a crash), quickly, and no output repeats a canary. Every 10th case is
decrypted by the real sops; a sample also goes through the real `backfuture validate`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.e2e.test_validate_cli import backfuture
from tests.helpers.configrepo import CANARIES, sops_env
from tests.helpers.revision_fuzz import make_base, run_corpus, write_case

pytestmark = pytest.mark.integration


def test_a_thousand_mutated_revisions_are_data_never_a_crash(tmp_path: Path) -> None:
    table = run_corpus(tmp_path, cases=1200, decrypt_every=10, seed=8)
    summary = table.summary()
    assert summary["crashes"] == []
    assert summary["canary_hits"] == []
    assert summary["cases"] == 1200
    # The corpus exercises both outcomes and many classes (else it tests nothing).
    assert summary["accepted"] > 50
    assert summary["rejected"] > 600
    assert {"yaml_invalid", "schema_invalid", "file_unreadable", "plaintext_secret"} <= set(
        summary["rejected_by_class"]
    )
    assert any(k.endswith("+decrypt") for k in summary["kinds"])
    slowest_kind, slowest_seconds = summary["slowest"]
    assert slowest_seconds < 3.0, slowest_kind
    assert summary["peak_rss_mib"] < 512


@pytest.mark.e2e
@pytest.mark.parametrize("seed", range(12))
def test_mutated_revisions_through_the_real_validate_cli(tmp_path: Path, seed: int) -> None:
    rng = random.Random(1000 + seed)
    base = make_base(tmp_path)
    path, kind, canary = write_case(rng, seed, base, tmp_path / "cases")
    decrypt = seed % 2 == 0
    env = sops_env(base.key_file if decrypt else None, tmp_path)
    args = ["validate", "--json", *([] if decrypt else ["--no-decrypt"]), str(path)]
    proc = backfuture(*args, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), (kind, proc.returncode, proc.stderr[-500:])
    assert "Traceback" not in out
    for secret in (canary, *CANARIES):
        assert secret not in out
    doc = json.loads(proc.stdout)
    assert doc["valid"] is (proc.returncode == 0)
