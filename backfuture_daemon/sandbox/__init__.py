"""The exchange sandbox: faithful local MEXC (spot v3 + contract v1) and KuCoin (spot, futures)
REST APIs for tests, benchmarks and the demo. Started by `backfuture sandbox` and the
integration-test fixture; the real ccxt client talks to it with only its base URLs changed.
"""

from backfuture_daemon.sandbox.faults import Faults
from backfuture_daemon.sandbox.keys import SandboxKey, load_keys_file, parse_keys
from backfuture_daemon.sandbox.server import Sandbox

__all__ = ["Faults", "Sandbox", "SandboxKey", "load_keys_file", "parse_keys"]
