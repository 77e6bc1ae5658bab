"""N paper bots over P pairs in one `backfuture run`: CPU, peak RSS, public requests per tick, and
the time from a price crossing an add's level to the add being filled in the paper book.

Usage: .venv/bin/python benchmarks/bots.py [--bots 1000] [--pairs 20] [--tick 1.0] [--window 30]

Real processes: the sandbox (`backfuture sandbox --synthetic-markets`, MEXC venue) and the daemon
on a git repository of SOPS-encrypted config (one connection, N paper strategies of one pair
each, bot i on pair i mod P, ladder tests/helpers/paperbots.LADDER). Every pair is held at 100.
Once every bot holds an open group with its adds and take profit resting, it measures:
  * a steady window (`--window` s, prices held): the daemon's CPU share of one core (utime +
    stime from /proc) and the public market-data requests per tick from the sandbox's
    `GET /__sandbox/requests`, per hub round (rounds told apart by their idle gaps; target:
    P tickers + P order books each, not N); how long one /status and one /metrics read take;
  * the crossings, to 98 through add 1 (~98.5): first one pair alone, then every other pair at
    once; per bot, the time from its pair's price change to its add's fill in the paper book
    (`paper_fills.at` in the daemon's SQLite, read-only), in seconds and ticks (target <= 2);
  * the daemon's peak RSS (VmHWM). Targets: <= 25 % of one core, <= 350 MiB, <= 2 ticks.
The work directory (config repo, state, logs) is removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.paperbots import paper_strategy, set_market  # noqa: E402
from tests.helpers.processes import (  # noqa: E402
    ConfigRepo,
    DaemonProc,
    Proc,
    free_port,
    http,
    mexc_key,
    wait_until,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")
KEY, SECRET = "benchBOTSkey0000aaaa1111", "benchBOTSsecret2222bbbb3333"
CONN = "MEXC Bench"
TICKER, BOOK = "/api/v3/ticker/24hr", "/api/v3/depth"
HELD, CROSS = 100.0, 98.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pairs_of(p: int) -> list[str]:
    real = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    return (real + [f"SYN{i:04d}/USDT" for i in range(p)])[:p]


class Sandbox(Proc):
    def __init__(self, work: Path, synthetic: int) -> None:
        keys = work / "sandbox-keys.yaml"
        keys.write_text(
            "keys:\n"
            f"  - {{exchange: mexc, api_key: {KEY}, api_secret: {SECRET},\n"
            f"     permissions: {mexc_key(KEY, SECRET)['permissions']},\n"
            "     ip_whitelist: [127.0.0.1]}\n",
            encoding="utf-8",
        )
        self.port = free_port()
        others = ("--kucoin-port", "--kucoin-futures-port", "--binance-port", "--okx-port",
                  "--bybit-port")  # fmt: skip
        argv = [sys.executable, "-m", "backfuture_daemon.cli", "sandbox", "--keys", str(keys),
                "--mexc-port", str(self.port), "--synthetic-markets", str(synthetic)]  # fmt: skip
        for flag in others:  # free ports: never the defaults another sandbox may hold
            argv += [flag, str(free_port())]
        super().__init__(argv, work / "sandbox.log", dict(os.environ))
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            wait_until(lambda: http(f"{self.url}/api/v3/ping") == {}, 30, "sandbox up")
        except BaseException:
            self.stop()
            raise

    def counts(self) -> dict[str, int]:
        return dict(http(f"{self.url}/__sandbox/requests")["venues"].get("mexc", {}))


def documents(n: int, pairs: list[str], url: str) -> dict[str, dict[str, Any]]:
    conn = {"name": CONN, "exchange": "mexc", "api_key": KEY, "api_secret": SECRET}
    return {
        "main.yaml": {
            "version": 1,
            "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [conn | {"endpoints": {"spot": url}}],
        },
        "bots.yaml": {
            "version": 1,
            "strategies": [
                paper_strategy(f"Bench {i:04d}", CONN, [pairs[i % len(pairs)]]) for i in range(n)
            ],
        },
    }


def ready_bots(daemon: DaemonProc) -> int:
    """Bots running with one open group whose take profit and adds rest."""
    n = 0
    for b in daemon.status()["bots"]:
        gs = b.get("groups") or []
        if b["state"] == "running" and len(gs) == 1 and gs[0]["take_profit_price"] is not None:
            n += 1
    return n


def add_fills(db: Path) -> list[tuple[str, float]]:
    """(pair, paper fill time) of every bot's add 1."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(
            "SELECT p.pair, p.at FROM paper_fills p JOIN orders o"
            " ON o.strategy = p.strategy AND o.mode = p.mode"
            " AND o.client_order_id = p.client_order_id"
            " WHERE o.purpose = 'add' AND o.step = 1"
        ).fetchall()
    finally:
        conn.close()


