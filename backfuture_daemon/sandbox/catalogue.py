"""What the sandbox lists: spot instruments (three tradable, one listed but not API-tradable),
MEXC and KuCoin USDT perpetuals, and optional synthetic filler markets so that benchmarks can
load exchange-sized market lists. Built once per Sandbox; read by the venues and the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable thing, in exchange-neutral terms; each venue renders its own ids."""

    symbol: str  #: unified, e.g. BTC/USDT
    base: str
    quote: str
    start_price: float
    price_tick: Decimal
    amount_tick: Decimal
    min_amount: Decimal
    min_cost: Decimal
    api_tradable: bool = True  #: False: listed, but the API may not trade it


SPOT: tuple[Instrument, ...] = (
    Instrument("BTC/USDT", "BTC", "USDT", 65000.0, Decimal("0.01"), Decimal("0.000001"),
               Decimal("0.000001"), Decimal("1")),
    Instrument("ETH/USDT", "ETH", "USDT", 3200.0, Decimal("0.01"), Decimal("0.00001"),
               Decimal("0.00001"), Decimal("1")),
    Instrument("SOL/USDT", "SOL", "USDT", 150.0, Decimal("0.001"), Decimal("0.001"),
               Decimal("0.001"), Decimal("1")),
    # Listed but not API-tradable (MEXC isSpotTradingAllowed=false, KuCoin enableTrading=false).
    Instrument("DOGE/USDT", "DOGE", "USDT", 0.16, Decimal("0.00001"), Decimal("0.01"),
               Decimal("1"), Decimal("1"), api_tradable=False),
)  # fmt: skip
SPOT_BY_SYMBOL: dict[str, Instrument] = {i.symbol: i for i in SPOT}


@dataclass(frozen=True, slots=True)
class Contract:
    """A linear USDT perpetual. `multiplier` is the base amount of one contract."""

    id: str  #: venue id: BTC_USDT (MEXC), XBTUSDTM (KuCoin)
    underlying: str  #: the spot symbol whose price it follows
    base_id: str  #: XBT on KuCoin, BTC on MEXC
    multiplier: Decimal
    price_tick: Decimal
    max_leverage: int


MEXC_CONTRACTS: tuple[Contract, ...] = (
    Contract("BTC_USDT", "BTC/USDT", "BTC", Decimal("0.0001"), Decimal("0.1"), 125),
)
KUCOIN_CONTRACTS: tuple[Contract, ...] = (
    Contract("XBTUSDTM", "BTC/USDT", "XBT", Decimal("0.001"), Decimal("0.1"), 125),
    Contract("ETHUSDTM", "ETH/USDT", "ETH", Decimal("0.01"), Decimal("0.01"), 100),
)


class Catalogue:
    """Every market one Sandbox serves, indexed the ways the venues look them up (O(1))."""

    def __init__(
        self,
        spot: tuple[Instrument, ...] = SPOT,
        mexc_contracts: tuple[Contract, ...] = MEXC_CONTRACTS,
        kucoin_contracts: tuple[Contract, ...] = KUCOIN_CONTRACTS,
    ) -> None:
        self.spot = spot
        self.mexc_contracts = mexc_contracts
        self.kucoin_contracts = kucoin_contracts
        self.by_symbol = {i.symbol: i for i in spot}
        self.by_mexc_id = {i.base + i.quote: i for i in spot}
        self.by_kucoin_id = {f"{i.base}-{i.quote}": i for i in spot}
        self.mexc_contract_by_id = {c.id: c for c in mexc_contracts}
        self.kucoin_contract_by_id = {c.id: c for c in kucoin_contracts}

    @classmethod
    def with_synthetic(cls, n: int) -> Catalogue:
        """The real list plus `n` synthetic spot pairs (SYN0000/USDT, ...) and n/4 perpetuals on
        each exchange: exchange-sized market data (MEXC lists ~2 900 markets) for benchmarks."""
        spot = list(SPOT)
        mexc, kucoin = list(MEXC_CONTRACTS), list(KUCOIN_CONTRACTS)
        for i in range(n):
            base = f"SYN{i:04d}"
            price = 0.5 + (i * 7919) % 10_000 / 100
            spot.append(
                Instrument(f"{base}/USDT", base, "USDT", price, Decimal("0.0001"),
                           Decimal("0.01"), Decimal("0.01"), Decimal("1"))
            )  # fmt: skip
            if i % 4 == 0:
                tick = Decimal("0.0001")
                mexc.append(Contract(f"{base}_USDT", f"{base}/USDT", base, Decimal(1), tick, 50))
                kucoin.append(Contract(f"{base}USDTM", f"{base}/USDT", base, Decimal(1), tick, 50))
        return cls(tuple(spot), tuple(mexc), tuple(kucoin))
