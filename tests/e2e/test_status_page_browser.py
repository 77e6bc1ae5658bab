"""The status page at `/` of a running daemon, read in a real browser (Debian's chromium driven
over WebDriver by chromedriver), with JavaScript on and off: what an on-call engineer sees.
A screenshot is saved under the test's temporary directory (its path is printed)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.configrepo import CANARIES, CANARY_KEY, CANARY_SECRET, mexc_connection, strategy
from tests.helpers.processes import ConfigRepo, DaemonProc, SandboxProc, mexc_key, wait_until
from tests.helpers.webdriver import Browser

pytestmark = pytest.mark.e2e

WD_KEY, WD_SECRET = "mx0vWITHDRAWkey0000zz", "withdraw-secret-0000yyyy1111"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProc]:
    sb = SandboxProc(
        tmp_path / "sandbox",
        [
            mexc_key(CANARY_KEY, CANARY_SECRET),
            mexc_key(
                WD_KEY,
                WD_SECRET,
                permissions=[
                    "SPOT_ACCOUNT_READ",
                    "SPOT_DEAL_READ",
                    "SPOT_DEAL_WRITE",
                    "SPOT_WITHDRAW_WRITE",
                ],
            ),
        ],
    )
    yield sb
    sb.stop()


@pytest.fixture
def daemon(sandbox: SandboxProc, tmp_path: Path) -> Iterator[DaemonProc]:
    endpoints = {"spot": sandbox.mexc_url}
    doc = {
        "version": 1,
        "connections": [
            mexc_connection(endpoints=endpoints),
            mexc_connection(
                "MEXC Withdraw Key", api_key=WD_KEY, api_secret=WD_SECRET, endpoints=endpoints
            ),
        ],
        "strategies": [
            strategy(),
            strategy("Withdraw Bot", "MEXC Withdraw Key", pairs=["BTC/USDT"]),
        ],
    }
    repo = ConfigRepo(tmp_path / "repo", {"c.yaml": doc})
    d = DaemonProc(repo.path, tmp_path, repo.key_file)
    try:
        wait_until(
            lambda: d.bots() == {"BTC ETH New Groups": "running", "Withdraw Bot": "paused"} or None,
            30,
            "one healthy and one withdraw-enabled connection tested",
        )
        wait_until(
            lambda: next(b for b in d.status()["bots"] if b["state"] == "running").get("groups"),
            30,
            "the paper bot opened a group",
        )
        yield d
    finally:
        d.stop()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_status_page_shows_each_connection_and_bot(
    daemon: DaemonProc, tmp_path: Path, javascript: bool
) -> None:
    browser = Browser(javascript=javascript, log=tmp_path / "chromedriver.log")
    try:
        browser.get(daemon.url + "/")
        healthy = browser.text('tr[data-connection="MEXC Spot Main"]')
        assert "Online / Connected" in healthy
        assert "WITHDRAWAL ENABLED" not in healthy
        withdraw = browser.text('tr[data-connection="MEXC Withdraw Key"]')
        assert "Failed" in withdraw
        assert "withdraw_enabled" in withdraw
        assert "WITHDRAWAL ENABLED" in withdraw
        assert "Disable the withdrawal permission" in withdraw
        running = browser.text('div.bot[data-strategy="BTC ETH New Groups"]')
        assert "running" in running
        assert "of margin limit 500.00" in browser.text(
            'div.bot[data-strategy="BTC ETH New Groups"] .margin'
        )
        assert browser.count('div.bot[data-strategy="BTC ETH New Groups"] svg.group-chart') >= 1
        paused = browser.text('div.bot[data-strategy="Withdraw Bot"]')
        assert "paused" in paused
        assert "withdraw_enabled" in paused
        config = browser.text("table#config")
        assert "Applied revision" in config
        whole = browser.text("body")
        for secret in (*CANARIES, WD_SECRET):
            assert secret not in whole
        shot = browser.screenshot(tmp_path / f"status-page-{'js' if javascript else 'no-js'}.png")
        print(f"status page screenshot: {shot}")
        assert shot.stat().st_size > 10_000
    finally:
        browser.close()
    with urllib.request.urlopen(daemon.url + "/", timeout=10) as resp:  # noqa: S310
        assert resp.headers["Content-Type"].startswith("text/html")
        source = resp.read().decode()
    assert "<script" not in source
    for secret in (*CANARIES, WD_SECRET):
        assert secret not in source
