"""The crash test (benchmarks/crash_kill.py) at a small N in the suite: a real daemon with a live
bot on the real sandbox process, SIGKILLed at random moments (some while the sandbox withholds
order or cancel answers) and restarted on the same state directory; after every restart the
sandbox's order audit shows no duplicate order, no fill missing from the SQLite ledger, no order
without an intent, and committed quote never above the margin limit. The daemon's logs never
show the key's secret.
"""

from __future__ import annotations

import importlib.util
import io
import types
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def load_benchmark() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("crash_kill", ROOT / "benchmarks/crash_kill.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_three_sigkills_leave_nothing_duplicated_lost_or_over_committed(tmp_path: Path) -> None:
    ck = load_benchmark()
    out = io.StringIO()
    rows = ck.run(3, seed=7, work=tmp_path, out=out)
    print(out.getvalue())
    assert len(rows) == 3
    for r in rows:
        assert r["dup"] == 0, out.getvalue()
        assert r["lost"] == 0, out.getvalue()
        assert r["no_intent"] == 0, out.getvalue()
        assert r["max_ex_q"] <= ck.Judge(tmp_path / "state").margin
        assert r["max_st_q"] <= ck.Judge(tmp_path / "state").margin
        assert abs(r["q_diff"]) <= Decimal("0.01"), out.getvalue()  # /status == exchange
    assert rows[-1]["orders"] > 0  # the live bot did trade on the exchange
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("daemon-*.log"))
    assert "bot fill" in logs
    assert ck.API_SECRET not in logs
