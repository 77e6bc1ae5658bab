"""The exchange sandbox: faithful local MEXC (spot v3 + contract v1), KuCoin (spot, futures),
Binance, OKX and Bybit REST APIs for tests, benchmarks and the demo. Started by `backfuture
sandbox` and the integration-test fixture; the real ccxt client talks to it with only its base
URLs changed.

Imports nothing from the package but `backfuture_daemon.errors` (an import-linter contract).
Shared: server (Sandbox, middleware), venue, keys, signing, faults, order_faults, catalogue,
engine (prices + matching), control (test-held prices), quotes, positions, audit, admin routes,
transport; per exchange: mexc/{gateway,spot,market_data,trading,contract} and
kucoin/{gateway,spot,market_data,trading,futures,futures_account}.
"""

from backfuture_daemon.sandbox.faults import Faults
from backfuture_daemon.sandbox.keys import SandboxKey, load_keys_file, parse_keys
from backfuture_daemon.sandbox.server import Sandbox

__all__ = ["Faults", "Sandbox", "SandboxKey", "load_keys_file", "parse_keys"]
