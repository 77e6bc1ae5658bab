"""The status page at `/`: every connection with its status and remedy, withdrawal highlighted,
bots with their margin bar and group chart, valid for a person without JavaScript, no secret."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from backfuture_daemon.redaction import redact_tree
from backfuture_daemon.telemetry.http import start_http_server
from backfuture_daemon.telemetry.page import render_page
from backfuture_daemon.telemetry.status import render_status
from tests.helpers.snapshots import CANARIES, NOW, realistic_snapshot, register_canaries


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _doc() -> dict[str, Any]:
    doc = redact_tree(render_status(realistic_snapshot()))
    assert isinstance(doc, dict)
    return doc


def test_connections_statuses_remedies_and_withdrawal() -> None:
    html = render_page(_doc(), now=NOW)
    assert "Online / Connected" in html
    assert "Degraded" in html
    assert "WITHDRAWAL ENABLED" in html
    assert "Disable the withdrawal permission" in html
    assert "Unknown (not checked yet)" in html
    assert html.count('class="withdraw-on"') == 1  # only the withdraw-enabled key
    assert '<meta http-equiv="refresh"' in html
    parsed = _Tags()
    parsed.feed(html)
    assert "script" not in parsed.tags
    assert "link" not in parsed.tags  # no external assets


def test_bot_margin_bar_and_group_chart_with_recovery_mark() -> None:
    doc = _doc()
    doc["bots"][0].update(
        committed_quote=460.0,
        margin_limit=500.0,
        realized_pnl="3.25",
        groups=[
            {
                "pair": "BTC/USDT",
                "base_price": 100.0,
                "average_price": 96.5,
                "take_profit_price": 97.7,
                "add_prices": [98.5, 96.7, 94.54],
                "last_price": 95.0,
                "filled_adds": 2,
                "committed_quote": 35.0,
                "mode": "recovery",
                "recovery_reason": "drawdown 8.1% >= 8%",
            }
        ],
    )
    html = render_page(doc, now=NOW)
    assert "committed 460.00 of margin limit 500.00 (92%)" in html
    assert 'class="hot"' in html  # above 90 % of the limit
    assert html.count("<svg") == 1
    assert "RECOVERY MODE" in html
    assert "add 3" in html
    assert "realized PnL 3.25" in html


def test_unused_connections_are_reported() -> None:
    doc = _doc()
    unused = [c["name"] for c in doc["connections"] if c["unused"]]
    assert unused, "the realistic snapshot has a connection no strategy uses"
    assert all(c["strategies"] == 0 for c in doc["connections"] if c["unused"])
    html = render_page(doc, now=NOW)
    assert html.count("no strategy uses this key") == len(unused)


def test_names_are_escaped() -> None:
    doc = _doc()
    doc["connections"][0]["name"] = '<script>alert("x")</script>'
    html = render_page(doc, now=NOW)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


async def test_served_at_root_without_secrets() -> None:
    register_canaries()
    snapshot = realistic_snapshot()
    server = await start_http_server(
        "127.0.0.1",
        0,
        registry=CollectorRegistry(),
        snapshot_fn=lambda: snapshot,
        reconcile_fn=None,
    )
    try:
        async with aiohttp.ClientSession() as session, session.get(server.url + "/") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
            body = await resp.text()
    finally:
        await server.stop()
    assert "MEXC Withdraw Key" in body
    for canary in CANARIES:
        assert canary not in body


def test_a_short_bot_and_its_groups_say_short() -> None:
    doc = _doc()
    group = {"pair": "BTC/USDT", "base_price": 100.0, "average_price": 101.2,
             "take_profit_price": 100.0, "add_prices": [101.5, 103.3], "last_price": 101.0,
             "filled_adds": 1, "committed_quote": 30.0, "mode": "normal",
             "side": "short"}  # fmt: skip
    doc["bots"][0].update(side="short", market="futures", groups=[group])
    html = render_page(doc, now=NOW)
    assert "futures · short</span></h3>" in html
    assert "BTC/USDT · short: average 101.2" in html
    doc["bots"][0].update(side="long", groups=[group | {"side": "long"}])
    assert "short" not in render_page(doc, now=NOW)


def test_positions_closed_outside_are_in_status_and_shown_as_a_problem() -> None:
    doc = _doc()
    assert (doc["bots"][0]["closed_outside"], doc["bots"][0]["closed_outside_at"]) == (0, None)
    assert 'class="outside"' not in render_page(doc, now=NOW)
    snapshot = realistic_snapshot()
    (book,) = snapshot.books
    hit = replace(book, closed_outside=2, closed_outside_at=NOW - 300)
    hit_doc = redact_tree(render_status(replace(snapshot, books=(hit,))))
    assert isinstance(hit_doc, dict)
    bot = hit_doc["bots"][0]
    assert (bot["strategy"], bot["closed_outside"]) == (book.strategy, 2)
    assert bot["closed_outside_at"] == NOW - 300
    html = render_page(hit_doc, now=NOW)
    assert html.count('class="outside"') == 1  # only the bot that lost positions
    assert "2 group(s) closed outside the bot (liquidated or closed by hand" in html
    assert "last 5m ago" in html
    assert ".outside{background:#ffd9d6" in html  # red, like a failed connection
