"""Unknown outcomes and faults during live trading, through real ccxt against the sandbox: an order
accepted whose answer never comes is looked up by client order id and adopted; a 5xx leaves the
intent unknown, nothing else is sent inside the visibility window, then it is marked not placed
and re-decided under a new id; a lost cancel answer is resolved by lookup; 429 + Retry-After
quiets the bot; open orders with our prefix but no intent are reported and never cancelled; fills
that happened while the bot was down are applied once; a 5xx on placement only (the order never
placed) is settled by lookup after the visibility window, which a shorter setting shortens. The
sandbox's audit is the judge.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal as D
from typing import Any

import pytest

from backfuture_daemon.exchanges.port import OrderRequest, OrderType, Side
from backfuture_daemon.settings import load_settings
from backfuture_daemon.strategy.params import Gate
from tests.integration.live_bot_support import PAIR, LiveWorld, ledger_matches_exchange, live, until

__all__ = ["live"]
pytestmark = pytest.mark.integration


def one_order_per_id(world: LiveWorld) -> Counter[str]:
    ids = Counter(str(o["client_order_id"]) for o in world.audit())
    assert all(n == 1 for n in ids.values()), ids
    return ids


async def test_an_accepted_order_whose_answer_never_came_is_adopted(live: LiveWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc")
    live.sandbox.faults("mexc").update({"accept_then_timeout": True})
    await r.tick()  # the base order is accepted; the answer hangs past the client's timeout
    assert "exchange_unavailable" in r.last_error or "timeout" in r.last_error.lower()
    (unknown,) = r.intents.unsettled()
    assert [o["client_order_id"] for o in live.audit()] == [unknown.client_order_id]
    live.sandbox.faults("mexc").update({"accept_then_timeout": False})
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    assert r.intents.intent(unknown.client_order_id).state in ("open", "filled")  # type: ignore[union-attr]
    assert r.book.groups[0].base_price is not None
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


async def test_a_5xx_is_looked_up_waits_out_the_window_then_is_re_decided(
    live: LiveWorld,
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc")
    r.visibility_window = 1.5
    port = r.port
    balances = port.balances

    async def then_5xx() -> Any:  # the balance check passes; the order request meets a 503
        answer = await balances()
        live.sandbox.faults("mexc").update({"http_5xx": 503})
        return answer

    port.balances = then_5xx  # type: ignore[method-assign]
    await r.tick()
    port.balances = balances  # type: ignore[method-assign]
    (unknown,) = r.intents.unsettled()
    live.sandbox.faults("mexc").update({"http_5xx": 0})
    assert live.audit() == []
    for _ in range(3):  # inside the window: looked up, not found, nothing else sent
        await live.tick(r)
    assert live.audit() == []
    assert r.intents.intent(unknown.client_order_id).state == "unknown"  # type: ignore[union-attr]
    await asyncio.sleep(1.5)
    await until(lambda: bool(live.audit()), r)
    assert r.intents.intent(unknown.client_order_id).state == "lost"  # type: ignore[union-attr]
    ids = one_order_per_id(live)
    assert unknown.client_order_id not in ids  # a new intent, a new id, one order
    ledger_matches_exchange(live, r, live.audit())


async def test_a_lost_cancel_answer_is_resolved_by_lookup(live: LiveWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc")
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    live.sandbox.faults("mexc").update({"drop_cancel_answer": True})
    r.set_gate(Gate.STOP)  # resting adds are cancelled, the take profit kept
    await r.tick()
    assert r.needs_reconcile
    live.sandbox.faults("mexc").update({"drop_cancel_answer": False})
    await until(lambda: not r.needs_reconcile, r)
    await live.tick(r)
    (g,) = r.book.groups
    assert [o.key.purpose.value for o in g.open_orders()] == ["take_profit"]
    statuses = Counter((o["side"], o["status"]) for o in live.audit())
    assert statuses[("buy", "canceled")] + statuses[("buy", "cancelled")] == 2
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


async def test_429_with_retry_after_quiets_the_bot(live: LiveWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc")
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    book = r.book
    live.sandbox.faults("mexc").update({"rate_limit": True, "retry_after_s": 2})
    r.needs_reconcile = True
    await r.tick()
    assert "rate_limited" in r.last_error
    live.sandbox.faults("mexc").update({"rate_limit": False})
    live.sandbox.reset_request_counts()
    t0 = time.time()
    while time.time() - t0 < 1.5:  # inside Retry-After: not one request from the bot
        await live.tick(r)
    private = {p: n for p, n in live.sandbox.request_counts("mexc").items() if "/api/v3/" in p}
    public = ("/api/v3/ticker/bookTicker", "/api/v3/depth", "/api/v3/ticker/24hr",
              "/api/v3/ticker/price")  # fmt: skip
    assert not {p for p in private if p not in public}
    assert r.book == book
    await until(lambda: not r.needs_reconcile, r)
    assert r.book.groups[0].id == book.groups[0].id
    one_order_per_id(live)


async def test_an_order_with_our_prefix_but_no_intent_is_reported_never_cancelled(
    live: LiveWorld,
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc")
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    stray = r.intents.prefix() + "g999b0n1"  # e.g. a second replica on the same key
    await live.port().place(OrderRequest(PAIR, Side.BUY, OrderType.LIMIT, D("0.1"), stray, D(50)))
    r = await live.runner()  # restarted on the same SQLite: reconciles first
    for _ in range(3):
        await live.tick(r)
    assert r.orphans == (stray,)
    assert r.snapshot().as_status()["orphan_orders"] == [stray]
    (mine,) = [o for o in live.audit() if o["client_order_id"] == stray]
    assert mine["status"] == "open"


async def test_fills_while_the_bot_was_down_are_applied_once(live: LiveWorld) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc")
    await until(lambda: bool(r.book.groups) and len(r.book.groups[0].open_orders()) == 3, r)
    live.sandbox.set_market(PAIR, path=[[0, 100], [0.3, 98]])  # add 1 fills while nobody looks
    await asyncio.sleep(0.8)
    filled = [o for o in live.audit() if o["status"] == "filled" and o["side"] == "buy"]
    assert len(filled) == 2  # base + add 1, at the exchange
    again = await live.runner()  # a restarted bot on the same SQLite and key
    for _ in range(3):
        await live.tick(again)
    assert again.book.groups[0].filled_adds == (1,)
    rows = again.intents.db.conn.execute(
        "SELECT trade_id, count(*) FROM fills WHERE mode='live' GROUP BY trade_id"
    ).fetchall()
    assert rows
    assert all(n == 1 for _, n in rows)
    ledger_matches_exchange(live, again, live.audit())


class DiesOnSend:
    """The process dies between committing an intent and sending it (the port is never called)."""

    def __init__(self, port: Any) -> None:
        self._port = port

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)

    async def place(self, order: OrderRequest) -> Any:
        raise SystemExit("killed between intent and send")


async def test_death_between_intent_and_send_is_settled_by_lookup_then_re_decided(
    live: LiveWorld,
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner("mexc")
    r.port = DiesOnSend(r.port)
    with pytest.raises(SystemExit):
        await r.tick()
    (pending,) = r.intents.unsettled()
    assert pending.state == "pending"
    assert live.audit() == []

    again = await live.runner()  # restarted on the same SQLite, inside the visibility window
    again.visibility_window = 1.0
    await live.tick(again)
    assert live.audit() == []  # looked up, not found, nothing sent while the window runs
    await asyncio.sleep(1.0)
    await until(lambda: bool(live.audit()), again)
    assert again.intents.intent(pending.client_order_id).state == "lost"  # type: ignore[union-attr]
    ids = one_order_per_id(live)
    assert pending.client_order_id not in ids
    ledger_matches_exchange(live, again, live.audit())


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_a_5xx_on_placement_only_is_looked_up_then_marked_not_placed_and_re_decided(
    live: LiveWorld, exchange: str
) -> None:
    live.sandbox.set_market(PAIR, price=100.0)
    r = await live.runner(exchange)
    r.visibility_window = 1.0
    faults = live.sandbox.faults(exchange)
    faults.update({"placement_5xx": 502})  # the gateway answers 502; the order is not placed
    await r.tick()
    assert "exchange_unavailable" in r.last_error
    (unknown,) = r.intents.unsettled()
    assert live.audit() == []
    for _ in range(3):  # lookups are served (only placements fail); nothing found, nothing sent
        await live.tick(r)
    assert live.audit() == []
    assert r.intents.intent(unknown.client_order_id).state == "unknown"  # type: ignore[union-attr]
    faults.update({"placement_5xx": 0})
    await asyncio.sleep(1.0)
    await until(lambda: bool(live.audit()), r)
    assert r.intents.intent(unknown.client_order_id).state == "lost"  # type: ignore[union-attr]
    (placed,) = live.audit()  # exactly one exchange order, under the re-decided intent's id
    assert placed["client_order_id"] != unknown.client_order_id
    assert r.intents.intent(placed["client_order_id"]) is not None
    await until(lambda: not r.needs_reconcile and len(r.book.groups[0].open_orders()) >= 2, r)
    one_order_per_id(live)
    ledger_matches_exchange(live, r, live.audit())


async def test_a_shorter_visibility_window_marks_a_never_arrived_intent_lost_sooner(
    live: LiveWorld,
) -> None:
    """BACKFUTURE_ORDER_VISIBILITY_SECONDS at work: two bots meet the same placement 5xx; the one
    with a 1 s window re-decides after about 1 s while the one with 4 s still waits, sending
    nothing; then it too marks its intent lost and places once."""
    live.sandbox.set_market(PAIR, price=100.0)
    short = await live.runner("mexc")
    short_key = live.api_key
    slow = await live.runner("mexc", fresh_db=True)
    slow_key = live.api_key
    short.visibility_window = load_settings(order_visibility_seconds=1).order_visibility_seconds
    slow.visibility_window = load_settings(order_visibility_seconds=4).order_visibility_seconds

    def audit(key: str) -> list[dict[str, Any]]:
        return list(live.sandbox.orders_of(key)["orders"])

    live.sandbox.faults("mexc").update({"placement_5xx": 503})
    await short.tick()
    await slow.tick()
    failed_at = time.monotonic()
    live.sandbox.faults("mexc").update({"placement_5xx": 0})
    (short_intent,), (slow_intent,) = short.intents.unsettled(), slow.intents.unsettled()
    while not audit(short_key):
        assert time.monotonic() - failed_at < 3.5, short.last_error
        await short.tick()
        await slow.tick()
        await asyncio.sleep(0.05)
    assert time.monotonic() - failed_at >= 1.0
    assert short.intents.intent(short_intent.client_order_id).state == "lost"  # type: ignore[union-attr]
    assert slow.intents.intent(slow_intent.client_order_id).state == "unknown"  # type: ignore[union-attr]
    assert audit(slow_key) == []  # still inside its window: nothing sent
    while not audit(slow_key):
        assert time.monotonic() - failed_at < 10, slow.last_error
        await slow.tick()
        await asyncio.sleep(0.05)
    assert time.monotonic() - failed_at >= 4.0
    assert slow.intents.intent(slow_intent.client_order_id).state == "lost"  # type: ignore[union-attr]
    for key in (short_key, slow_key):
        ids = Counter(str(o["client_order_id"]) for o in audit(key))
        assert len(ids) == 1
        assert all(n == 1 for n in ids.values())