class Crossing:
    """One price move through add 1 on some pairs, and when each of their bots' adds filled."""

    def __init__(self, pairs: list[str]) -> None:
        self.pairs = pairs
        self.moved_at: dict[str, float] = {}
        self.hub_at = 0.0  #: when the hub had polled every pair after the moves (sandbox counts)
        self.fills: list[tuple[str, float]] = []
        self.cpu: list[tuple[float, float]] = []  #: (wall, daemon CPU seconds) samples

    @property
    def peak_cpu(self) -> float:
        """Highest CPU share of one core over any 1 s between the samples."""
        best = 0.0
        for i, (w0, c0) in enumerate(self.cpu):
            for w1, c1 in self.cpu[i + 1 :]:
                if w1 - w0 >= 1.0:
                    best = max(best, (c1 - c0) / (w1 - w0) * 100)
                    break
        return best

    @property
    def latencies(self) -> list[float]:
        return [at - self.moved_at[pair] for pair, at in self.fills]

    @property
    def hub_delay(self) -> float:
        return self.hub_at - max(self.moved_at.values())

    @property
    def after_hub(self) -> list[float]:
        return [at - self.hub_at for _, at in self.fills]


def cross(
    sandbox: Sandbox, db: Path, pid: int, pairs: list[str], polled: int, bots: int
) -> Crossing:
    """Set `pairs` to CROSS, note when the hub's next round (`polled` order books counted by the
    sandbox) is complete, and wait for the add fill of each of the `bots` bots on those pairs."""
    c = Crossing(pairs)
    c.cpu.append((time.monotonic(), cpu_seconds(pid)))
    for pair in pairs:
        t0 = time.time()
        set_market(sandbox.url, pair, price=CROSS)
        c.moved_at[pair] = (t0 + time.time()) / 2
    books = sandbox.counts().get(BOOK, 0)
    while sandbox.counts().get(BOOK, 0) < books + polled:
        time.sleep(0.01)
    c.hub_at = time.time()

    def filled() -> list[tuple[str, float]] | None:
        c.cpu.append((time.monotonic(), cpu_seconds(pid)))
        found = [(p, at) for p, at in add_fills(db) if p in c.moved_at]
        return found if len(found) >= bots else None

    c.fills = wait_until(filled, 60, f"{bots} add fills on {len(pairs)} pair(s)", step=0.1)
    return c


def describe(name: str, c: Crossing, tick: float) -> str:
    lat = c.latencies
    return (
        f"  {name} ({len(lat)} adds on {len(c.pairs)} pair(s)): p50 {statistics.median(lat):.2f} s,"
        f" p95 {pct(lat, 0.95):.2f} s, max {max(lat):.2f} s = {max(lat) / tick:.2f} ticks"
        f" (target <= 2); the hub's next round ~{c.hub_delay:.2f} s after the last move,"
        f" then fills after {min(c.after_hub):.2f}..{max(c.after_hub):.2f} s;"
        f" daemon CPU peak {c.peak_cpu:.0f} % of one core over 1 s;"
        f" fills per 0.5 s after the hub's round: {histogram(c.after_hub, 0.5)}"
    )


