"""The live send site's funds check on futures (bots/live_guard.py): an order that opens or adds
needs its notional / leverage of available margin, an order on the closing side (reduce-only at
the exchange) needs nothing; spot is unchanged (a buy needs its cost, a sell nothing). Also the
runner spec a strategy gives: market and leverage."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from backfuture_daemon.bots.live_guard import buy_cost, funds_needed, opens
from backfuture_daemon.bots.spec import RunnerSpec
from backfuture_daemon.configuration.models import Connection, Strategy
from backfuture_daemon.exchanges.port import Quote
from backfuture_daemon.reconciler.bot_sync import runner_spec
from backfuture_daemon.strategy.orders import OrderKey, OrderSide, OrderType, Place, Purpose
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, Side

PARAMS = DcaParams(
    pairs=("BTC/USDT",),
    margin_limit=D(1000),
    max_active_groups=1,
    sizing=GroupSizing(base_order_quote=D(150), add_order_quote=D(150), max_adds=2,
                       max_active_adds=1, step_pct=D(2), step_scale=D(1), volume_scale=D(1),
                       take_profit_pct=D(1), min_avg_improvement_pct=D(0)),
)  # fmt: skip
QUOTE = Quote("BTC/USDT", D(59990), D(60010), D(60000), 0.0)


def spec(market: str = "futures", leverage: int = 4, side: Side = Side.LONG) -> RunnerSpec:
    return RunnerSpec("S", "C", "live", replace(PARAMS, side=side), "USDT", market=market,
                      leverage=leverage)  # fmt: skip


def place(side: OrderSide, price: str | None, purpose: Purpose = Purpose.BASE) -> Place:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return Place(OrderKey(1, purpose, 0, 1), "BTC/USDT", side, kind, D("0.002"),
                 D(price) if price else None)  # fmt: skip


def test_a_futures_long_needs_margin_to_open_and_nothing_to_close() -> None:
    buy, sell = place(OrderSide.BUY, "60000"), place(OrderSide.SELL, "61000", Purpose.TAKE_PROFIT)
    assert opens(spec(), buy)
    assert not opens(spec(), sell)
    assert funds_needed(spec(), buy, QUOTE) == D(30)  # 0.002 · 60,000 / 4
    assert funds_needed(spec(), sell, QUOTE) == 0
    market = place(OrderSide.BUY, None)
    assert funds_needed(spec(leverage=1), market, QUOTE) == D("120.02")  # at the ask, 1x


def test_a_futures_short_needs_margin_to_sell_and_nothing_to_buy_back() -> None:
    short = spec(side=Side.SHORT, leverage=2)
    sell, buy = place(OrderSide.SELL, None), place(OrderSide.BUY, "59000", Purpose.TAKE_PROFIT)
    assert opens(short, sell)
    assert not opens(short, buy)
    assert funds_needed(short, sell, QUOTE) == D("59.99")  # at the bid: 0.002 · 59,990 / 2
    assert funds_needed(short, buy, QUOTE) == 0


def test_spot_is_unchanged() -> None:
    buy, sell = place(OrderSide.BUY, "60000"), place(OrderSide.SELL, "61000")
    spot = spec(market="spot", leverage=1)
    assert funds_needed(spot, buy, QUOTE) == buy_cost(buy, QUOTE) == D(120)
    assert funds_needed(spot, sell, QUOTE) == 0
    assert not opens(spot, sell)


def test_the_runner_spec_carries_market_and_leverage() -> None:
    conn = Connection.model_validate({
        "name": "KuCoin Main", "exchange": "kucoin", "markets": ["spot", "futures"],
        "api_key": "k" * 12, "api_secret": "s" * 12,
        "passphrase": "demo-passphrase-1"})  # fmt: skip
    futures = Strategy(name="Futures Bot", connection="KuCoin Main", pairs=("BTC/USDT",),
                       margin_limit=500, mode="live", market="futures", leverage=3)  # fmt: skip
    assert (runner_spec(futures, conn).market, runner_spec(futures, conn).leverage) == (
        "futures", 3
    )  # fmt: skip
    spot = Strategy(
        name="Spot Bot", connection="KuCoin Main", pairs=("BTC/USDT",), margin_limit=500
    )
    assert (runner_spec(spot, conn).market, runner_spec(spot, conn).leverage) == ("spot", 1)
