"""Print the outcome table of the revision fuzz fed to ONE running daemon
(tests/helpers/daemon_fuzz.py; the suite runs the same: tests/integration/test_daemon_fuzz.py).

The seeded corpus of tests/helpers/revision_fuzz.py, written case by case into the daemon's git
work tree (every `--commit-every`-th committed), each forced with POST /reconcile and awaited;
the daemon is embedded with a fake connection tester, real sops, real SQLite, real HTTP:

    .venv/bin/python benchmarks/daemon_fuzz.py [--cases 1000] [--seed 8] [--commit-every 10]

`--stream` writes the cases back to back instead, without awaiting judgements (random file
order and pauses of up to `--gap` seconds, a POST /reconcile now and then), and prints what the
daemon did meanwhile (loads, slowest pass, /healthz, whether the base runs again afterwards).

Exits 1 when any case crashed, hung, leaked a canary or changed the daemon while rejected.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.daemon_fuzz import CaseOutcome, run_daemon_fuzz, stream_daemon_fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--commit-every", type=int, default=10, help="0: never commit")
    parser.add_argument("--log-level", default="DEBUG", choices=["DEBUG", "INFO"])
    parser.add_argument("--verbose", action="store_true", help="a line per case")
    parser.add_argument("--stream", action="store_true", help="back to back, no judgements")
    parser.add_argument("--gap", type=float, default=0.02, help="--stream: longest pause (s)")
    args = parser.parse_args()
    if args.stream:
        with tempfile.TemporaryDirectory() as tmp:
            report = asyncio.run(
                stream_daemon_fuzz(Path(tmp), cases=args.cases, seed=args.seed, gap=args.gap)
            )
        print(report.render())
        healthy = report.slowest_pass < 5.0 and report.base_again_seconds is not None
        clean = not (report.healthz_failures or report.bad_log_lines or report.canary_hits)
        return 0 if healthy and clean and report.loop_errors_total == 0 else 1

    def progress(o: CaseOutcome) -> None:
        if args.verbose or o.crash or o.canary_hits or o.changed:
            print(f"#{o.index:05d} {o.kind:18} {o.result:40} {o.seconds:6.3f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        table = asyncio.run(
            run_daemon_fuzz(
                Path(tmp),
                cases=args.cases,
                seed=args.seed,
                commit_every=args.commit_every,
                log_level=getattr(logging, args.log_level),
                progress=progress,
            )
        )
    print(table.render())
    s = table.summary()
    bad = s["crashes"] or s["canary_hits"] or s["changed_by_rejected"] or s["bad_log_lines"]
    return 1 if bad or s["exit_code"] != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
