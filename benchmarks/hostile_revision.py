"""Cost of loading hostile revisions just under the 5 MiB cap: wall time and peak RSS per shape.

Each shape is written as one 4.8 MB file and loaded by `load_revision(decrypt=False)` in a fresh
Python process (so peak RSS is that load's alone, read from wait4). Prints one row per shape:

    .venv/bin/python benchmarks/hostile_revision.py [--size-mb 4.8] [--root DIR]

`--root` runs the loader of another checkout (e.g. an older commit, `git archive` to a folder)
to compare. The bar (issue 8): about a second and well under the 512 MiB container limit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.errors import ConfigError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    load_revision(Path(sys.argv[2]), decrypt=False)
    outcome = "accepted"
except ConfigError as e:
    outcome = ",".join(e.error_classes) + " | " + e.issues[0].message[:80]
print(f"{time.perf_counter() - started:.3f}\t{before / 1024:.0f}\t{outcome}")
"""


def _flat(n: int) -> str:
    return "".join(f"k{i}: v\n" for i in range(n // 12))


def _flow(n: int) -> str:
    return "x: [" + ", ".join(["1"] * ((n - 20) // 3)) + "]\n"


def _alias_fanout(n: int) -> str:
    return "a: &a [x, x, x, x, x, x, x, x]\nb: [" + ", ".join(["*a"] * ((n - 60) // 4)) + "]\n"


def _billion_laughs(n: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n" + "#" * (n - 1000) + "\n"


def _deep(n: int) -> str:
    return "x: " + "[" * 70 + "]" * 70 + "\n" + "# pad\n" * ((n - 300) // 6)


def _deep_flow_huge(n: int) -> str:
    half = n // 2 - 10
    return "x: " + "[" * half + "]" * half + "\n"


def _huge_scalar(n: int) -> str:
    return "x: " + "a" * (n - 10) + "\n"


def _huge_secret(n: int) -> str:
    return (
        "connections:\n  - name: MEXC Main\n    exchange: mexc\n    api_secret: s\n"
        "    api_key: " + "k" * (n - 120) + "\n"
    )


def _documents(n: int) -> str:
    return "---\nversion: 1\n" * ((n - 20) // 15)


def _anchors(n: int) -> str:
    return "".join(f"k{i}: &a{i} v\n" for i in range(n // 21))


SHAPES: dict[str, Callable[[int], str]] = {
    "flat mapping (400k keys)": _flat,
    "flow list (1.6M ints)": _flow,
    "alias fan-out (1.2M *a)": _alias_fanout,
    "billion laughs + padding": _billion_laughs,
    "70 levels + padding": _deep,
    "2.4M levels of [": _deep_flow_huge,
    "one 4.8 MB scalar": _huge_scalar,
    "4.8 MB api_key": _huge_secret,
    "320k documents": _documents,
    "228k anchors": _anchors,
}


def measure(root: Path, path: Path) -> tuple[float, float, float, str]:
    """(seconds of the load, process peak RSS MiB, RSS before the load, outcome)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if proc.returncode != 0 or last.count("\t") != 2:
        return float("nan"), usage.ru_maxrss / 1024, float("nan"), f"CRASH: {last[:80]}"
    seconds, before, outcome = last.split("\t")
    return float(seconds), usage.ru_maxrss / 1024, float(before), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=4.8)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose loader to run")
    parser.add_argument("--only", nargs="*", default=(), help="shape name prefixes to run")
    args = parser.parse_args()
    size = int(args.size_mb * 1_000_000)
    print(f"loader: {args.root}  file size: {size} bytes (one file per shape, fresh process)")
    print(f"{'shape':28} {'load s':>7} {'peak MiB':>9} {'before':>7}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in SHAPES.items():
            if args.only and not any(name.startswith(o) for o in args.only):
                continue
            d = Path(tmp) / name.split()[0]
            d.mkdir()
            text = "version: 1\n" + make(size - 20)
            assert len(text) <= size, (name, len(text))  # whole, valid-looking YAML: no cut
            (d / "c.yaml").write_text(text)
            seconds, rss, before, outcome = measure(args.root, d)
            print(f"{name:28} {seconds:7.2f} {rss:9.0f} {before:7.0f}  {outcome}")


if __name__ == "__main__":
    main()
