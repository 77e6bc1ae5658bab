"""`backfuture sandbox`: serve the local MEXC + KuCoin exchange sandbox until SIGINT/SIGTERM.

Called by cli.py; used by `make demo` and by anyone trying the daemon without real keys. Prints
the three base URLs and the keys loaded (masked), never a secret.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backfuture_daemon.sandbox import Sandbox


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", required=True, metavar="FILE", help="sandbox keys YAML file")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--mexc-port", type=int, default=9101, metavar="P", help="default 9101")
    parser.add_argument("--kucoin-port", type=int, default=9201, metavar="P", help="default 9201")
    parser.add_argument(
        "--kucoin-futures-port", type=int, default=9202, metavar="P", help="default 9202"
    )
    parser.add_argument("--binance-port", type=int, default=9301, metavar="P", help="default 9301")
    parser.add_argument("--okx-port", type=int, default=9401, metavar="P", help="default 9401")
    parser.add_argument("--bybit-port", type=int, default=9501, metavar="P", help="default 9501")
    parser.add_argument("--seed", type=int, default=7, help="price feed seed (default 7)")
    parser.add_argument(
        "--synthetic-markets",
        type=int,
        default=0,
        metavar="N",
        help="also list N filler spot pairs (+N/4 perpetuals each) for exchange-sized benchmarks",
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from backfuture_daemon.errors import ConfigError
    from backfuture_daemon.sandbox import Sandbox, load_keys_file

    try:
        keys = load_keys_file(args.keys)
    except ConfigError as e:
        print(f"backfuture sandbox: {e}", file=sys.stderr)
        return 2
    sandbox = Sandbox(
        keys,
        host=args.host,
        mexc_port=args.mexc_port,
        kucoin_port=args.kucoin_port,
        kucoin_futures_port=args.kucoin_futures_port,
        binance_port=args.binance_port,
        okx_port=args.okx_port,
        bybit_port=args.bybit_port,
        seed=args.seed,
        synthetic_markets=max(0, args.synthetic_markets),
    )
    try:
        return asyncio.run(_serve(sandbox))
    except OSError as e:
        print(f"backfuture sandbox: cannot listen on {args.host}: {e.strerror}", file=sys.stderr)
        return 2


async def _serve(sandbox: Sandbox) -> int:
    import asyncio
    import signal

    from backfuture_daemon.redaction import mask

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sandbox.start()
    try:
        print(f"MEXC (spot v3 + contract v1): {sandbox.mexc_url}")
        print(f"KuCoin spot:                  {sandbox.kucoin_url}")
        print(f"KuCoin futures:               {sandbox.kucoin_futures_url}")
        print(f"Binance (spot + USDT-M):      {sandbox.binance_url}")
        print(f"OKX (spot + swap):            {sandbox.okx_url}")
        print(f"Bybit v5 (spot + linear):     {sandbox.bybit_url}")
        print(f"{len(sandbox.keys)} keys:")
        for key in sandbox.keys:
            print(f"  {key.exchange:<6} {mask(key.api_key):<10} {key.note}")
        print("admin (loopback only): POST /__sandbox/faults, POST /__sandbox/keys/{api_key}, "
              "POST /__sandbox/market, GET /__sandbox/orders?api_key=K, GET /__sandbox/requests; "
              "Ctrl-C to stop", flush=True)  # fmt: skip
        await stop.wait()
    finally:
        await sandbox.stop()
    print("sandbox stopped", flush=True)
    return 0
