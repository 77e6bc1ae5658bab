"""The venues the crash test (benchmarks/crash_kill.py) can trade on, one `CrashVenue` each: the
sandbox key it seeds, the sandbox port serving it, the config connection the daemon gets, the
market (spot, or USDT perpetual at leverage 2), how the sandbox's audit amounts convert to base
and how the exchange's trade ids read in the bot's fill ledger, and any set-up the key's owner
does once before the bot runs (Bybit futures: the unified account to isolated margin).

`--exchange` names: mexc (spot, the default), kucoin (HF spot), okx and bybit (spot),
kucoin-futures (XBTUSDTM, contracts of 0.001 BTC), binance-futures (USDⓈ-M BTCUSDT, base),
okx-futures (BTC-USDT-SWAP, contracts of 0.01 BTC; acctLv 2 "Spot and futures"; client ids
without '-') and bybit-futures (linear BTCUSDT, base; isolated margin set first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.helpers.processes import MEXC_TRADE

#: the sandbox's venues, each on its own port (`backfuture sandbox --<name>-port N`); mexc's
#: also serves the sandbox-wide routes (market, audits).
PORTS = ("mexc", "kucoin", "kucoin-futures", "binance", "okx", "bybit")
IP = ["127.0.0.1"]
USDT = {"USDT": 1000}
LEVERAGE = 2

API_KEY, API_SECRET = "mx0crashkill0000key", "crashkill-secret-0000-value"
KC_KEY, KC_SECRET, KC_PASS = "6705crashkill0000key", "crashkill-kc-secret-0000", "crashkill-pass-00"
OKX_KEY = "c4a5b6c7-0000-4000-8000-00000000c4a5"
OKX_SECRET, OKX_PASS = "crashkill-okx-secret-0000", "crashkill-okx-pass-00"
BYBIT_KEY, BYBIT_SECRET = "CrashKillBybitKey0001", "crashkill-bybit-secret-0000"
KCF_KEY, KCF_SECRET = "6705crashkillfut0key", "crashkill-kcf-secret-0000"
BNF_KEY, BNF_SECRET = "BNcrashkillfutures0key", "crashkill-bnf-secret-0000"
OKXF_KEY = "c4a5b6c7-0000-4000-8000-0000000f0c4a"
OKXF_SECRET, OKXF_PASS = "crashkill-okxf-secret-0000", "crashkill-okxf-pass-00"
BYBF_KEY, BYBF_SECRET = "CrashKillBybitFut0001", "crashkill-bybf-secret-0000"


def _same(trade_id: str) -> str:
    return trade_id


def binance_trade_number(trade_id: str) -> str:
    """Binance's trade number of the engine's hex id (sandbox/binance/trading.trade_number)."""
    return str(int(trade_id, 16) % 10**12)


def bybit_isolate(url: str) -> None:
    """What the key's owner does once on Bybit before a futures bot may trade: the unified
    account to isolated margin (`POST /v5/account/set-margin-mode`, signed, through ccxt), as
    tests/e2e/test_live_bybit_futures.py `isolate()` does."""
    import ccxt

    from backfuture_daemon.configuration.models import Endpoints
    from backfuture_daemon.exchanges.bybit import client_spec

    urls = {"api": client_spec(Endpoints(spot=url)).urls}
    client = ccxt.bybit({"apiKey": BYBF_KEY, "secret": BYBF_SECRET, "urls": urls})
    answer = client.privatePostV5AccountSetMarginMode({"setMarginMode": "ISOLATED_MARGIN"})
    if str(answer.get("retCode")) != "0":
        raise RuntimeError(f"Bybit set-margin-mode refused: {answer}")


@dataclass(frozen=True, slots=True)
class CrashVenue:
    """One `--exchange` choice."""

    #: the config's exchange (also what names the client id separator, bots/intents)
    exchange: str
    #: the sandbox key (without exchange and ip whitelist): api_key, api_secret, permissions, ...
    key: dict[str, Any]
    #: the sandbox port of the traded venue (faults are per venue)
    port: str
    #: the connection's endpoints: endpoint name -> sandbox port
    endpoints: dict[str, str]
    #: the connection's `markets` (None: the default, spot)
    markets: tuple[str, ...] | None = None
    #: a `market: futures, leverage: LEVERAGE` strategy (else spot)
    futures: bool = False
    #: base per unit of the audit's futures amounts, per instrument (spot: 1)
    lots: dict[str, Decimal] = field(default_factory=dict)
    #: the audit's trade id -> the id in the bot's fill ledger
    trade_id: Callable[[str], str] = _same
    #: done once with the traded venue's URL before the daemon starts
    setup: Callable[[str], None] | None = None

    @property
    def api_key(self) -> str:
        return str(self.key["api_key"])

    def sandbox_key(self) -> dict[str, Any]:
        """The key's entry in the sandbox's keys file."""
        return {"exchange": self.exchange, **self.key, "ip_whitelist": IP}

    def connection(self, name: str, url: Callable[[str], str]) -> dict[str, Any]:
        """The config's connection named `name`; `url(port)` is a sandbox venue's base URL."""
        doc: dict[str, Any] = {"name": name, "exchange": self.exchange}
        if self.markets is not None:
            doc["markets"] = list(self.markets)
        doc.update(api_key=self.key["api_key"], api_secret=self.key["api_secret"])
        if "passphrase" in self.key:
            doc["passphrase"] = self.key["passphrase"]
        doc["endpoints"] = {k: url(port) for k, port in self.endpoints.items()}
        return doc

    def lot(self, order: dict[str, Any]) -> Decimal:
        """Base per unit of an audit order's amounts: 1 on spot, the contract size on futures."""
        if order.get("market") != "futures":
            return Decimal(1)
        return self.lots[str(order["instrument_id"])]


