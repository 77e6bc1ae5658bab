"""Crash test of the live order path: SIGKILL the daemon at random moments, restart it, and judge
from the exchange's side that nothing was duplicated, lost or over-committed.

Usage: .venv/bin/python benchmarks/crash_kill.py --runs 50 [--seed 1] [--margin 100] [--low 95]
       [--exchange mexc|kucoin|kucoin-futures|binance-futures|okx|okx-futures|bybit|bybit-futures]
       [--keep]

Real processes: the sandbox (`backfuture sandbox`, every venue on a free port, a key per crash
venue; the venues, their keys, connections and conversions are in benchmarks/crash_venues.py):
MEXC spot traded, or KuCoin HF with `--exchange kucoin`, OKX spot with `--exchange okx` (client
ids without '-'), Bybit spot with `--exchange bybit` (orderLinkId), or a `market: futures,
leverage: 2` strategy on a USDT perpetual: KuCoin futures with `--exchange kucoin-futures` (a key
with General + Futures, the futures venue in endpoints.futures, XBTUSDTM in contracts of 0.001
BTC), Binance USDⓈ-M with `--exchange binance-futures` (BTCUSDT in base, fills under Binance's
trade numbers), OKX swaps with `--exchange okx-futures` (BTC-USDT-SWAP in contracts of 0.01 BTC,
an account in Spot and futures mode, acctLv 2) or Bybit linear with `--exchange bybit-futures`
(BTCUSDT in base; the unified account set to isolated margin before the daemon starts); the
judge converts the audit's contracts to base and samples the positions' margin,
and `backfuture run` on a git repo of SOPS-encrypted config
with one live strategy
(tests/helpers/paperbots.LADDER, margin_limit 100 or `--margin`: 57.5 is the whole ladder, the
least the config accepts, so the cap binds once add 3 rests; bots tick every 0.2 s). Prices move
between `--low` (95; add 3 rests near 94.5) and 102. Each run starts the
daemon on the same state directory, waits for the bot to run, checks the state the restart left
(below), then moves the price along a random path across the adds and take profits, sometimes
makes the sandbox withhold answers (`accept_then_timeout`: orders accepted, answer never sent;
`drop_cancel_answer`), and SIGKILLs the daemon after a random 0.3-4 s. While it runs, the
exchange-side committed quote is sampled from `GET /__sandbox/orders`. After each restart (and
once more at the end), with the price held, it checks from the sandbox's audit:
  * duplicates: client order ids with more than one exchange order (must be 0);
  * lost fills: exchange fills of the bot's orders missing from its SQLite fill ledger once the
    restarted bot settled (must be 0), and exchange orders with no intent in SQLite (must be 0);
  * margin: the committed quote of the book the exchange shows (orders and fills with the bot's
    prefix replayed, bots/live_rebuild.replay) and the one /status shows, never above the limit;
    after the restart settled, /status's committed quote equals the exchange's (q_diff).
Prints one row per run and a summary; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backfuture_daemon.bots.db import FILENAME  # noqa: E402
from backfuture_daemon.bots.intents import id_separator, strategy_tag  # noqa: E402
from backfuture_daemon.bots.live_guard import live_epoch  # noqa: E402
from backfuture_daemon.bots.live_rebuild import order_key, replay  # noqa: E402
from backfuture_daemon.bots.spec import RunnerSpec  # noqa: E402
from backfuture_daemon.configuration.models import Strategy  # noqa: E402
from backfuture_daemon.exchanges.port import Fill, OrderAck, OrderState, Side  # noqa: E402
from benchmarks.crash_venues import (  # noqa: E402, F401 (keys re-exported for the e2e tests)
    API_KEY,
    API_SECRET,
    LEVERAGE,
    OKX_KEY,
    OKX_PASS,
    OKX_SECRET,
    PORTS,
    VENUES,
)
from tests.helpers.paperbots import paper_strategy, set_market  # noqa: E402
from tests.helpers.processes import (  # noqa: E402
    ConfigRepo,
    DaemonProc,
    Proc,
    _cli,
    free_port,
    http,
    wait_until,
)

CONN, BOT, PAIR = "MEXC Live", "BTC Live DCA", "BTC/USDT"
TICK_ENV = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2"}
FAULTS = ("none", "none", "accept_then_timeout", "drop_cancel_answer")
STATES = {"filled": OrderState.FILLED, "canceled": OrderState.CANCELED}


class SandboxAll(Proc):
    """`backfuture sandbox` with every venue on a free port (no clash with default ports) and
    every crash venue's key; the traded one's set-up (crash_venues) done before it returns."""

    def __init__(self, workdir: Path, exchange: str = "mexc") -> None:
        import yaml

        self.exchange = exchange
        self.venue = VENUES[exchange]
        workdir.mkdir(parents=True, exist_ok=True)
        keys = workdir / "sandbox-keys.yaml"
        doc = {"keys": [v.sandbox_key() for v in VENUES.values()]}
        keys.write_text(yaml.safe_dump(doc), "utf-8")
        self.ports = {name: free_port() for name in PORTS}
        ports = (a for n, port in self.ports.items() for a in (f"--{n}-port", str(port)))
        argv = _cli("sandbox", "--keys", str(keys), *ports)
        super().__init__(argv, workdir / "sandbox.log", dict(os.environ))
        try:
            wait_until(lambda: http(f"{self.url}/api/v3/ping") == {}, 30, "sandbox up")
            if self.venue.setup is not None:
                self.venue.setup(self.venue_url)
        except BaseException:
            self.stop()
            raise

    def port_url(self, port: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}"

    @property
    def url(self) -> str:
        return self.port_url("mexc")

    @property
    def venue_url(self) -> str:
        """The traded venue (faults are per venue; market and audits are sandbox-wide)."""
        return self.port_url(self.venue.port)

    def faults(self, **faults: Any) -> None:
        http(f"{self.venue_url}/__sandbox/faults", "POST", faults)

    def audit(self) -> list[dict[str, Any]]:
        return list(http(f"{self.url}/__sandbox/orders?api_key={self.venue.api_key}")["orders"])

    def position_margin(self) -> Decimal:
        """The isolated margin the account's perpetual positions lock now (0 on spot)."""
        doc = http(f"{self.url}/__sandbox/orders?api_key={self.venue.api_key}")
        return sum((Decimal(p["margin"]) for p in doc.get("positions", [])), Decimal(0))

    def connection(self) -> dict[str, Any]:
        """The config's connection to the traded venue (crash_venues)."""
        return self.venue.connection(CONN, self.port_url)


