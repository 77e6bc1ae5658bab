#!/usr/bin/env bash
# `make demo`: the whole product on the built-in exchange sandbox, on one machine, no accounts.
#   1. `backfuture init` scaffolds a config repository (age key, .sops.yaml, encrypted example)
#   2. `backfuture validate` decrypts and validates it
#   3. `backfuture sandbox` serves MEXC + KuCoin on 127.0.0.1 with demo keys (one per error class)
#   4. `backfuture check` tests every demo connection: every status and error class at once
#   5. `backfuture run` runs the daemon on the demo config; look at /status and /metrics
#   6. a paper bot trades: the demo plays a SOL/USDT price path on the sandbox (down through the
#      adds into Recovery Mode, back up through the take profit) and prints each event from /status
# DEMO_SECONDS=N stops the daemon after N seconds (default: run until Ctrl-C); the paper-bot cycle
# takes about a minute from the daemon's start.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
WORK="$PWD/demo"
HTTP="${DEMO_HTTP:-127.0.0.1:9464}"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$WORK" && mkdir -p "$WORK"

step "1. backfuture init demo/config-repo   (a new config repository, as a DevOps engineer starts)"
"$BIN/backfuture" init "$WORK/config-repo"
KEY_FILE="$(ls "$WORK"/*.age.key | head -1)"

step "2. backfuture validate demo/config-repo   (decrypt with the new age key + validate)"
SOPS_AGE_KEY_FILE="$KEY_FILE" "$BIN/backfuture" validate "$WORK/config-repo"

step "3. backfuture sandbox --keys config/sandbox-keys.demo.yaml   (local MEXC, KuCoin, Binance, OKX, Bybit)"
"$BIN/backfuture" sandbox --keys config/sandbox-keys.demo.yaml > "$WORK/sandbox.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if "$BIN/python" - <<'PY' 2>/dev/null; then break; fi
import socket, sys
for port in (9101, 9201, 9202, 9301, 9401, 9501):
    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
PY
  sleep 0.1
done
head -4 "$WORK/sandbox.log"
SANDBOX_MEXC="http://127.0.0.1:9101"
PAPER_PAIR="SOL/USDT"
PAPER_BOT="Demo Paper SOL"
# Hold the paper bot's pair still, so its first group opens at a known price (150).
"$BIN/python" - "$SANDBOX_MEXC" "$PAPER_PAIR" <<'PY'
import json, sys, urllib.request
body = json.dumps({"symbol": sys.argv[2], "price": 150.0}).encode()
req = urllib.request.Request(sys.argv[1] + "/__sandbox/market", data=body, method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).close()
PY

# The demo config: the documented example (the brief's connections) plus one connection per
# error class and the paper bot of step 6, committed to a git repository like a real config repo.
mkdir -p "$WORK/demo-config"
cp config/connections.example.yaml config/demo-error-cases.yaml config/demo-paper-bot.yaml \
  config/demo-more-exchanges.yaml \
  "$WORK/demo-config/"
git -C "$WORK/demo-config" init -q
git -C "$WORK/demo-config" add -A
git -C "$WORK/demo-config" -c user.name=demo -c user.email=demo@localhost commit -qm "demo config"
export SOPS_AGE_KEY_FILE="$PWD/config/demo.age.key"

step "4. backfuture check demo/demo-config   (the connection test; exit 1 because demo keys fail on purpose)"
"$BIN/backfuture" check "$WORK/demo-config" || echo "(check exit code $?: some demo connections are failed on purpose)"

step "5. backfuture run demo/demo-config --http $HTTP   (the daemon)"
"$BIN/backfuture" run "$WORK/demo-config" --http "$HTTP" --state-dir "$WORK/state" > "$WORK/daemon.log" 2>&1 &
DAEMON=$!
pids+=($DAEMON)
for _ in $(seq 1 150); do
  "$BIN/python" -c "import urllib.request,sys; urllib.request.urlopen('http://$HTTP/readyz', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
sleep 2
"$BIN/python" - "$HTTP" <<'PY'
import json, sys, urllib.request
status = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/status", timeout=5))
print(f"applied revision: {status.get('config', {}).get('applied_revision')}")
for b in status.get("bots", []):
    print(f"  bot {b['strategy']!r:32} on {b['connection']!r:36} {b['state']:8} {b.get('reason', '')}")
