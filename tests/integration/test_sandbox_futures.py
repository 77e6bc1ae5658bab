"""KuCoin USDT perpetuals on the sandbox (issue 10 item 6): fills open isolated-margin positions
at the order's leverage, the mark follows the (controlled) price, closing realises PnL, the margin
check refuses orders the wallet cannot carry (300003), and a mark through the liquidation price
closes the position and loses its margin. The ledger maths first, then real ccxt."""

from __future__ import annotations

from decimal import Decimal

import ccxt.async_support as ccxt
import pytest

from backfuture_daemon.sandbox import Sandbox
from backfuture_daemon.sandbox.positions import Position, opening_contracts
from tests.integration.conftest import Clients

pytestmark = pytest.mark.integration

ETH = "ETH/USDT:USDT"  # ETHUSDTM: 0.01 ETH per contract


def _eth() -> Position:
    return Position("ETHUSDTM", "ETH/USDT", Decimal("0.01"))


def test_long_averages_reduces_and_realises() -> None:
    pos = _eth()
    pos.fill("buy", Decimal(10), Decimal(100), Decimal(5), 1)
    pos.fill("buy", Decimal(10), Decimal(110), Decimal(20), 2)  # the position keeps its leverage
    assert (pos.qty, pos.entry, pos.leverage) == (20, 105, 5)
    assert pos.margin == Decimal("4.2")  # 10·0.01·100/5 + 10·0.01·110/5
    assert pos.unrealised(Decimal(120)) == 3  # (120 − 105)·20·0.01
    pos.fill("sell", Decimal(5), Decimal(125), Decimal(5), 3)
    assert pos.realised == 1  # (125 − 105)·5·0.01
    assert (pos.qty, pos.entry) == (15, 105)
    assert pos.margin == Decimal("3.15")  # three quarters stay locked


def test_a_sell_beyond_the_long_flips_to_a_short() -> None:
    pos = _eth()
    pos.fill("buy", Decimal(4), Decimal(100), Decimal(2), 1)
    pos.fill("sell", Decimal(10), Decimal(90), Decimal(2), 2)
    assert pos.realised == Decimal("-0.4")
    assert (pos.qty, pos.entry, pos.margin) == (-6, 90, Decimal("2.7"))
    assert pos.unrealised(Decimal(80)) == Decimal("0.6")  # a short gains as the price falls


def test_liquidation_and_bankruptcy_prices() -> None:
    long, short = _eth(), _eth()
    long.fill("buy", Decimal(10), Decimal(100), Decimal(5), 1)
    short.fill("sell", Decimal(10), Decimal(100), Decimal(5), 1)
    assert long.bankrupt_price() == 80  # E·(1 − 1/L)
    assert long.liquidation_price() == Decimal("80.4")  # E·(1 − 1/L + mmr), mmr 0.4 %
    assert short.liquidation_price() == Decimal("119.6")
    long.liquidate(5)
    assert (long.qty, long.margin, long.realised, long.liquidations) == (0, 0, -2, [5])
    assert opening_contracts(short, "buy", Decimal(4)) == 0  # only reduces the short
    assert opening_contracts(short, "buy", Decimal(15)) == 5
    assert opening_contracts(short, "sell", Decimal(3)) == 3


# ----------------------------------------------------------------------------- through ccxt


