"""/status shows prices to 12 significant digits (a paper VWAP carries 28 digits of noise); the
book, the quote totals and the amounts stay exact."""

from __future__ import annotations

from decimal import Decimal as D

from backfuture_daemon.bots.spec import BotSnapshot
from backfuture_daemon.strategy.status import GroupStatus

NOISY = D("100.0245364451413178949061231")


def snapshot() -> BotSnapshot:
    g = GroupStatus(
        group_id=1, pair="BTC/USDT", opened_at=1.0, base_price=NOISY, average_price=D("99.5"),
        amount=D("0.19994"), filled_adds=0, committed_quote=D("20.00003219876543210987"),
        take_profit_price=D("123456789012345.6789"), mode="normal", recovery_reason=None,
        recovery_since=None, recovery_overdue=False,
        add_prices=(D("98.53"), D("0.0000123456789012345")),
    )  # fmt: skip
    return BotSnapshot(
        strategy="S", connection="C", mode="paper", gate="run", groups=(g,),
        committed_quote=D("20.00003219876543210987"), margin_limit=D(500), orders={},
        realized_pnl=D("0.1234567890123456789"), closed_groups=0, skipped=(),
        last_tick_at=None, last_error="", prices={"BTC/USDT": (NOISY + D(1)) / 2},
    )  # fmt: skip


def test_prices_are_rounded_for_display_only() -> None:
    snap = snapshot()
    (g,) = snap.as_status()["groups"]
    assert g["base_price"] == "100.024536445"
    assert g["average_price"] == "99.5"  # short values are shown as they are
    assert g["take_profit_price"] == "123456789012000"  # no exponent
    assert g["add_prices"] == ["98.53", "0.0000123456789012"]
    assert g["last_price"] == "50.5122682226"
    assert snap.groups[0].base_price == NOISY  # the snapshot (and the book) keep every digit


def test_quote_totals_and_amounts_stay_exact() -> None:
    status = snapshot().as_status()
    assert status["committed_quote"] == "20.00003219876543210987"
    assert status["realized_pnl"] == "0.1234567890123456789"
    assert status["groups"][0]["amount"] == "0.19994"
    assert status["groups"][0]["committed_quote"] == "20.00003219876543210987"
