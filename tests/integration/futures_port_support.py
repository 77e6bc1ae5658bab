"""The futures trading ports of KuCoin, Binance USDⓈ-M and OKX swaps behind TradingPort, built
on sandbox keys with real ccxt: a table of what differs between the three (amounts, client ids,
fault switches, error codes) and `port_maker`, the builder every test_*_futures_trading.py /
test_okx_futures_failures.py test and test_venues_futures_trading.py use.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal as D

from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.exchanges.futures_trading import CcxtFuturesTrading
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.port import OrderRequest, OrderType, Side
from backfuture_daemon.exchanges.venue_ports import futures_port
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import add_key, connection_for
from tests.integration.okx_support import swap_ports
from tests.integration.venue_support import cid as alnum_cid

PAIR = "BTC/USDT"
Make = Callable[..., CcxtFuturesTrading]
_ids = itertools.count()


def kucoin_cid() -> str:
    return f"bf{next(_ids):06d}f{int(time.time()) % 10**6:06d}"


def binance_cid() -> str:
    return f"bf-{next(_ids):06d}.{int(time.time()) % 10**6:06d}"


@dataclass(frozen=True)
class PortVenue:
    """What a futures port does differently on one venue (the rest is the same)."""

    name: str
    lot: str  # the smallest amount an order carries, in base
    cid: Callable[[], str]  # a client id as the bots make them there
    faults: str  # the sandbox's fault switches of the futures port
    cancel_faults: str  # ... of its cancels (KuCoin: the spot venue's)
    no_futures: tuple[str, ...] | None  # a key's permissions without futures (None: elsewhere)
    read_only: tuple[str, ...] | None  # a key's permissions that cannot trade
    margin_code: str = ""  # the venue's code for insufficient margin, in the detail
    first_order_sets_up: bool = False  # margin mode and leverage set by a first order
    id_limit: int = 0  # the longest client id the venue takes (0: not checked here)
    cancel_again_answers: bool = False  # cancelling a cancelled order answers its state
    rate_limit_pause: float = 0.0  # what the venue wants after a 429 (Binance bans with 418)

    def __str__(self) -> str:
        return self.name

    def order(
        self,
        side: Side,
        amount: str,
        price: str | None = None,
        client_id: str = "",
        *,
        exit: bool = False,
    ) -> OrderRequest:
        """An order in base; `exit`: a take profit / stop (reduce-only, as the runner marks
        exits)."""
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        return OrderRequest(PAIR, side, kind, D(amount), client_id or self.cid(),
                            D(price) if price else None, reduce_only=exit)  # fmt: skip


KUCOIN = PortVenue(
    name="kucoin", lot="0.001", cid=kucoin_cid, faults="kucoinfutures", cancel_faults="kucoin",
    no_futures=("General", "Spot"), read_only=("General",),
)  # fmt: skip
BINANCE = PortVenue(
    name="binance", lot="0.001", cid=binance_cid, faults="binance", cancel_faults="binance",
    no_futures=("enableReading", "enableSpotAndMarginTrading"), read_only=("enableReading",),
    margin_code="-2019", first_order_sets_up=True, id_limit=36, rate_limit_pause=7.1,
)  # fmt: skip
OKX = PortVenue(
    name="okx", lot="0.01", cid=alnum_cid, faults="okx", cancel_faults="okx", no_futures=None,
    read_only=None,  # test_okx_futures_failures.py: 50120, and OKX's own rate limits
    margin_code="51008", first_order_sets_up=True, cancel_again_answers=True,
)  # fmt: skip
VENUES = (KUCOIN, BINANCE, OKX)
BINANCE_PERMS = ("enableReading", "enableSpotAndMarginTrading", "enableFutures")


@contextlib.asynccontextmanager
async def port_maker(sandbox: Sandbox, venue: PortVenue) -> AsyncIterator[Make]:
    """`build(leverage=3, **key_fields)`: the venue's futures port (venue_ports.futures_port) on
    a new key; every port, the market cache and the client factory closed on exit."""
    if venue is OKX:
        async with swap_ports(sandbox) as swap_build:
            yield swap_build
        return
    factory = ClientFactory(timeout=1.5)
    markets = MarketCache(factory)
    ctx = AdapterContext(make_client=factory, clock=time.time)
    ports: list[CcxtFuturesTrading] = []
    default = ("General", "Futures") if venue is KUCOIN else BINANCE_PERMS

    def build(*, leverage: int = 3, api_key: str = "", **key: object) -> CcxtFuturesTrading:
        perms = key.pop("permissions", default)
        sk = sandbox.keys.find(api_key) if api_key else None
        if sk is None:
            sk = add_key(sandbox, venue.name, permissions=perms, **key)  # type: ignore[arg-type]
        port = futures_port(connection_for(sandbox, sk), ctx, markets, leverage=leverage)
        assert isinstance(port, CcxtFuturesTrading)
        ports.append(port)
        return port

    try:
        yield build
    finally:
        for port in ports:
            await port.close()
        await markets.close()
        await factory.close()


def api_key(port: CcxtFuturesTrading) -> str:
    return str(port._client.apiKey)