MARGIN = {"limit": 100.0, "low": 95.0}
VENUE = {"exchange": "mexc"}


def futures() -> bool:
    return VENUES[VENUE["exchange"]].futures


def live_strategy() -> dict[str, Any]:
    doc = {**paper_strategy(BOT, CONN), "mode": "live", "margin_limit": MARGIN["limit"]}
    if futures():
        doc.update(market="futures", leverage=LEVERAGE)
    return doc


class Judge:
    """What the exchange shows of the bot, and what its SQLite ledger holds."""

    def __init__(self, state_dir: Path, exchange: str = "mexc") -> None:
        doc = live_strategy()
        strategy = Strategy.model_validate(doc)
        self.params = strategy.dca_params()
        self.margin = self.params.margin_limit
        spec = RunnerSpec(BOT, CONN, "live", self.params, "USDT")
        self.venue = VENUES[exchange]
        sep = id_separator(self.venue.exchange)
        self.prefix = f"bf{strategy_tag(BOT, live_epoch(spec))}{sep}"
        self.db_path = state_dir / FILENAME

    def mine(self, audit: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [o for o in audit if str(o.get("client_order_id") or "").startswith(self.prefix)]

    def committed(self, audit: list[dict[str, Any]]) -> Decimal:
        """Committed quote of the book the exchange shows (the rebuild's replay)."""
        orders, fills = [], []
        for o in self.mine(audit):
            key = order_key(o["client_order_id"], self.prefix)
            if key is None:
                continue
            state = STATES.get(o["status"], OrderState.OPEN)
            price = Decimal(o["price"]) if o.get("price") else None
            lot = self.venue.lot(o)
            ack = OrderAck(o["client_order_id"], str(o["order_id"]), o["symbol"], Side(o["side"]),
                           state, Decimal(o["amount"]) * lot, Decimal(o["filled"]) * lot, price,
                           timestamp=o["created_ms"] / 1000)  # fmt: skip
            orders.append((key, ack))
            for f in o["fills"]:
                fill = Fill(str(f["trade_id"]), ack.order_id, ack.client_order_id, ack.pair,
                            ack.side, Decimal(f["price"]), Decimal(f["amount"]) * lot, Decimal(0),
                            "USDT", f["time_ms"] / 1000)  # fmt: skip
                fills.append((key, fill, Decimal(0)))
        return replay(orders, fills, self.params.sizing).committed_quote

    def trade_id(self, audit_id: str) -> str:
        """The id the exchange's fills carry: Binance's trade number of the engine's hex id
        (sandbox/binance/trading.trade_number), the engine's id elsewhere (crash_venues)."""
        return self.venue.trade_id(audit_id)

    def ledger(self) -> tuple[set[str], dict[str, str]]:
        """(trade ids in the fill ledger, client order id -> intent state)."""
        if not self.db_path.exists():
            return set(), {}
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        try:
            fills = {
                str(r[0])
                for r in con.execute(
                    "SELECT trade_id FROM fills WHERE strategy=? AND mode='live'", (BOT,)
                )
            }
            intents = {str(r[0]): str(r[1]) for r in con.execute(
                "SELECT client_order_id, state FROM orders WHERE strategy=? AND mode='live'",
                (BOT,))}  # fmt: skip
        finally:
            con.close()
        return fills, intents

    def check(self, audit: list[dict[str, Any]]) -> dict[str, int]:
        mine = self.mine(audit)
        fills, intents = self.ledger()
        ids = Counter(o["client_order_id"] for o in mine)
        on_exchange = {self.trade_id(f["trade_id"]) for o in mine for f in o["fills"]}
        return {
            "orders": len(mine),
            "dup": sum(n - 1 for n in ids.values() if n > 1),
            "lost": len(on_exchange - fills),
            "no_intent": len(set(ids) - set(intents)),
            "unsettled": sum(1 for s in intents.values() if s in ("pending", "unknown")),
        }


def settle(
    sandbox: SandboxAll, judge: Judge, timeout: float = 30.0
) -> tuple[dict[str, int], float]:
    """Wait (price held) until the restarted bot's ledger has caught up with the exchange."""
    t0 = time.monotonic()
    result = judge.check(sandbox.audit())
    while time.monotonic() - t0 < timeout:
        if not (result["lost"] or result["no_intent"] or result["unsettled"]):
            break
        time.sleep(0.2)
        result = judge.check(sandbox.audit())
    return result, time.monotonic() - t0


def agreement(
    sandbox: SandboxAll, daemon: DaemonProc, judge: Judge, timeout: float = 5.0
) -> tuple[Decimal, Decimal]:
    """(exchange-side committed quote, /status's minus it) once the bot is quiet: the two reads
    are not atomic, so a reading counts only when /status did not change around the audit."""
    t0 = time.monotonic()
    while True:
        before = _committed(daemon)
        seen = judge.committed(sandbox.audit())
        after = _committed(daemon)
        diff = after - seen
        if (before == after and abs(diff) <= Decimal("0.01")) or time.monotonic() - t0 > timeout:
            return seen, diff
        time.sleep(0.3)


def _committed(daemon: DaemonProc) -> Decimal:
    entry = bot_entry(daemon) or {}
    return Decimal(str(entry.get("committed_quote") or 0))


def bot_entry(daemon: DaemonProc) -> dict[str, Any] | None:
    return next((b for b in daemon.status().get("bots", []) if b["strategy"] == BOT), None)


def running(daemon: DaemonProc) -> bool:
    b = bot_entry(daemon)
    return b is not None and b.get("gate") == "run" and b.get("last_tick_at") is not None


def price_now(sandbox: SandboxAll) -> float:
    return float(http(f"{sandbox.url}/__sandbox/market?symbol={PAIR}")["price"])


def run(
    runs: int,
    seed: int,
    work: Path,
    out: Any = sys.stdout,
    margin: float = 100.0,
    low: float = 95.0,
    exchange: str = "mexc",
) -> list[dict[str, Any]]:
    MARGIN["limit"], MARGIN["low"] = margin, low
    VENUE["exchange"] = exchange
    rng = random.Random(seed)
    sandbox = SandboxAll(work / "sandbox", exchange)
    rows: list[dict[str, Any]] = []
    try:
        set_market(sandbox.url, price=100.0)
        repo = ConfigRepo(work / "repo", {"main.yaml": {
            "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [sandbox.connection()],
            "strategies": [live_strategy()]}})  # fmt: skip
        state = work / "state"
        judge = Judge(state, exchange)
        print(f"{'run':>3} {'kill_s':>6} {'fault':<20} {'unans':>5} {'orders':>6} {'dup':>3} "
              f"{'lost':>4} {'noint':>5} {'max_ex_q':>9} {'max_st_q':>9} {'max_mg':>7} "
              f"{'q_diff':>7} {'settle_s':>8} ok",
              file=out, flush=True)  # fmt: skip
        pending: dict[str, Any] | None = None
        for i in range(runs + 1):
            daemon = DaemonProc(repo.path, work, repo.key_file, state_dir=state,
                                extra_env=TICK_ENV)  # fmt: skip
            try:
                wait_until(partial(running, daemon), 30, "live bot running")
                set_market(sandbox.url, price=price_now(sandbox))
                result, settle_s = settle(sandbox, judge)
                if pending is not None:  # the checks of the previous run, after its restart
                    pending.update(result, settle_s=settle_s)
                    # fills while the daemon was down count too; and after the restart the
                    # bot's committed quote should equal the exchange's
                    seen, diff = agreement(sandbox, daemon, judge)
                    pending["max_ex_q"] = max(pending["max_ex_q"], seen)
                    pending["q_diff"] = diff
                    pending["ok"] = not (pending["dup"] or pending["lost"] or pending["no_intent"]
                                         or pending["max_ex_q"] > judge.margin
                                         or pending["max_st_q"] > judge.margin
                                         or pending["max_mg"] > judge.margin
                                         or abs(pending["q_diff"]) > Decimal("0.01"))  # fmt: skip
                    rows.append(pending)
                    print(_row(pending), file=out, flush=True)
                if i == runs:
                    break
                pending = trade_and_kill(i, rng, sandbox, daemon, judge)
            finally:
                if daemon.p.poll() is None:
                    daemon.signal(signal.SIGTERM)
                    try:
                        daemon.wait(15)
                    except Exception:
                        daemon.p.kill()
                daemon.stop()
            sandbox.faults(accept_then_timeout=False, drop_cancel_answer=False)
    finally:
        sandbox.stop()
    return rows


def trade_and_kill(
    i: int, rng: random.Random, sandbox: SandboxAll, daemon: DaemonProc, judge: Judge
) -> dict[str, Any]:
    kill_after = rng.uniform(0.3, 4.0)
    fault = rng.choice(FAULTS)
    fault_at = rng.uniform(0.0, kill_after)
    p = price_now(sandbox)
    path, t = [[0.0, p]], 0.0
    for _ in range(3):
        t += rng.uniform(0.5, 2.0)
        path.append([t, round(rng.uniform(MARGIN["low"], 102.0), 2)])
    set_market(sandbox.url, path=path)
    t0 = time.monotonic()
    max_ex = max_st = max_mg = Decimal(0)
    faulted = False
    while (elapsed := time.monotonic() - t0) < kill_after:
        if fault != "none" and not faulted and elapsed >= fault_at:
            sandbox.faults(**{fault: True})
            faulted = True
        max_ex = max(max_ex, judge.committed(sandbox.audit()))
        if futures():
            max_mg = max(max_mg, sandbox.position_margin())
        try:
            b = bot_entry(daemon)
        except OSError:
            b = None
        if b is not None:
            max_st = max(max_st, Decimal(str(b.get("committed_quote") or 0)))
        time.sleep(0.05)
    daemon.p.send_signal(signal.SIGKILL)
    daemon.p.wait(10)
    _, intents = judge.ledger()
    unanswered = sum(1 for s in intents.values() if s in ("pending", "unknown"))
    max_ex = max(max_ex, judge.committed(sandbox.audit()))
    return {"run": i + 1, "kill_s": kill_after, "fault": fault if faulted else "none",
            "unans": unanswered, "max_ex_q": max_ex, "max_st_q": max_st,
            "max_mg": max_mg}  # fmt: skip


def _row(r: dict[str, Any]) -> str:
    return (f"{r['run']:>3} {r['kill_s']:>6.2f} {r['fault']:<20} {r['unans']:>5} {r['orders']:>6} "
            f"{r['dup']:>3} {r['lost']:>4} {r['no_intent']:>5} {r['max_ex_q']:>9.2f} "
            f"{r['max_st_q']:>9.2f} {r['max_mg']:>7.2f} {r['q_diff']:>7.2f} {r['settle_s']:>8.2f} "
            f"{'yes' if r['ok'] else 'NO'}")  # fmt: skip


def summary(rows: list[dict[str, Any]], margin: Decimal) -> str:
    return (f"runs {len(rows)}: duplicate orders {sum(r['dup'] for r in rows)}, lost fills "
            f"{sum(r['lost'] for r in rows)}, orders without intent "
            f"{sum(r['no_intent'] for r in rows)}, runs killed with unanswered intents "
            f"{sum(1 for r in rows if r['unans'])}, runs with a withheld-answer fault "
            f"{sum(1 for r in rows if r['fault'] != 'none')}, max committed quote (exchange) "
            f"{max((r['max_ex_q'] for r in rows), default=0):.2f} / (status) "
            f"{max((r['max_st_q'] for r in rows), default=0):.2f} of margin {margin}; max position "
            f"margin (exchange) {max((r['max_mg'] for r in rows), default=0):.2f}; "
            f"exchange orders {rows[-1]['orders'] if rows else 0}; runs where /status and the "
            f"exchange disagreed on committed quote after the restart "
            f"{sum(1 for r in rows if abs(r['q_diff']) > Decimal('0.01'))}; "
            f"failed runs {sum(1 for r in rows if not r['ok'])}")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--margin", type=float, default=100.0, help="the strategy's margin_limit")
    ap.add_argument("--low", type=float, default=95.0, help="lowest price of the random path")
    ap.add_argument("--exchange", default="mexc", choices=tuple(VENUES),
                    help="the traded venue (kucoin: an HF account; okx, bybit: spot; "
                    "kucoin-futures, binance-futures, okx-futures, bybit-futures: USDT "
                    "perpetual at leverage 2; benchmarks/crash_venues.py)")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crash-kill-"))
    try:
        rows = run(args.runs, args.seed, work, margin=args.margin, low=args.low,
                   exchange=args.exchange)  # fmt: skip
        margin = Judge(work / "state").margin
        print(summary(rows, margin))
        return 0 if rows and all(r["ok"] for r in rows) else 1
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
