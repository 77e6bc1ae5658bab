"""A minimal W3C WebDriver client over urllib for Debian's chromedriver (no selenium needed).

Used by the status-page browser test: start chromedriver on a free loopback port, open a headless
Chromium session (JavaScript on or off), navigate, read the rendered text of elements as a person
sees it, and save a screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers.processes import free_port, wait_until

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def find_chromedriver() -> tuple[str, str]:
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not driver or not browser:
        raise AssertionError(
            "chromium + chromedriver not found: run `bash scripts/install-chromium.sh` "
            "(or `make tools`), or set CHROMEDRIVER and CHROMIUM"
        )
    return driver, browser


class Browser:
    def __init__(self, *, javascript: bool, log: Path) -> None:
        driver, browser = find_chromedriver()
        self.port = free_port()
        self._log = log.open("wb")
        self._proc = subprocess.Popen(
            [driver, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: self._call("GET", "/status").get("ready"), 20, "chromedriver")
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1500"]
        if not javascript:
            args.append("--blink-settings=scriptEnabled=false")
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": browser, "args": args}}
        session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = f"/session/{session['sessionId']}"

    def _call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
            return json.loads(resp.read())["value"]

    def get(self, url: str) -> None:
        self._call("POST", f"{self.session}/url", {"url": url})

    def text(self, css: str) -> str:
        """The rendered, visible text of the first element matching `css`."""
        found = self._call(
            "POST", f"{self.session}/element", {"using": "css selector", "value": css}
        )
        return str(self._call("GET", f"{self.session}/element/{found[ELEMENT]}/text"))

    def count(self, css: str) -> int:
        found = self._call(
            "POST", f"{self.session}/elements", {"using": "css selector", "value": css}
        )
        return len(found)

    def execute_allowed(self) -> bool:
        """True when the page's JavaScript would run (a script sets a marker)."""
        return bool(
            self._call("POST", f"{self.session}/execute/sync", {"script": "return 1", "args": []})
        )

    def screenshot(self, path: Path) -> Path:
        png = self._call("GET", f"{self.session}/screenshot")
        path.write_bytes(base64.b64decode(png))
        return path

    def close(self) -> None:
        try:
            self._call("DELETE", self.session)
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._log.close()