def histogram(values: list[float], width: float) -> list[int]:
    counts = [0] * (int(max(values) // width) + 1)
    for v in values:
        counts[int(max(v, 0.0) // width)] += 1
    return counts


def hub_rounds(sandbox: Sandbox, seconds: float) -> list[tuple[int, int]]:
    """(tickers, order books) the sandbox served per hub round, rounds told apart by the idle
    gap between them (counts sampled every 20 ms); the first and last, maybe partial, dropped."""
    rounds: list[list[int]] = []
    last = sandbox.counts()
    last_change = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.02)
        now_counts, now = sandbox.counts(), time.monotonic()
        dt = now_counts.get(TICKER, 0) - last.get(TICKER, 0)
        db = now_counts.get(BOOK, 0) - last.get(BOOK, 0)
        if dt or db:
            if not rounds or now - last_change > 0.3:
                rounds.append([0, 0])
            rounds[-1][0] += dt
            rounds[-1][1] += db
            last_change = now
        last = now_counts
    return [(t, b) for t, b in rounds[1:-1]]


def tick_ages(daemon: DaemonProc) -> tuple[list[float], float]:
    """Seconds since each bot's last tick when a /status request was sent (max ~ the runners'
    period), and how long that request took."""
    sent = time.time()
    bots = daemon.status()["bots"]
    took = time.time() - sent
    return [sent - b["last_tick_at"] for b in bots if b.get("last_tick_at") is not None], took


def timed_get(daemon: DaemonProc, path: str) -> float:
    started = time.monotonic()
    daemon.get(path)
    return time.monotonic() - started


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bots", type=int, default=1000)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--tick", type=float, default=1.0)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    n, tick = args.bots, args.tick
    pairs = pairs_of(args.pairs)

    work = Path(tempfile.mkdtemp(prefix="backfuture-bots-"))
    sandbox = Sandbox(work, max(0, len(pairs) - 3))
    daemon: DaemonProc | None = None
    try:
        for pair in pairs:
            set_market(sandbox.url, pair, price=HELD)
        repo = ConfigRepo(work / "repo", documents(n, pairs, sandbox.url))
        started = time.monotonic()
        daemon = DaemonProc(
            repo.path,
            work,
            repo.key_file,
            extra_env={
                "BACKFUTURE_BOTS_TICK_SECONDS": str(tick),
                # production intervals: the benchmark measures the bots, not re-checks
                "BACKFUTURE_RESYNC_INTERVAL_SECONDS": "60",
                "BACKFUTURE_RECHECK_INTERVAL_SECONDS": "300",
                "BACKFUTURE_CHECK_TIMEOUT_SECONDS": "10",
            },
        )
        pid = daemon.pid
        wait_until(lambda: ready_bots(daemon) == n, 300, f"{n} bots with an open group", step=2)
        setup = time.monotonic() - started
        rss_setup = proc_mib(pid, "VmRSS")

        # Steady window: prices held, every bot ticking.
        http(f"{sandbox.url}/__sandbox/requests", "DELETE")
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        per_round = hub_rounds(sandbox, min(8.0, args.window))
        time.sleep(max(0.0, args.window - (time.monotonic() - wall0)))
        cpu1, wall1 = cpu_seconds(pid), time.monotonic()
        counts = sandbox.counts()
        steady_cpu = (cpu1 - cpu0) / (wall1 - wall0) * 100
        ticks = (wall1 - wall0) / tick
        per_tick = {path: c / ticks for path, c in sorted(counts.items())}
        ages, _ = tick_ages(daemon)
        status_s = max(tick_ages(daemon)[1] for _ in range(3))
        metrics_s = max(timed_get(daemon, "/metrics") for _ in range(3))
        time.sleep(3 * tick)  # the crossings start on a loop the reads above no longer hold

        # The crossings: first one pair (its bots alone fill), then every other pair at once.
        db = daemon.state_dir / "backfuture.sqlite"
        on_first = sum(1 for i in range(n) if i % len(pairs) == 0)
        one = cross(sandbox, db, pid, pairs[:1], len(pairs), on_first)
        rest = cross(sandbox, db, pid, pairs[1:], len(pairs), n - on_first)
        cpu3, wall3 = cpu_seconds(pid), time.monotonic()
        cross_cpu = (cpu3 - cpu1) / (wall3 - wall1) * 100
        rss_peak = proc_mib(pid, "VmHWM")
        log = daemon.output()
    finally:
        if daemon is not None:
            daemon.stop()
        sandbox.stop()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    public = per_tick.get(TICKER, 0.0) + per_tick.get(BOOK, 0.0)
    others = {p: c for p, c in per_tick.items() if p not in (TICKER, BOOK)}
    worst_ticks = max(max(one.latencies), max(rest.latencies)) / tick
    print(f"paper bots: {n} bots over {len(pairs)} pairs in one daemon, tick {tick:g} s")
    print(
        f"  setup: all {n} bots holding an open group after {setup:.1f} s (RSS {rss_setup:.0f} MiB)"
    )
    print(f"  steady ({args.window:g} s, prices held): CPU {steady_cpu:.1f} % of one core "
          f"(target <= 25 %)")  # fmt: skip
    print(f"  public market-data requests per tick: {per_tick.get(TICKER, 0):.2f} tickers + "
          f"{per_tick.get(BOOK, 0):.2f} order books = {public:.2f} "
          f"(distinct pairs x 2 = {2 * len(pairs)}; bots = {n})")  # fmt: skip
    print(
        f"  runners' last tick at one /status read: p50 {statistics.median(ages):.2f} s,"
        f" max {max(ages):.2f} s ago (period ~ interval {tick:g} s + tick time + loop lag)"
    )
    print(
        f"  per hub round ({len(per_round)} whole rounds observed): "
        + ", ".join(f"{t}+{b}" for t, b in per_round)
        + " (tickers+order books)"
    )
    print(
        f"  one GET /status takes up to {status_s:.2f} s, one GET /metrics {metrics_s:.2f} s"
        f" (slowest of 3 each; {n} bots)"
    )
    if others:
        print(f"  other requests per tick: {', '.join(f'{p} {c:.2f}' for p, c in others.items())}")
    print("  crossing an add's level -> the add filled in the paper book (paper_fills.at):")
    print(describe("one pair moved", one, tick))
    print(describe("all other pairs at once", rest, tick))
    print(f"  CPU over both crossings: {cross_cpu:.1f} % of one core")
    print(f"  peak RSS {rss_peak:.0f} MiB (target <= 350 MiB)")
    errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    print(f"  daemon log: {len(errors)} error line(s)")
    for line in errors[:3]:
        print(f"    {line[:200]}")
    ok = (
        steady_cpu <= 25 and rss_peak <= 350 and worst_ticks <= 2 and public <= 2 * len(pairs) + 0.5
    )
    print("  targets: " + ("all met" if ok else "NOT all met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
