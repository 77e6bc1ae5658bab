"""/status names each bot's side and each group's (issue 10); a long bot keeps every key it had."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.test_bot_status_prices import snapshot


def test_status_shows_the_side_of_the_bot_and_of_each_group() -> None:
    long_status = snapshot().as_status()
    assert long_status["side"] == "long"
    assert long_status["groups"][0]["side"] == "long"
    snap = snapshot()
    short = replace(snap, side="short", groups=(replace(snap.groups[0], side="short"),))
    status = short.as_status()
    assert status["side"] == "short"
    assert status["groups"][0]["side"] == "short"
    assert set(status) == set(long_status)