VENUES: dict[str, CrashVenue] = {
    "mexc": CrashVenue(
        "mexc",
        {"api_key": API_KEY, "api_secret": API_SECRET, "permissions": MEXC_TRADE,
         "balances": USDT},
        "mexc",
        {"spot": "mexc"},
    ),
    "kucoin": CrashVenue(
        "kucoin",
        {"api_key": KC_KEY, "api_secret": KC_SECRET, "passphrase": KC_PASS,
         "permissions": ["General", "Spot"], "hf": True, "balances": USDT},
        "kucoin",
        {"spot": "kucoin", "futures": "kucoin-futures"},
    ),
    "kucoin-futures": CrashVenue(
        "kucoin",
        {"api_key": KCF_KEY, "api_secret": KCF_SECRET, "passphrase": KC_PASS,
         "permissions": ["General", "Futures"], "balances": USDT},
        "kucoin-futures",
        {"spot": "kucoin", "futures": "kucoin-futures"},
        markets=("futures",),
        futures=True,
        lots={"XBTUSDTM": Decimal("0.001")},
    ),
    "binance-futures": CrashVenue(
        "binance",
        {"api_key": BNF_KEY, "api_secret": BNF_SECRET,
         "permissions": ["enableReading", "enableSpotAndMarginTrading", "enableFutures"],
         "balances": USDT},
        "binance",
        {"spot": "binance"},
        markets=("futures",),
        futures=True,
        lots={"BTCUSDT": Decimal(1)},
        trade_id=binance_trade_number,
    ),
    "okx": CrashVenue(
        "okx",
        {"api_key": OKX_KEY, "api_secret": OKX_SECRET, "passphrase": OKX_PASS,
         "permissions": ["read_only", "trade"], "balances": USDT},
        "okx",
        {"spot": "okx"},
    ),
    "okx-futures": CrashVenue(
        "okx",
        {"api_key": OKXF_KEY, "api_secret": OKXF_SECRET, "passphrase": OKXF_PASS,
         "permissions": ["read_only", "trade"], "acct_lv": 2, "balances": USDT},
        "okx",
        {"spot": "okx"},
        markets=("spot", "futures"),
        futures=True,
        lots={"BTC-USDT-SWAP": Decimal("0.01")},
    ),
    "bybit": CrashVenue(
        "bybit",
        {"api_key": BYBIT_KEY, "api_secret": BYBIT_SECRET, "permissions": ["Spot.SpotTrade"],
         "balances": USDT},
        "bybit",
        {"spot": "bybit"},
    ),
    "bybit-futures": CrashVenue(
        "bybit",
        {"api_key": BYBF_KEY, "api_secret": BYBF_SECRET,
         "permissions": ["Spot.SpotTrade", "ContractTrade.Order", "ContractTrade.Position"],
         "balances": USDT},
        "bybit",
        {"spot": "bybit"},
        markets=("spot", "futures"),
        futures=True,
        lots={"BTCUSDT": Decimal(1)},
        setup=bybit_isolate,
    ),
}  # fmt: skip
