"""The ladder in `backfuture validate` (with and without decryption) and `backfuture plan`, run as
real processes on an encrypted repo: the reference/bots.md §2.4 strategy's exact table and JSON
rows, one ladder per strategy, and no secret in any of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.configrepo import (
    CANARIES,
    kucoin_connection,
    mexc_connection,
    sops_env,
    strategy,
    write_config_repo,
)

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

REFERENCE = strategy(
    "Reference",
    margin_limit=500,
    max_active_groups=2,
    base_order_quote=10,
    take_profit_pct=1.2,
    adding={
        "max_adds": 5,
        "add_order_quote": 10,
        "step_pct": 1.5,
        "step_scale": 1.2,
        "volume_scale": 1.5,
    },
)
LAST_ROW = {
    "step": 5,
    "deviation_pct": 11.16,
    "price": 88.84,
    "size_quote": 50.63,
    "cumulative_quote": 141.88,
    "average_price": 92.63,
    "take_profit_price": 93.75,
}
FIELDS = [
    "step",
    "deviation_pct",
    "price",
    "size_quote",
    "cumulative_quote",
    "average_price",
    "take_profit_price",
]
TOTAL = "2 group(s) × 141.88 = 283.75 USDT, within margin_limit 500.00 USDT"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "backfuture_daemon", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    for canary in CANARIES:
        assert canary not in proc.stdout + proc.stderr
    return proc


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    docs = {
        "connections.yaml": {
            "version": 1,
            "connections": [mexc_connection(), kucoin_connection()],
        },
        "strategies.yaml": {
            "version": 1,
            "strategies": [
                REFERENCE,
                strategy("Preset", "KuCoin Futures Conservative", risk_level="conservative"),
            ],
        },
    }
    key_file, _ = write_config_repo(tmp_path / "repo", docs)
    return tmp_path / "repo", sops_env(key_file, tmp_path)


def _assert_reference_rows(ladder: list[dict[str, float]]) -> None:
    assert [list(row) for row in ladder] == [FIELDS] * 6
    assert [row["step"] for row in ladder] == [0, 1, 2, 3, 4, 5]
    assert [row["deviation_pct"] for row in ladder] == [0.0, 1.5, 3.3, 5.46, 8.05, 11.16]
    assert [row["size_quote"] for row in ladder] == [10.0, 10.0, 15.0, 22.5, 33.75, 50.63]
    assert ladder[-1] == LAST_ROW


@pytest.mark.parametrize("decrypt", [True, False])
def test_validate_shows_each_ladder_under_its_strategy(
    repo: tuple[Path, dict[str, str]], tmp_path: Path, decrypt: bool
) -> None:
    path, env = repo
    args = ("validate", str(path)) if decrypt else ("validate", "--no-decrypt", str(path))
    proc = run(*args, env=env if decrypt else sops_env(None, tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    ref = lines.index('  "Reference" on "MEXC Spot Main": spot paper, BTC/USDT, ETH/USDT, balanced')
    assert lines[ref + 2] == "      ladder for an entry at 100 (sizes in USDT):"
    assert lines[ref + 3].split() == ["step", "dev", "%", "price", "size", "cumulative",
                                      "average", "take", "profit"]  # fmt: skip
    assert lines[ref + 9].split() == ["5", "11.16", "88.84", "50.63", "141.88", "92.63", "93.75"]
    assert lines[ref + 10] == f"        {TOTAL}"
    preset = lines.index(
        '  "Preset" on "KuCoin Futures Conservative": spot paper, BTC/USDT, ETH/USDT, conservative'
    )
    assert preset > ref + 10
    assert lines[preset + 2] == "      ladder for an entry at 100 (sizes in USDT):"
    assert proc.stdout.count("ladder for an entry at 100") == 2


@pytest.mark.parametrize("decrypt", [True, False])
def test_validate_json_carries_strategies_ladder(
    repo: tuple[Path, dict[str, str]], tmp_path: Path, decrypt: bool
) -> None:
    path, env = repo
    flags = () if decrypt else ("--no-decrypt",)
    proc = run(
        "validate", "--json", *flags, str(path), env=env if decrypt else sops_env(None, tmp_path)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    ref, preset = doc["strategies"]
    _assert_reference_rows(ref["ladder"])
    assert ref["ladder_total"]["total_quote"] == 283.75
    assert ref["ladder_total"]["fits"] is True
    assert preset["ladder"][0]["step"] == 0
    assert preset["ladder"][-1]["cumulative_quote"] * preset["sizing"]["max_active_groups"] <= 500


def test_plan_shows_the_ladders(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    text = run("plan", str(path), env=env)
    assert text.returncode == 1, text.stdout + text.stderr  # a fresh start: changes
    lines = text.stdout.splitlines()
    ref = lines.index('  "Reference": ladder for an entry at 100 (sizes in USDT):')
    assert lines[ref + 7].split() == ["5", "11.16", "88.84", "50.63", "141.88", "92.63", "93.75"]
    assert lines[ref + 8] == f"    {TOTAL}"
    assert '  "Preset": ladder for an entry at 100 (sizes in USDT):' in lines
    js = run("plan", "--json", str(path), env=env)
    assert js.returncode == 1
    doc = json.loads(js.stdout)
    assert [s["name"] for s in doc["strategies"]] == ["Reference", "Preset"]
    _assert_reference_rows(doc["strategies"][0]["ladder"])
