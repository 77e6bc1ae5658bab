"""Print the outcome table of the revision fuzz corpus (tests/helpers/revision_fuzz.py).

The same seeded corpus the suite runs (tests/integration/test_revision_fuzz.py), loaded
in-process, every `--decrypt-every`-th case through the real sops:

    .venv/bin/python benchmarks/revision_fuzz.py [--cases 1200] [--decrypt-every 10] [--seed 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.revision_fuzz import run_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1200)
    parser.add_argument("--decrypt-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        table = run_corpus(
            Path(tmp), cases=args.cases, decrypt_every=args.decrypt_every, seed=args.seed
        )
    s = table.summary()
    print(f"cases            {s['cases']}  ({time.perf_counter() - started:.1f} s in all)")
    print(f"accepted         {s['accepted']}")
    print(f"rejected         {s['rejected']}")
    for cls, n in s["rejected_by_class"].items():
        print(f"  {cls:22} {n}")
    print(f"crashes          {len(s['crashes'])}")
    print(f"canary hits      {len(s['canary_hits'])}")
    print(f"slowest case     {s['slowest'][0]}: {s['slowest'][1]} s")
    print(f"peak RSS         {s['peak_rss_mib']} MiB (this whole process)")
    print("cases by kind    " + ", ".join(f"{k} {n}" for k, n in s["kinds"].items()))


if __name__ == "__main__":
    main()
