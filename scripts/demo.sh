#!/usr/bin/env bash
# `make demo`: the whole product on the built-in exchange sandbox, on one machine, no accounts.
#   1. `backfuture init` scaffolds a config repository (age key, .sops.yaml, encrypted example)
#   2. `backfuture validate` decrypts and validates it
#   3. `backfuture sandbox` serves MEXC + KuCoin on 127.0.0.1 with demo keys (one per error class)
#   4. `backfuture check` tests every demo connection: every status and error class at once
#   5. `backfuture run` runs the daemon on the demo config; look at /status and /metrics
# DEMO_SECONDS=N stops the daemon after N seconds (default: run until Ctrl-C).
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

step "3. backfuture sandbox --keys config/sandbox-keys.demo.yaml   (local MEXC + KuCoin)"
"$BIN/backfuture" sandbox --keys config/sandbox-keys.demo.yaml > "$WORK/sandbox.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if "$BIN/python" - <<'PY' 2>/dev/null; then break; fi
import socket, sys
for port in (9101, 9201, 9202):
    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
PY
  sleep 0.1
done
head -4 "$WORK/sandbox.log"

# The demo config: the documented example (the brief's connections) plus one connection per
# error class, committed to a git repository like a real config repo.
mkdir -p "$WORK/demo-config"
cp config/connections.example.yaml config/demo-error-cases.yaml "$WORK/demo-config/"
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
INFO
if [[ -n "${DEMO_SECONDS:-}" ]]; then
  sleep "$DEMO_SECONDS"
  kill -TERM "$DAEMON"
  wait "$DAEMON" && echo "daemon stopped cleanly (exit 0)"
else
  echo "Ctrl-C to stop."
  wait "$DAEMON"
fi