async def test_a_long_through_ccxt_opens_marks_and_closes(
    sandbox: Sandbox, clients: Clients
) -> None:
    sandbox.set_market("ETH/USDT", price=100)
    ex = clients.kucoin_futures("kc-it-futures")
    await ex.load_markets()
    await ex.create_order(ETH, "market", "buy", 10, None, {"leverage": 5, "clientOrderId": "f-1"})
    sandbox.set_market("ETH/USDT", price=110)
    (pos,) = await ex.fetch_positions([ETH])
    assert (pos["side"], pos["contracts"], pos["entryPrice"], pos["leverage"]) == (
        "long",
        10,
        100,
        pytest.approx(11 / 2, rel=1e-6),  # realLeverage: mark value / margin
    )
    assert pos["info"]["leverage"] == 5
    assert pos["marginMode"] == "isolated"
    assert pos["unrealizedPnl"] == pytest.approx(1.0)
    assert pos["initialMargin"] == pytest.approx(2.0)
    assert pos["liquidationPrice"] == pytest.approx(80.4)
    balance = await ex.fetch_balance()
    assert balance["USDT"]["free"] == pytest.approx(998)  # 2 USDT locked as position margin
    assert balance["USDT"]["total"] == pytest.approx(1001)  # equity counts the open gain

    await ex.create_order(ETH, "market", "sell", 10, None, {"leverage": 5})
    assert await ex.fetch_positions([ETH]) == []
    balance = await ex.fetch_balance()
    assert balance["USDT"]["free"] == pytest.approx(1001)  # the gain is realised


async def test_a_resting_short_fills_when_the_price_rises_to_it(
    sandbox: Sandbox, clients: Clients
) -> None:
    sandbox.set_market("ETH/USDT", price=100)
    ex = clients.kucoin_futures("kc-it-futures")
    await ex.load_markets()
    order = await ex.create_order(ETH, "limit", "sell", 20, 105, {"leverage": 10})
    assert await ex.fetch_positions([ETH]) == []
    assert (await ex.fetch_balance())["USDT"]["free"] == pytest.approx(1000 - 2.1)  # order margin
    sandbox.set_market("ETH/USDT", price=106)
    assert (await ex.fetch_order(order["id"], ETH))["status"] == "closed"
    (pos,) = await ex.fetch_positions([ETH])
    assert (pos["side"], pos["contracts"], pos["entryPrice"]) == ("short", 20, 105)
    assert pos["unrealizedPnl"] == pytest.approx(-0.2)


async def test_margin_check_refuses_what_the_wallet_cannot_carry(
    sandbox: Sandbox, clients: Clients
) -> None:
    sandbox.set_market("ETH/USDT", price=100)
    ex = clients.kucoin_futures("kc-it-futures")
    await ex.load_markets()
    with pytest.raises(ccxt.InsufficientFunds) as e:  # 2,000 USDT notional at 1x > 1,000
        await ex.create_order(ETH, "limit", "buy", 2000, 99, {"leverage": 1})
    assert '"code":"300003"' in str(e.value)
    await ex.create_order(ETH, "limit", "buy", 2000, 99, {"leverage": 3})  # 660 USDT margin
    with pytest.raises(ccxt.InsufficientFunds):  # the resting order's margin counts
        await ex.create_order(ETH, "limit", "buy", 2000, 99, {"leverage": 3})
    with pytest.raises(ccxt.ExchangeError) as e:  # beyond the contract's max leverage (100)
        await ex.create_order(ETH, "limit", "buy", 1, 99, {"leverage": 500})
    assert '"code":"100001"' in str(e.value)


async def test_a_mark_through_the_liquidation_price_loses_the_margin(
    sandbox: Sandbox, clients: Clients
) -> None:
    sandbox.set_market("ETH/USDT", price=100)
    ex = clients.kucoin_futures("kc-it-futures")
    await ex.load_markets()
    await ex.create_order(ETH, "market", "buy", 10, None, {"leverage": 5})
    sandbox.set_market("ETH/USDT", path=[[0.001, 80], [0.002, 100]])  # a wick through 80.4
    sandbox.faults("kucoin").clock_offset_ms = 2_000  # look after the wick, without sleeping
    ex.options["timeDifference"] = -2_000
    assert await ex.fetch_positions([ETH]) == []
    balance = await ex.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(998)  # the 2 USDT margin is gone
    assert (await ex.fetch_ticker(ETH))["last"] == 100  # although the price came back
    (audit,) = sandbox.orders_of("kc-it-futures")["positions"]
    assert (audit["contracts"], audit["realised_pnl"]) == ("0", "-2")
    assert len(audit["liquidated_at_ms"]) == 1
