"""`endpoints` decide where API keys are sent: loopback only, and never in clear text off-host.

The loopback test is on the parsed host (after urlsplit, lower-cased), with no DNS and no lenient
IP forms: names that merely start with "localhost"/"127.0.0.1", `0.0.0.0`, integer and
IPv4-mapped forms, a trailing dot, and URLs with credentials are refused. A remote endpoint
needs `policy.allow_remote_endpoints` AND https (the key header would cross the network).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from backfuture_daemon.configuration.models import Connection, Endpoints, Policy
from backfuture_daemon.configuration.rules import Located, check_revision
from backfuture_daemon.errors import ConfigIssue
from tests.helpers.configrepo import CANARY_KEY, CANARY_SECRET


def issues_for(url: str, policy: Policy | None = None) -> list[ConfigIssue]:
    conn = Connection(
        name="MEXC Spot Main",
        exchange="mexc",  # type: ignore[arg-type]
        api_key=CANARY_KEY,  # type: ignore[arg-type]
        api_secret=CANARY_SECRET,  # type: ignore[arg-type]
        endpoints=Endpoints(spot=url),
    )
    return check_revision(policy or Policy(), [Located("c.yaml", 0, conn)], [], secrets_known=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9101",
        "http://LOCALHOST:9101",
        "http://[::1]:9101",
        "http://127.255.255.254",
        "http://127.0.0.1:9101#@evil.example",  # the fragment is not the host
    ],
)
def test_loopback_endpoints_pass(url: str) -> None:
    assert issues_for(url) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1.evil.example",
        "http://localhost.evil",
        "http://localhost.:9101",
        "http://0.0.0.0:9101",
        "http://2130706433",
        "http://127.1",
        "http://0x7f.0.0.1",
        "http://[::ffff:127.0.0.1]",
        "http://evil.example#@127.0.0.1",
        "https://api.mexc.com",
    ],
)
def test_non_loopback_endpoints_are_refused(url: str) -> None:
    (issue,) = issues_for(url)
    assert issue.error_class == "policy_violation"
    assert issue.path == "connections[0].endpoints.spot"


@pytest.mark.parametrize(
    "url", ["http://x@evil.example", "http://127.0.0.1:9101\\@evil.example", "ftp://127.0.0.1"]
)
def test_credentials_and_other_schemes_are_schema_errors(url: str) -> None:
    with pytest.raises(ValidationError) as err:
        Endpoints(spot=url)
    assert "evil" not in str(err.value)  # hide_input_in_errors


def test_remote_endpoint_needs_https_even_when_allowed() -> None:
    allow = Policy(allow_remote_endpoints=True)
    assert issues_for("https://proxy.example:8443", allow) == []
    (issue,) = issues_for("http://proxy.example:8080", allow)
    assert issue.error_class == "policy_violation"
    assert "https" in issue.message
    assert issues_for("http://127.0.0.1:9101", allow) == []  # loopback may stay plain http


def test_messages_name_the_host_not_the_key() -> None:
    kwargs: dict[str, Any] = {"policy": Policy(allow_remote_endpoints=True)}
    for issue in issues_for("http://proxy.example", **kwargs) + issues_for("http://10.0.0.1"):
        assert CANARY_KEY not in issue.message
        assert CANARY_SECRET not in issue.message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999", "http://127.0.0.1:0", "http://[::1]:65536", "http://x:abc"]
)
def test_a_port_outside_1_to_65535_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="port must be a number from 1 to 65535"):
        Endpoints(spot=url)


def test_an_endpoint_url_is_bounded_so_no_message_repeats_a_huge_host() -> None:
    with pytest.raises(ValidationError, match="at most 2048 characters"):
        Endpoints(spot="http://" + "a" * 5000 + ".example")
