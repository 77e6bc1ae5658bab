"""The sandbox market under test control (issue 9 item 6): `POST /__sandbox/market` holds a
symbol's mid price, moves it along a path or resumes the seeded walk; tickers, order books and
trades on every venue follow it through real ccxt, and resting orders fill when it crosses them."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from backfuture_daemon.sandbox import Sandbox
from backfuture_daemon.sandbox.control import (
    Command,
    CommandError,
    PriceControl,
    parse_command,
)
from backfuture_daemon.sandbox.engine import Engine, Order, PriceFeed
from tests.integration.conftest import Clients

pytestmark = pytest.mark.integration

T0 = 1_800_000_000_000
TICK = Decimal("0.01")


async def _market(sandbox: Sandbox, body: Any, port: str = "mexc") -> tuple[int, Any]:
    base = {"mexc": sandbox.mexc_url, "kucoin": sandbox.kucoin_url}[port]
    async with (
        aiohttp.ClientSession() as s,
        s.post(base + "/__sandbox/market", data=json.dumps(body)) as r,
    ):
        return r.status, await r.json()


def _move_clock(sandbox: Sandbox, exchange: str, ex: Any, ms: int) -> None:
    """Move one exchange's clock `ms` ahead and keep the ccxt client's timestamps in step."""
    sandbox.faults(exchange).clock_offset_ms = ms
    ex.options["timeDifference"] = -ms


# ----------------------------------------------------------------------------- the timeline


def test_hold_path_and_resume_on_the_timeline() -> None:
    control = PriceControl()
    assert control.price("BTC/USDT", T0) is None  # never controlled: the walk answers
    control.apply(Command("BTC/USDT", price=Decimal("100.004")), T0, Decimal(65000), TICK)
    assert control.price("BTC/USDT", T0 - 1) is None  # history before the command is kept
    assert control.price("BTC/USDT", T0) == Decimal("100.00")  # on the tick
    assert control.price("BTC/USDT", T0 + 86_400_000) == Decimal("100.00")  # held
    path = ((10.0, Decimal(90)), (20.0, Decimal(110)))
    control.apply(Command("BTC/USDT", path=path), T0 + 1000, Decimal(100), TICK)
    assert control.price("BTC/USDT", T0 + 1000) == 100
    assert control.price("BTC/USDT", T0 + 6000) == 95  # halfway to the first point
    assert control.price("BTC/USDT", T0 + 11_000) == 90
    assert control.price("BTC/USDT", T0 + 16_000) == 100
    assert control.price("BTC/USDT", T0 + 21_000) == 110
    assert control.price("BTC/USDT", T0 + 99_000) == 110  # then holds the last point
    assert control.breakpoints("BTC/USDT", T0 + 500, T0 + 30_000) == [
        T0 + 1000,
        T0 + 11_000,
        T0 + 21_000,
    ]
    control.apply(Command("BTC/USDT", resume=True), T0 + 50_000, Decimal(110), TICK)
    assert control.price("BTC/USDT", T0 + 50_000) is None
    assert control.price("BTC/USDT", T0 + 40_000) == 110  # the past is not rewritten
    assert control.price("ETH/USDT", T0 + 40_000) is None  # other symbols untouched


def test_the_feed_returns_the_walk_once_resumed() -> None:
    walk, feed = PriceFeed(7), PriceFeed(7)
    feed.control.apply(Command("ETH/USDT", price=Decimal(5)), T0, Decimal(0), TICK)
    assert feed.price("ETH/USDT", T0 + 5000) == Decimal(5)
    feed.control.apply(Command("ETH/USDT", resume=True), T0 + 10_000, Decimal(5), TICK)
    assert feed.price("ETH/USDT", T0 + 20_000) == walk.price("ETH/USDT", T0 + 20_000)
    assert feed.price("BTC/USDT", T0 + 5000) == walk.price("BTC/USDT", T0 + 5000)


SYMBOLS = ("BTC/USDT", "ETH/USDT")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"price": 100}, "symbol: must be a listed spot symbol"),
        ({"symbol": "BTCUSDT", "price": 100}, "symbol: must be a listed spot symbol"),
        ({"symbol": "BTC/USDT"}, "exactly one of"),
        ({"symbol": "BTC/USDT", "price": 1, "resume": True}, "exactly one of"),
        ({"symbol": "BTC/USDT", "price": 0}, "price: must be a price above 0"),
        ({"symbol": "BTC/USDT", "price": -5}, "price: must be a price above 0"),
        ({"symbol": "BTC/USDT", "price": 1e13}, "at most"),
        ({"symbol": "BTC/USDT", "price": "100"}, "price: must be a number"),
        ({"symbol": "BTC/USDT", "price": True}, "price: must be a number"),
        ({"symbol": "BTC/USDT", "price": float("nan")}, "price: must be a finite number"),
        ({"symbol": "BTC/USDT", "resume": False}, "resume: must be true"),
        ({"symbol": "BTC/USDT", "path": []}, "path: must be a list of 1 to 1000"),
        ({"symbol": "BTC/USDT", "path": [[1, 2]] * 1001}, "path: must be a list of 1 to 1000"),
        ({"symbol": "BTC/USDT", "path": {"1": 2}}, "path: must be a list"),
        ({"symbol": "BTC/USDT", "path": [[1, 2, 3]]}, "path[0]: must be [seconds_from_now, price]"),
        ({"symbol": "BTC/USDT", "path": [[5, 1], [5, 2]]}, "path[1][0]: seconds must increase"),
        ({"symbol": "BTC/USDT", "path": [[-1, 1]]}, "path[0][0]: seconds from now must be 0"),
        ({"symbol": "BTC/USDT", "path": [[1e9, 1]]}, "path[0][0]: seconds from now must be 0"),
        ({"symbol": "BTC/USDT", "path": [[1, 0]]}, "path[0][1]: must be a price above 0"),
        ({"symbol": "BTC/USDT", "price": 1, "speed": 2}, "unknown field(s) speed"),
    ],
)
def test_commands_are_validated_strictly(body: dict[str, Any], message: str) -> None:
    with pytest.raises(CommandError) as e:
        parse_command(body, SYMBOLS)
    assert message in str(e.value)


# ----------------------------------------------------------------------------- through HTTP


async def test_bad_bodies_are_400_and_change_nothing(sandbox: Sandbox) -> None:
    for body in ({"symbol": "BTC/USDT", "price": "cheap"}, {"symbol": "NOPE/USDT", "price": 1}):
        status, answer = await _market(sandbox, body)
        assert status == 400
        assert answer["error"]
    async with (
        aiohttp.ClientSession() as s,
        s.post(sandbox.kucoin_url + "/__sandbox/market", data='{"symbol":"BTC/USDT",') as r,
    ):
        assert r.status == 400
    assert sandbox.market_state("BTC/USDT")["mode"] == "walk"


async def test_held_price_drives_ticker_book_and_trades_on_both_venues(
    sandbox: Sandbox, clients: Clients
) -> None:
    status, state = await _market(sandbox, {"symbol": "BTC/USDT", "price": 100.0})
    assert status == 200
    assert (state["mode"], state["price"]) == ("hold", "100")
    mexc = clients.mexc()
    kucoin = clients.kucoin()
    futures = clients.kucoin_futures()
    await mexc.load_markets()
    await kucoin.load_markets(False, {"marginables": False})
    for ex in (mexc, kucoin):
        assert (await ex.fetch_ticker("BTC/USDT"))["last"] == 100.0
        book = await ex.fetch_order_book("BTC/USDT", 20)
        best_bid, best_ask = book["bids"][0][0], book["asks"][0][0]
        assert best_bid < 100.0 < best_ask
        assert (best_bid + best_ask) / 2 == pytest.approx(100.0)
        tape = await ex.fetch_trades("BTC/USDT")
        assert tape[-1]["price"] == 100.0
        assert (await ex.fetch_ticker("ETH/USDT"))["last"] > 1000  # other pairs still walk
    await futures.load_markets()
    perpetual = await futures.fetch_ticker("BTC/USDT:USDT")
    assert perpetual["last"] == 100.0  # the perpetual follows its underlying

    status, state = await _market(sandbox, {"symbol": "BTC/USDT", "resume": True}, "kucoin")
    assert (status, state["mode"]) == (200, "walk")
    assert (await mexc.fetch_ticker("BTC/USDT"))["last"] > 1000


async def test_a_path_moves_linearly_then_holds(sandbox: Sandbox, clients: Clients) -> None:
    sandbox.set_market("SOL/USDT", price=100)
    # Long legs (0.01 per second): a slow machine's real seconds barely move the price.
    state = sandbox.set_market("SOL/USDT", path=[[1000, 90], [3000, 110]])
    assert state["mode"] == "path"
    assert [p for _, p in state["points"]] == ["100", "90", "110"]
    ex = clients.mexc()
    await ex.load_markets()
    seen = []
    for seconds in (500, 2000, 3000, 100_000):  # the public clock moved instead of sleeping
        sandbox.faults("mexc").clock_offset_ms = seconds * 1000
        seen.append((await ex.fetch_ticker("SOL/USDT"))["last"])
    assert seen[0] == pytest.approx(95, abs=0.1)
    assert seen[1] == pytest.approx(100, abs=0.1)
    assert seen[2:] == [110, 110]


async def test_resting_mexc_order_fills_at_its_price_when_the_hold_crosses_it(
    sandbox: Sandbox, clients: Clients
) -> None:
    sandbox.set_market("BTC/USDT", price=100)
    ex = clients.mexc("mx0-it-healthy")
    await ex.load_markets()
    order = await ex.create_order(
        "BTC/USDT", "limit", "buy", 0.05, 95, {"clientOrderId": "bot-hold-1"}
    )
    assert (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"
    sandbox.set_market("BTC/USDT", price=90)
    filled = await ex.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed"
    assert filled["average"] == 95  # a maker fill at its own price, not at 90
    balance = await ex.fetch_balance()
    assert balance["BTC"]["free"] == 0.05
    assert balance["USDT"]["free"] == pytest.approx(1000 - 0.05 * 95)


@pytest.mark.parametrize("api_key", ["kc-it-healthy", "kc-it-hf"])
async def test_a_brief_dip_between_samples_fills_a_kucoin_order(
    sandbox: Sandbox, clients: Clients, api_key: str
) -> None:
    """The dip below the limit lasts ~0.05 s, half-way between two whole-second samples: the
    engine still sees it, because it also looks at every turn of a controlled path."""
    sandbox.set_market("ETH/USDT", price=100)
    ex = clients.kucoin(api_key, options={"hf": api_key == "kc-it-hf"})
    await ex.load_markets(False, {"marginables": False})
    order = await ex.create_order("ETH/USDT", "limit", "buy", 0.5, 97)
    now = int(time.time() * 1000)
    dip = ((now // 1000 + 3) * 1000 + 500 - now) / 1000  # half-way between two whole seconds
    sandbox.set_market("ETH/USDT", path=[[dip - 0.1, 100], [dip, 96], [dip + 0.1, 100]])
    _move_clock(sandbox, "kucoin", ex, 10_000)
    filled = await ex.fetch_order(order["id"], "ETH/USDT")
    assert filled["status"] == "closed"
    assert filled["average"] == 97
    assert (await ex.fetch_ticker("ETH/USDT"))["last"] == 100  # back up after the dip


def test_a_price_moved_within_the_millisecond_of_the_last_look_still_fills() -> None:
    engine = Engine(PriceFeed(7))
    acct = engine.account("mexc", "k", {"USDT": Decimal(1000)})
    engine.control_market(Command("BTC/USDT", price=Decimal(100)), T0)
    order = Order("1", "c", "BTC/USDT", "buy", "limit", Decimal(95), Decimal("0.05"), T0)
    engine.place(acct, order, T0)
    engine.refresh(acct, T0)
    assert order.status == "open"
    engine.control_market(Command("BTC/USDT", price=Decimal(90)), T0)  # same millisecond
    engine.refresh(acct, T0)
    assert (order.status, order.average) == ("filled", Decimal(95))


async def test_get_market_shows_the_mode_price_and_plan(sandbox: Sandbox) -> None:
    sandbox.set_market("SOL/USDT", path=[[60, 120.5]])
    async with aiohttp.ClientSession() as s:
        async with s.get(sandbox.kucoin_url + "/__sandbox/market?symbol=SOL/USDT") as r:
            assert r.status == 200
            state = await r.json()
        async with s.get(sandbox.kucoin_url + "/__sandbox/market?symbol=SOLUSDT") as r:
            assert r.status == 400
            assert "unknown spot symbol" in (await r.json())["error"]
    assert state["mode"] == "path"
    assert state["points"][-1][1] == "120.5"
    assert state["points"][-1][0] - state["since_ms"] == 60_000
    assert Decimal(state["price"]) > 100  # still near the walk's ~150 at the start of the path
