"""Pure evaluation of the connection-test steps: facts in, `CheckStep` out. No I/O, no clock.

probes.ConnectionTester gathers the facts (server time, key info, markets) and calls these;
unit and property tests call them directly (e.g. a withdraw-enabled key is never healthy).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from backfuture_daemon.exchanges.binance_keys import BinanceKeyInfo, evaluate_ip_restriction
from backfuture_daemon.exchanges.port import KeyInfo, ServerTime
from backfuture_daemon.health import (
    CheckStep,
    ConnectionReport,
    ErrorClass,
    StepStatus,
    aggregate_status,
)

E = ErrorClass
S = StepStatus

STEP_ORDER: tuple[str, ...] = (
    "reachability",
    "clock",
    "auth",
    "permissions",
    "withdraw",
    "ip_whitelist",
    "key_expiry",
    "pairs",
    "futures",
)
CLOCK_WARN_MS = 1000.0
#: server-time samples taken when the first one does not decide the clock step.
CLOCK_SAMPLES = 3
#: a failed or uncertain clock is re-checked this soon (ConnectionReport.retry_after_seconds).
CLOCK_RECHECK_SECONDS = 60.0
#: round trips below this (±5 ms) are not worth mentioning in the reason.
CLOCK_SHOWN_UNCERTAINTY_MS = 5.0
KEY_EXPIRY_WARN_DAYS = 14.0


def not_checked(name: str, why: str) -> CheckStep:
    return CheckStep(name, S.UNKNOWN, f"not checked: {why}")


def evaluate_clock(
    skew_ms: float,
    window_ms: float,
    ahead_ms: float | None = None,
    uncertainty_ms: float = 0.0,
) -> CheckStep:
    """skew = local - server, known to within ±`uncertainty_ms` (half the round trip).

    ≤ 1 s pass; inside the exchange's window warn; beyond it fail. A threshold counts as crossed
    only when the skew exceeds it by more than the uncertainty (NTP's rule): a skew that may be
    queueing in the round trip is not a clock fault. Beyond the window but within the
    uncertainty the step warns "uncertain, re-checking" instead of failing.
    `window_ms` bounds a clock running behind (recvWindow); `ahead_ms` one running ahead, which
    MEXC rejects beyond 1 s (`timestamp < serverTime + 1000`, reference §2.1). Default: symmetric.
    """
    limit = window_ms if skew_ms <= 0 or ahead_ms is None else ahead_ms
    warn_at = min(CLOCK_WARN_MS, limit)
    size, u = abs(skew_ms), max(uncertainty_ms, 0.0)
    text = f"local clock is {skew_ms / 1000:+.2f} s off the exchange's"
    if u >= CLOCK_SHOWN_UNCERTAINTY_MS:
        text += f" (±{u / 1000:.2f} s: round trip {2 * u / 1000:.2f} s)"
    if size <= warn_at:
        return CheckStep("clock", S.PASS, text)
    if size <= limit:
        if size - u <= warn_at:
            return CheckStep(
                "clock", S.PASS, f"{text}; within the 1 s tolerance given the round trip"
            )
        return CheckStep(
            "clock",
            S.WARN,
            f"{text} (warn above 1 s; the exchange rejects beyond {limit / 1000:g} s)",
            E.CLOCK_SKEW,
        )
    side = "ahead of" if skew_ms > 0 else "behind"
    if size - u <= limit:
        return CheckStep(
            "clock",
            S.WARN,
            f"{text}: maybe more than {limit / 1000:g} s {side} the exchange, but the round trip "
            f"makes it uncertain; re-checking in {CLOCK_RECHECK_SECONDS:g} s",
            E.CLOCK_SKEW,
        )
    return CheckStep(
        "clock",
        S.FAIL,
        f"{text}: more than {limit / 1000:g} s {side} the exchange, signed requests are "
        "rejected (this test signed with the server's time to check the rest)",
        E.CLOCK_SKEW,
    )


def best_sample(samples: Sequence[ServerTime]) -> ServerTime:
    """The lowest-RTT sample: its midpoint bounds the skew most tightly."""
    return min(samples, key=lambda t: t.latency_ms)


def clock_decided(sample: ServerTime, window_ms: float, ahead_ms: float | None = None) -> bool:
    """True when more samples cannot change the verdict: it passes, or its uncertainty does not
    reach back across the threshold it crossed."""
    skew, u = sample.skew_ms, sample.latency_ms / 2.0
    step = evaluate_clock(skew, window_ms, ahead_ms)
    if step.status is S.PASS:
        return True
    return evaluate_clock(skew, window_ms, ahead_ms, u).status is step.status


@dataclass(frozen=True, slots=True)
class ClockJudgement:
    step: CheckStep
    #: the sample judged (lowest RTT); its skew is the one reported.
    sample: ServerTime
    #: seconds until the connection should be tested again: a clock that failed or was
    #: uncertain is re-checked soon (an operator fixes NTP in minutes); None: the usual schedule.
    recheck_after: float | None


def judge_clock(
    samples: Sequence[ServerTime], window_ms: float, ahead_ms: float | None = None
) -> ClockJudgement:
    """The clock step from one or more server-time samples, judged on the lowest-RTT one."""
    best = best_sample(samples)
    step = evaluate_clock(best.skew_ms, window_ms, ahead_ms, best.latency_ms / 2.0)
    limit = window_ms if best.skew_ms <= 0 or ahead_ms is None else ahead_ms
    beyond = abs(best.skew_ms) > limit
    return ClockJudgement(step, best, CLOCK_RECHECK_SECONDS if beyond else None)


def evaluate_permissions(
    info: KeyInfo, *, needs_trade: bool, needs_futures: bool, trade_probed: bool = False
) -> CheckStep:
    """Read + trade required; futures only when a strategy needs it; an invalid key fails."""
    if not info.valid:
        reason = info.invalid_reason or "the exchange reports the key as not valid"
        return CheckStep("permissions", S.FAIL, reason, E.INVALID_KEY)
    missing: list[tuple[str, ErrorClass]] = []
    if info.read is False:
        missing.append(("read", E.NO_READ_PERMISSION))
    if needs_trade and info.trade is False:
        missing.append(("trade", E.NO_TRADE_PERMISSION))
    if needs_futures and info.futures is False:
        missing.append(("futures", E.NO_FUTURES_PERMISSION))
    scopes = f" (key scopes: {', '.join(info.scopes)})" if info.scopes else ""
    how = " (trade proven with a test order)" if trade_probed else ""
    if missing:
        names = ", ".join(n for n, _ in missing)
        return CheckStep(
            "permissions", S.FAIL, f"key lacks {names} permission{scopes}", missing[0][1]
        )
    granted = ["read"] + (["trade"] if needs_trade else []) + (["futures"] if needs_futures else [])
    unknown = [
        n
        for n, v in (("trade", info.trade), ("futures", info.futures))
        if v is None and ((n == "trade" and needs_trade) or (n == "futures" and needs_futures))
    ]
    if unknown:
        return CheckStep(
            "permissions", S.UNKNOWN, f"could not read the {', '.join(unknown)} permission{scopes}"
        )
    return CheckStep("permissions", S.PASS, f"{', '.join(granted)} permission present{how}{scopes}")


def evaluate_withdraw(info: KeyInfo | None) -> CheckStep:
    """A key that can withdraw is ALWAYS a failure, whatever else is true."""
    if info is None or info.withdraw is None:
        return CheckStep(
            "withdraw",
            S.UNKNOWN,
            "withdraw permission not readable; make sure it is disabled on the key",
        )
    if info.withdraw:
        return CheckStep(
            "withdraw",
            S.FAIL,
            "the key has the withdrawal permission (never allowed)",
            E.WITHDRAW_ENABLED,
        )
    if info.transfer_scopes:
        names = ", ".join(info.transfer_scopes)
        return CheckStep(
            "withdraw",
            S.WARN,
            f"no withdrawal permission, but the key has {names} (moves funds between your own "
            "accounts): a trading bot does not need it, disable it",
        )
    if info.withdraw_read_scopes:
        names = ", ".join(info.withdraw_read_scopes)
        return CheckStep(
            "withdraw",
            S.PASS,
            f"withdrawal permission disabled ({names} only reads withdrawal history)",
        )
    return CheckStep("withdraw", S.PASS, "withdrawal permission disabled")


def _normalise_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # ::ffff:a.b.c.d is the IPv4 address
    return addr


def _masked_match(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    """KuCoin's masked entries keep only the first and last part: `203.**.154` (IPv4); an IPv6
    entry masked the same way (`2001:**:1`) compares the first and last group ⚠ (unverified)."""
    if isinstance(addr, ipaddress.IPv4Address):
        parts, mine = entry.split("."), str(addr).split(".")
        return len(parts) >= 2 and "." in entry and (parts[0], parts[-1]) == (mine[0], mine[-1])
    parts = entry.split(":")
    groups = addr.exploded.split(":")
    if len(parts) < 2 or "." in entry:
        return False
    try:
        first, last = int(parts[0], 16), int(parts[-1], 16)
    except ValueError:
        return False
    return (first, last) == (int(groups[0], 16), int(groups[-1], 16))


def ip_matches(ip: str, entry: str) -> bool:
    """Whitelist entry match: exact (any IPv4/IPv6 spelling), CIDR, or KuCoin's masked `a.**.d`
    (first+last octet). IPv4-mapped IPv6 egress addresses count as their IPv4 address."""
    entry = entry.strip()
    addr = _normalise_ip(ip)
    if addr is None:
        return ip.strip() == entry
    if "*" in entry:
        return _masked_match(addr, entry)
    try:
        return addr in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return ip == entry


def evaluate_ip_whitelist(
    info: KeyInfo | None, egress_ips: Sequence[str], *, require: bool
) -> CheckStep:
    if isinstance(info, BinanceKeyInfo):  # Binance shows only "restricted: yes/no"
        return evaluate_ip_restriction(info, egress_ips, require=require)
    if info is None or info.ip_whitelist is None:
        return CheckStep("ip_whitelist", S.UNKNOWN, "IP whitelist not readable on this exchange")
    entries = info.ip_whitelist
    if not entries:
        text = "the key has no IP restriction"
        if require:
            return CheckStep(
                "ip_whitelist",
                S.FAIL,
                f"{text}; policy.require_ip_whitelist is true",
                E.IP_WHITELIST_MISSING,
            )
        return CheckStep(
            "ip_whitelist",
            S.WARN,
            f"{text} (recommended: whitelist the server IPs)",
            E.IP_WHITELIST_MISSING,
        )
    listed = ", ".join(entries[:5]) + (", …" if len(entries) > 5 else "")
    if not egress_ips:
        return CheckStep(
            "ip_whitelist",
            S.PASS,
            f"key restricted to {len(entries)} IP(s) ({listed}); "
            "policy.egress_ips is empty, so not compared",
        )
    absent = [ip for ip in egress_ips if not any(ip_matches(ip, e) for e in entries)]
    if absent:
        return CheckStep(
            "ip_whitelist",
            S.FAIL,
            f"egress IP {', '.join(absent)} not in the key's whitelist ({listed})",
            E.IP_NOT_ALLOWED,
        )
    masked = (
        " (the exchange shows the list masked: only the first and last part of each address "
        "could be compared)"
        if any("*" in e for e in entries)
        else ""
    )
    return CheckStep(
        "ip_whitelist", S.PASS, f"whitelist ({listed}) contains every egress IP{masked}"
    )


def evaluate_key_expiry(info: KeyInfo | None, now: float) -> tuple[CheckStep, float | None]:
    """MEXC keys without an IP binding expire (remainingValidity days): warn at ≤ 14 days."""
    if info is None:
        return CheckStep("key_expiry", S.UNKNOWN, "key expiry not readable"), None
    days = info.expires_in_days
    if days is None:
        return CheckStep("key_expiry", S.PASS, "the exchange reports no expiry for this key"), None
    expiry = now + days * 86400.0
    if days <= 0:
        return CheckStep(
            "key_expiry",
            S.FAIL,
            "the key has expired: create a new key (keys bound to IP addresses do not expire)",
            E.INVALID_KEY,
        ), expiry
    if days <= KEY_EXPIRY_WARN_DAYS:
        return CheckStep(
            "key_expiry", S.WARN, f"the key expires in {days:g} day(s)", E.KEY_EXPIRING
        ), expiry
    return CheckStep("key_expiry", S.PASS, f"the key expires in {days:g} days"), expiry


def evaluate_pairs(problems: Iterable[str], checked: int) -> CheckStep:
    found = list(problems)
    if found:
        return CheckStep("pairs", S.FAIL, "; ".join(found), E.PAIR_NOT_TRADABLE)
    if checked == 0:
        return CheckStep("pairs", S.PASS, "no strategy uses this connection")
    return CheckStep("pairs", S.PASS, f"{checked} pair(s) exist, active and API-tradable")


def error_classes(steps: Iterable[CheckStep]) -> tuple[ErrorClass, ...]:
    """Failures before warnings, each in step order; withdraw_enabled, when present, first."""
    ordered = [s for s in steps if s.status is S.FAIL] + [s for s in steps if s.status is S.WARN]
    seen: list[ErrorClass] = []
    for s in ordered:
        if s.error_class and s.error_class not in seen:
            seen.append(s.error_class)
    if E.WITHDRAW_ENABLED in seen:
        seen.remove(E.WITHDRAW_ENABLED)
        seen.insert(0, E.WITHDRAW_ENABLED)
    return tuple(seen)


def build_report(
    connection: str, exchange: str, steps: Sequence[CheckStep], **facts: object
) -> ConnectionReport:
    """The report for a finished step list: status from aggregate_status, classes in order."""
    ordered = tuple(steps)
    return ConnectionReport(
        connection=connection,
        exchange=exchange,
        status=aggregate_status(ordered),
        steps=ordered,
        error_classes=error_classes(ordered),
        **facts,  # type: ignore[arg-type]
    )
