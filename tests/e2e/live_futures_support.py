"""The daemon harness of the live futures end-to-end tests (test_live_*_futures.py): a table of
the four futures venues (the sandbox key, the connection, what the audit shows), a `backfuture
sandbox` process with every venue on a free port (test_live_bybit.py uses it for spot too), the
config repository with a `mode: live, market: futures, leverage: 3` strategy, and the long the
bot trades there, from the connection test to the take profit.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import yaml

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges import binance, bybit
from tests.helpers.configrepo import CANARIES, CANARY_KEY, CANARY_PASSPHRASE, CANARY_SECRET
from tests.helpers.processes import (
    ConfigRepo,
    DaemonProc,
    PortTaken,
    Proc,
    _cli,
    free_ports,
    http,
    wait_until,
)

PAIR = "BTC/USDT"
VENUE_PORTS = ("mexc", "kucoin", "kucoin-futures", "binance", "okx", "bybit")
TICK = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2"}
DEBUG_JSON = {**TICK, "BACKFUTURE_LOG_LEVEL": "DEBUG", "BACKFUTURE_LOG_FORMAT": "json"}


@dataclass(frozen=True)
class LiveFuturesVenue:
    """One venue's live futures bot end to end: its sandbox key and connection, the contract
    the audit shows, and what its logs must say."""

    name: str
    exchange: str
    conn: str
    bot: str
    key: dict[str, Any]  # the sandbox key: api_key, api_secret (passphrase), permissions
    admin: str  # the venue port whose `/__sandbox/...` the tests read and drive
    spot_port: str
    futures_port: str | None  # an endpoint of its own for futures (KuCoin)
    instrument_id: str
    contract: Decimal  # BTC a contract, as the sandbox's positions count
    min_contracts: Decimal  # the position after the base order (150 USDT at ~60,000)
    client_id: re.Pattern[str]
    env: dict[str, str]
    secrets: tuple[str, ...]  # in no log, /status or /metrics
    recovery: bool = False
    own_market_data: bool = True  # decides on the perpetual's prices (no spot fallback)
    whole_contracts: bool = False  # the position counts whole contracts (KuCoin)
    log_marker: str = ""  # a line the logs must hold (their level)

    def __str__(self) -> str:
        return self.name


BF_ID = re.compile(r"^bf[A-Za-z0-9_-]+$")
KUCOIN_KEY, KUCOIN_SECRET = "kc-" + CANARY_KEY, "kc-" + CANARY_SECRET
KUCOIN_PERMS = ["General", "Spot", "Futures"]
KUCOIN = LiveFuturesVenue(
    name="kucoin", exchange="kucoin", conn="KuCoin Futures Live", bot="BTC Futures Live",
    key={"api_key": KUCOIN_KEY, "api_secret": KUCOIN_SECRET, "passphrase": CANARY_PASSPHRASE,
         "permissions": KUCOIN_PERMS},
    admin="mexc", spot_port="kucoin", futures_port="kucoin-futures", instrument_id="XBTUSDTM",
    contract=Decimal("0.001"), min_contracts=Decimal(2), client_id=BF_ID, env=TICK,
    secrets=(*CANARIES, KUCOIN_KEY, KUCOIN_SECRET), recovery=True, own_market_data=False,
    whole_contracts=True,
)  # fmt: skip
BINANCE_KEY = "BNe2eCANARYbinanceFutures0001"
BINANCE_SECRET = "CANARY-binance-futures-e2e-secret-0001-abcdef"
BINANCE = LiveFuturesVenue(
    name="binance", exchange="binance", conn="Binance Futures Live", bot="BTC Binance Futures",
    key={"api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET,
         "permissions": ["enableReading", "enableSpotAndMarginTrading", "enableFutures"]},
    admin="binance", spot_port="binance", futures_port=None, instrument_id="BTCUSDT",
    contract=Decimal(1), min_contracts=Decimal("0.002"), client_id=BF_ID, env=DEBUG_JSON,
    secrets=(BINANCE_KEY, BINANCE_SECRET), log_marker='"level": "DEBUG"',
)  # fmt: skip
OKX_KEY = "0c1a2b3c-4d5e-4f60-8a71-0000000a0f17"
OKX_SECRET, OKX_PASSPHRASE = "CANARYokxswapsecret5555ffff", "CANARYokxswappass6666"
OKX = LiveFuturesVenue(
    name="okx", exchange="okx", conn="OKX Swaps Live", bot="BTC Swap Live",
    key={"api_key": OKX_KEY, "api_secret": OKX_SECRET, "passphrase": OKX_PASSPHRASE,
         "permissions": ["read_only", "trade"]},
    admin="mexc", spot_port="okx", futures_port=None, instrument_id="BTC-USDT-SWAP",
    contract=Decimal("0.01"), min_contracts=Decimal("0.2"),  # 150 USDT ≈ 0.24 contract
    client_id=re.compile(r"^bf[A-Za-z0-9]{1,30}$"),  # an OKX clOrdId: letters and digits
    env={**TICK, "BACKFUTURE_LOG_LEVEL": "DEBUG"},
    secrets=(OKX_KEY, OKX_SECRET, OKX_PASSPHRASE), recovery=True,
)  # fmt: skip
BYBIT_KEY = "BYBITe2eCANARYf0001"
BYBIT_SECRET = "CANARY-bybit-futures-e2e-secret-0001-abcdef"
BYBIT = LiveFuturesVenue(
    name="bybit", exchange="bybit", conn="Bybit Futures Live", bot="BTC Bybit Futures",
    key={"api_key": BYBIT_KEY, "api_secret": BYBIT_SECRET,
         "permissions": ["Spot.SpotTrade", "ContractTrade.Order", "ContractTrade.Position"]},
    admin="bybit", spot_port="bybit", futures_port=None, instrument_id="BTCUSDT",
    contract=Decimal(1), min_contracts=Decimal("0.002"), client_id=BF_ID, env=DEBUG_JSON,
    secrets=(BYBIT_KEY, BYBIT_SECRET), log_marker='"level": "DEBUG"',
)  # fmt: skip
VENUES = (KUCOIN, BINANCE, OKX, BYBIT)


def strategy(venue: LiveFuturesVenue) -> dict[str, Any]:
    """The live long: 150 USDT base and adds, margin limit 1,000, leverage 3."""
    doc: dict[str, Any] = {
        "name": venue.bot,
        "connection": venue.conn,
        "market": "futures",
        "leverage": 3,
        "mode": "live",
        "pairs": [PAIR],
        "margin_limit": 1000,
        "max_active_groups": 1,
        "base_order_quote": 150,
        "take_profit_pct": 1.2,
        "adding": {
            "max_adds": 3,
            "max_active_adds": 2,
            "add_order_quote": 150,
            "step_pct": 1.5,
            "step_scale": 1.2,
            "volume_scale": 1.5,
            "min_avg_improvement_pct": 0.3,
        },
    }
    if venue.recovery:
        doc["recovery_mode"] = {"enabled": True, "adds_used_ratio": 0.6, "take_profit_pct": 0.4}
    return doc


class VenueSandbox(Proc):
    """`backfuture sandbox` with every venue on a free port and one key (1,000 USDT) on
    `exchange`; the admin API (`/__sandbox/...`) read and driven on the `admin` venue's port."""

    def __init__(self, workdir: Path, exchange: str, key: dict[str, Any], admin: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.api_key, self.admin_port = str(key["api_key"]), admin
        keys = workdir / "sandbox-keys.yaml"
        doc = {"exchange": exchange, **key, "ip_whitelist": ["127.0.0.1"],
               "balances": {"USDT": 1000}}  # fmt: skip
        keys.write_text(yaml.safe_dump({"keys": [doc]}), encoding="utf-8")
        for attempt in range(3):  # a port chosen may be taken before the sandbox binds it
            self.ports = dict(zip(VENUE_PORTS, free_ports(len(VENUE_PORTS)), strict=True))
            ports = (a for name, port in self.ports.items() for a in (f"--{name}-port", str(port)))
            argv = _cli("sandbox", "--keys", str(keys), *ports)
            super().__init__(argv, workdir / "sandbox.log", dict(os.environ))
            try:
                wait_until(lambda: self._up(), 30, "sandbox up")
                return
            except PortTaken:
                self.stop()
                if attempt == 2:
                    raise
            except BaseException:
                self.stop()
                raise

    def _up(self) -> bool:
        self.raise_if_port_taken()
        return isinstance(self.account(), dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def admin(self) -> str:
        return self.url(self.admin_port)

    def market(self, **body: Any) -> None:
        http(f"{self.admin}/__sandbox/market", "POST", {"symbol": PAIR, **body})

    def faults(self, **faults: Any) -> None:
        http(f"{self.admin}/__sandbox/faults", "POST", faults)

    def account(self) -> dict[str, Any]:
        doc = http(f"{self.admin}/__sandbox/orders?api_key={self.api_key}")
        assert isinstance(doc, dict)
        return doc

    def update_key(self, **changes: Any) -> None:
        http(f"{self.admin}/__sandbox/keys/{self.api_key}", "POST", changes)


class FuturesSandbox(VenueSandbox):
    """The sandbox with a futures venue's key, and what its owner does in its settings."""

    def __init__(self, workdir: Path, venue: LiveFuturesVenue) -> None:
        self.venue = venue
        super().__init__(workdir, venue.exchange, venue.key, venue.admin)

    def binance_position_mode(self, *, hedge: bool) -> None:
        """What a Binance key's owner does in the futures settings: `POST
        /fapi/v1/positionSide/dual` (signed, through ccxt)."""
        urls = {"api": binance.client_spec(Endpoints(spot=self.url("binance")), futures=True).urls}
        client = ccxt.binanceusdm({"apiKey": BINANCE_KEY, "secret": BINANCE_SECRET, "urls": urls})
        dual = "true" if hedge else "false"
        answer = client.fapiPrivatePostPositionSideDual({"dualSidePosition": dual})
        assert answer["code"] in (200, "200")

    def bybit_isolate(self) -> None:
        """What a Bybit key's owner does once: the unified account to isolated margin (`POST
        /v5/account/set-margin-mode`, signed, through ccxt)."""
        urls = {"api": bybit.client_spec(Endpoints(spot=self.url("bybit"))).urls}
        client = ccxt.bybit({"apiKey": BYBIT_KEY, "secret": BYBIT_SECRET, "urls": urls})
        answer = client.privatePostV5AccountSetMarginMode({"setMarginMode": "ISOLATED_MARGIN"})
        assert answer["retCode"] == "0" or answer["retCode"] == 0


def config(tmp_path: Path, sandbox: FuturesSandbox) -> ConfigRepo:
    """The config repository: the venue's connection (spot + futures) and the live strategy."""
    venue = sandbox.venue
    endpoints = {"spot": sandbox.url(venue.spot_port)}
    if venue.futures_port is not None:
        endpoints["futures"] = sandbox.url(venue.futures_port)
    connection = {"name": venue.conn, "exchange": venue.exchange, "markets": ["spot", "futures"],
                  "api_key": venue.key["api_key"], "api_secret": venue.key["api_secret"],
                  **({"passphrase": venue.key["passphrase"]} if "passphrase" in venue.key else {}),
                  "endpoints": endpoints}  # fmt: skip
    return ConfigRepo(tmp_path / "repo", {"main.yaml": {
        "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
        "connections": [connection], "strategies": [strategy(venue)]}})  # fmt: skip


def bot(daemon: DaemonProc, name: str) -> dict[str, Any]:
    entry = next(b for b in daemon.status()["bots"] if b["strategy"] == name)
    assert isinstance(entry, dict)
    return entry


def stopped(daemon: DaemonProc) -> int:
    """SIGTERM, then the exit code (the process is gone either way)."""
    daemon.signal(signal.SIGTERM)
    try:
        return daemon.wait(20)
    finally:
        daemon.stop()


def trade_a_long(daemon: DaemonProc, sandbox: FuturesSandbox) -> None:
    """From the connection online to the take profit: the long opens at leverage 3, adds twice
    as the price falls within the margin limit and closes at take profit with a profit."""
    venue = sandbox.venue
    wait_until(lambda: daemon.connection(venue.conn).get("status") == "online" or None, 30,
               f"the {venue.name} connection online")  # fmt: skip
    wait_until(lambda: bot(daemon, venue.bot).get("groups"), 30, "a live futures group")
    wait_until(lambda: len(bot(daemon, venue.bot)["groups"][0]["add_prices"]) >= 1, 30,
               "adds rest")  # fmt: skip
    (pos,) = sandbox.account()["positions"]
    assert (pos["instrument_id"], pos["leverage"]) == (venue.instrument_id, "3")
    assert Decimal(pos["contracts"]) >= venue.min_contracts
    if venue.whole_contracts:
        assert int(pos["contracts"]) >= venue.min_contracts  # "2", never "2.5"
    sandbox.market(path=[[0, 60000], [1.0, 57600]])  # through add 1 and add 2
    wait_until(lambda: bot(daemon, venue.bot)["groups"][0]["filled_adds"] >= 2, 30, "two adds")
    assert float(bot(daemon, venue.bot)["committed_quote"]) <= 1000
    sandbox.market(path=[[0, 57600], [1.0, 60500]])  # through the take profit
    wait_until(lambda: bot(daemon, venue.bot)["closed_groups"] >= 1, 30, "the take profit filled")
    assert Decimal(str(bot(daemon, venue.bot)["realized_pnl"])) > 0


def position_is_the_books(sandbox: FuturesSandbox, daemon: DaemonProc) -> bool:
    """The one position at leverage 3 holds what the bot's groups hold (the next group may
    have opened meanwhile)."""
    venue = sandbox.venue
    (pos,) = sandbox.account()["positions"]
    held = sum(Decimal(str(g["amount"])) for g in bot(daemon, venue.bot)["groups"])
    return (pos["leverage"], Decimal(pos["contracts"]) * venue.contract) == ("3", held)


def no_secret_in(venue: LiveFuturesVenue, surfaces: dict[str, str]) -> None:
    for where, text in surfaces.items():
        for secret in venue.secrets:
            assert secret not in text, f"a secret leaked into {where}"