PY
cat <<INFO

The daemon is running on the demo config (log: demo/daemon.log).
  Status (JSON):   curl -s http://$HTTP/status
  Metrics:         curl -s http://$HTTP/metrics | grep backfuture_connection_up
  Force reconcile: curl -s -X POST http://$HTTP/reconcile
  Fault injection: curl -s -X POST -d '{"maintenance": true}' http://127.0.0.1:9101/__sandbox/faults
  Move a price:    curl -s -X POST -d '{"symbol": "SOL/USDT", "price": 140}' $SANDBOX_MEXC/__sandbox/market
INFO

step "6. a paper bot trades: $PAPER_BOT on $PAPER_PAIR   (price path on the sandbox; events from /status)"
# The demo moves the price as the bot reaches each stage: down 150 -> 144 once the group is open
# (through add 1 at ~147.75 and add 2 at ~145.05: two adds of three = Recovery Mode), back up to
# 151 once it is recovering (through the recovery take profit, 0.4 % above the average).
"$BIN/python" - "$HTTP" "$SANDBOX_MEXC" "$PAPER_BOT" "$PAPER_PAIR" <<'PY' &
import json, sys, time, urllib.request

http, venue, name, pair = sys.argv[1:5]
t0 = time.monotonic()


def say(text):
    print(f"  [{time.monotonic() - t0:5.1f}s] {text}", flush=True)


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def path(points):
    call(venue + "/__sandbox/market", {"symbol": pair, "path": points})
    say(f"price path on the sandbox: {' -> '.join(str(p) for _, p in points)} "
        f"over {points[-1][0]} s")


state, seen, phase, recovering_at = None, {}, "open", None
while time.monotonic() - t0 < 120:
    try:
        bot = next(b for b in call(f"http://{http}/status")["bots"] if b["strategy"] == name)
    except (OSError, ValueError, StopIteration):
        time.sleep(0.5)
        continue
    if bot["state"] != state:
        state = bot["state"]
        say(f"bot {name!r}: {state} ({bot.get('reason', '')})")
    for g in bot.get("groups", []):
        old = seen.get(g["group_id"])
        if old is None and g["base_price"] is not None:
            say(f"group #{g['group_id']} opened on {g['pair']}: base order filled at "
                f"{float(g['base_price']):.3f}; committed (filled + resting adds) "
                f"{float(g['committed_quote']):.2f} USDT")
        elif old is not None and g["filled_adds"] > old["filled_adds"]:
            say(f"group #{g['group_id']}: add {g['filled_adds']} filled; average "
                f"{float(g['average_price']):.3f}, take profit {g['take_profit_price']}, "
                f"committed {float(g['committed_quote']):.2f} USDT")
        if old is not None and g["mode"] == "recovery" and old["mode"] != "recovery":
            say(f"group #{g['group_id']}: entered Recovery Mode (reason: {g['recovery_reason']}); "
                f"adds only if they improve the average; take profit {g['take_profit_price']}")
            recovering_at = time.monotonic()
        if g["base_price"] is not None:
            seen[g["group_id"]] = g
        if phase == "open" and g["take_profit_price"] is not None:
            phase = "fall"
            path([[0, 150], [15, 144]])
    if phase == "fall" and recovering_at and time.monotonic() - recovering_at > 3:
        phase = "rise"
        path([[0, 144], [15, 151]])
    if bot.get("closed_groups", 0) >= 1:
        say(f"group closed at take profit: realized PnL {float(bot['realized_pnl']):+.4f} USDT "
            f"(paper), closed groups {bot['closed_groups']}")
        say(f"see it in metrics: curl -s http://{http}/metrics | grep 'bot_realized_pnl_quote'")
        break
    time.sleep(0.5)
else:
    say("the paper-bot cycle did not complete in 120 s; see demo/daemon.log")
PY
pids+=($!)
if [[ -n "${DEMO_SECONDS:-}" ]]; then
  sleep "$DEMO_SECONDS"
  kill -TERM "$DAEMON"
  wait "$DAEMON" && echo "daemon stopped cleanly (exit 0)"
else
  echo "Ctrl-C to stop."
  wait "$DAEMON"
fi
