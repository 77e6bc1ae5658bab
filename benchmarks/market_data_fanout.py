"""Shared market data fan-out: S subscribers (bots) over P pairs on one exchange endpoint.

Usage: .venv/bin/python benchmarks/market_data_fanout.py [--subscribers 1000] [--pairs 20]
       [--ticks 20] [--interval 1.0] [--exchange mexc|kucoin] [--market spot|futures]

`--market futures` (KuCoin only) subscribes the pairs' USDT perpetuals: the hub polls the futures
host (ticker + level-2 depth 20 per perpetual), counted on the sandbox's kucoinfutures venue.

The sandbox runs as a separate process (`backfuture sandbox --synthetic-markets`), the
MarketDataHub (exchanges/market_data.py) in this one, ticking every `interval` seconds. Prints
public requests per tick counted by the sandbox (target: exactly P tickers + P order books, not S),
tick duration p50/p95, this process's CPU share of one core and peak RSS, and how many
subscribers read a fresh quote after each tick.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.processes import Proc, free_port, http, wait_until  # noqa: E402

TICKER = {"mexc": "/api/v3/ticker/24hr", "kucoin": "/api/v1/market/stats",
          "kucoinfutures": "/api/v1/ticker"}  # fmt: skip
BOOK = {"mexc": "/api/v3/depth", "kucoin": "/api/v1/market/orderbook/level2_20",
        "kucoinfutures": "/api/v1/level2/depth20"}  # fmt: skip


def _counts(admin: str, venue: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{admin}/__sandbox/requests", timeout=10) as resp:  # noqa: S310
        doc = json.loads(resp.read())
    return dict(doc["venues"].get(venue, {}))


def _pairs(p: int, market: str = "spot") -> list[str]:
    if market == "futures":  # the sandbox lists a perpetual for every 4th synthetic pair
        return (["BTC/USDT", "ETH/USDT"] + [f"SYN{i:04d}/USDT" for i in range(0, 4 * p, 4)])[:p]
    real = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    return (real + [f"SYN{i:04d}/USDT" for i in range(p)])[:p]


def _venue(args: argparse.Namespace) -> str:
    return "kucoinfutures" if args.market == "futures" else str(args.exchange)


async def _run(args: argparse.Namespace, urls: dict[str, str], admin: str) -> dict[str, Any]:
    from backfuture_daemon.configuration.models import Endpoints
    from backfuture_daemon.exchanges.market_data import MarketDataHub

    pairs = _pairs(args.pairs, args.market)
    hub = MarketDataHub(timeout=10.0)
    futures = urls["kucoinfutures"] if args.market == "futures" else None
    endpoints = Endpoints(spot=urls[args.exchange], futures=futures)
    venue = _venue(args)
    subs = [hub.subscribe(args.exchange, endpoints, [pairs[i % len(pairs)]], market=args.market)
            for i in range(args.subscribers)]  # fmt: skip
    await hub.tick()  # first tick loads the markets (counted apart)
    before = _counts(admin, venue)
    durations, per_tick, fresh = [], [], []
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    for _ in range(args.ticks):
        started = time.monotonic()
        await hub.tick()
        durations.append(time.monotonic() - started)
        after = _counts(admin, venue)
        per_tick.append(
            (
                after.get(TICKER[venue], 0) - before.get(TICKER[venue], 0),
                after.get(BOOK[venue], 0) - before.get(BOOK[venue], 0),
            )
        )
        before = after
        now = time.time()
        fresh.append(
            sum(1 for s in subs if (q := s.quote(s.pairs[0])) is not None and now - q.timestamp < 2)
        )
        await asyncio.sleep(max(args.interval - (time.monotonic() - started), 0.0))
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    failures = sum(1 for s in subs if s.failure(s.pairs[0]) is not None)
    await hub.close()
    return {"durations": durations, "per_tick": per_tick, "fresh": fresh, "cpu": cpu,
            "wall": wall, "failures": failures}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--ticks", type=int, default=20)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--exchange", choices=["mexc", "kucoin"], default="mexc")
    ap.add_argument("--market", choices=["spot", "futures"], default="spot")
    args = ap.parse_args()
    if args.market == "futures" and args.exchange != "kucoin":
        ap.error("--market futures: the hub has futures market data for kucoin only")
    synthetic = 4 * args.pairs if args.market == "futures" else args.pairs

    work = Path(tempfile.mkdtemp(prefix="backfuture-md-"))
    keys = work / "keys.yaml"
    keys.write_text("keys: []\n", encoding="utf-8")
    ports = {"mexc": free_port(), "kucoin": free_port(), "kucoinfutures": free_port()}
    argv = [sys.executable, "-m", "backfuture_daemon.cli", "sandbox", "--keys", str(keys),
            "--mexc-port", str(ports["mexc"]), "--kucoin-port", str(ports["kucoin"]),
            "--kucoin-futures-port", str(ports["kucoinfutures"]),
            "--binance-port", "0", "--okx-port", "0", "--bybit-port", "0",
            "--synthetic-markets", str(synthetic)]  # fmt: skip
    sandbox = Proc(argv, work / "sandbox.log", dict(os.environ))
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        wait_until(lambda: http(f"{urls['mexc']}/api/v3/ping") == {}, 30, "sandbox up")
        result = asyncio.run(_run(args, urls, urls["mexc"]))
    finally:
        sandbox.stop()

    p, s = args.pairs, args.subscribers
    tickers = [t for t, _ in result["per_tick"]]
    books = [b for _, b in result["per_tick"]]
    d = sorted(result["durations"])
    p95 = d[min(len(d) - 1, round(0.95 * (len(d) - 1)))]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_share = result["cpu"] / result["wall"] * 100
    lines = [
        f"market data fan-out: {s} subscribers over {p} pairs on {args.exchange} "
        f"{args.market}, "
        f"{args.ticks} ticks every {args.interval:g} s (sandbox in a separate process)",
        f"  requests per tick (sandbox-counted): tickers {min(tickers)}..{max(tickers)}, "
        f"order books {min(books)}..{max(books)} (distinct pairs: {p}; subscribers: {s})",
        f"  tick duration: p50 {statistics.median(d) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms",
        f"  CPU: {cpu_share:.1f} % of one core; peak RSS {rss:.0f} MiB",
        f"  subscribers reading a quote < 2 s old after each tick: min {min(result['fresh'])}"
        f"/{s}; pairs failing at the end: {result['failures']}",
    ]
    print("\n".join(lines))
    ok = set(tickers) == {p} and set(books) == {p}
    print(f"  target (requests per tick == distinct pairs): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
