"""The read-only status page at `/`: the `/status` document rendered as one HTML page.

Pure (the caller passes `now`); called by telemetry/http.py. It renders the same redacted document
as `/status`, so a secret cannot reach the page by a path `/status` would not take. Server-rendered,
no external assets, no JavaScript; a `<meta refresh>` reloads it. Every value is HTML-escaped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from backfuture_daemon.telemetry.chart import group_chart, number

REFRESH_SECONDS = 10

_STATUS_TEXT = {
    "online": "Online / Connected",
    "degraded": "Degraded",
    "failed": "Failed",
    "unknown": "Unknown (not checked yet)",
}

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2430;background:#f7f8fa}
h1{font-size:20px;margin:0 0 .2em}h2{font-size:16px;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d9dde3;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}.muted{color:#667}
.status{font-weight:600;padding:1px 6px;border-radius:3px}
.online{background:#d7f5dd;color:#135c24}.degraded{background:#fff1c7;color:#6b5200}
.failed{background:#ffd9d6;color:#8a1208}.unknown{background:#e4e7ec;color:#444}
.withdraw-on{background:#b00020;color:#fff;font-weight:700;padding:1px 6px;border-radius:3px}
.perm-off{color:#888}.perm-on{color:#135c24;font-weight:600}
.error{color:#8a1208}.bar{width:160px;height:12px;background:#e4e7ec;display:inline-block}
.bar>span{display:block;height:12px;background:#3c7be0}.bar>span.hot{background:#d9480f}
.recovery{color:#a14a00;font-weight:700}svg{background:#fff;border:1px solid #d9dde3}
.outside{background:#ffd9d6;color:#8a1208;font-weight:700;padding:2px 6px;border-radius:3px}
"""


def render_page(doc: Mapping[str, Any], now: float | None = None) -> str:
    """The whole page for one `/status` document (already redacted by the caller)."""
    at = time.time() if now is None else now
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        "<title>backfuture-daemon status</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>backfuture-daemon</h1>",
        f'<p class="muted">version {_e(doc.get("version"))} · sops {_e(doc.get("sops_version"))}'
        f" · {'ready' if doc.get('ready') else 'not ready'}"
        f"{' · shutting down' if doc.get('shutting_down') else ''}"
        f" · refreshes every {REFRESH_SECONDS}s</p>",
        _config(doc.get("config") or {}, at),
        _connections(_list(doc.get("connections")), at),
        _bots(_list(doc.get("bots")), at),
        "</body></html>",
    ]
    return "\n".join(parts)


def _config(config: Mapping[str, Any], now: float) -> str:
    rows = [
        ("Applied revision", _e(config.get("applied_revision") or "none")),
        ("Attempted revision", _e(config.get("attempted_revision") or "none")),
        ("Last good config", _ago(config.get("last_success_at"), now)),
    ]
    error = config.get("last_error")
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    if error:
        body += (
            '<tr><th>Last config error</th><td class="error" id="config-error">'
            f"{_e(error)}<br><span class='muted'>the last good config keeps running</span>"
            "</td></tr>"
        )
    return f'<h2>Config</h2><table id="config">{body}</table>'


def _connections(connections: Sequence[Mapping[str, Any]], now: float) -> str:
    if not connections:
        return '<h2>Connections</h2><p class="muted">No connections in the config.</p>'
    head = (
        "<tr><th>Connection</th><th>Status</th><th>Errors and what to do</th>"
        "<th>Permissions</th><th>IP restriction</th><th>Key</th><th>Last / next check</th></tr>"
    )
    rows = "".join(_connection_row(c, now) for c in connections)
    return f'<h2>Connections</h2><table id="connections">{head}{rows}</table>'


def _connection_row(c: Mapping[str, Any], now: float) -> str:
    status = str(c.get("status") or "unknown")
    report: Mapping[str, Any] = c.get("report") or {}
    scheduling: Mapping[str, Any] = c.get("scheduling") or {}
    errors = _list(report.get("error_classes"))
    remedies = _list(report.get("remedies"))
    problems = "".join(
        f"<li><code>{_e(cls)}</code>: {_e(remedies[i] if i < len(remedies) else '')}</li>"
        for i, cls in enumerate(errors)
    )
    unused = c.get("strategies") == 0 or c.get("unused") is True
    if unused:
        problems += "<li>no strategy uses this key: delete it on the exchange if it is old</li>"
    expiry = report.get("key_expiry_timestamp")
    key = _e(report.get("key") or c.get("key") or "")
    if isinstance(expiry, int | float):
        key += f"<br><span class='muted'>expires {_when(expiry, now)}</span>"
    created = report.get("key_created_timestamp")
    if isinstance(created, int | float):
        key += f"<br><span class='muted'>created {_when(created, now)}</span>"
    return (
        f'<tr class="connection" data-connection="{_e(c.get("name"))}">'
        f"<td><b>{_e(c.get('name'))}</b><br><span class='muted'>{_e(c.get('exchange'))}</span></td>"
        f'<td><span class="status {_e(status)}">{_e(_STATUS_TEXT.get(status, status))}</span></td>'
        f"<td>{f'<ul>{problems}</ul>' if problems else '—'}</td>"
        f"<td>{_permissions(report.get('permissions') or {})}</td>"
        f"<td>{_ip(report.get('ip_restricted'))}</td>"
        f"<td>{key}</td>"
        f"<td>{_ago(report.get('checked_at'), now)}<br>"
        f"<span class='muted'>next {_when(scheduling.get('next_check_at'), now)}</span></td></tr>"
    )


def _permissions(perms: Mapping[str, Any]) -> str:
    out = []
    for name in ("read", "trade", "futures"):
        value = perms.get(name)
        cls = "perm-on" if value else "perm-off"
        mark = "yes" if value else ("unknown" if value is None else "no")
        out.append(f'<span class="{cls}">{name}: {mark}</span>')
    withdraw = perms.get("withdraw")
    if withdraw:
        out.append('<span class="withdraw-on">WITHDRAWAL ENABLED — bots never start</span>')
    else:
        mark = "unknown" if withdraw is None else "off"
        out.append(f'<span class="perm-off">withdraw: {mark}</span>')
    return "<br>".join(out)


def _ip(restricted: object) -> str:
    if restricted is True:
        return "restricted to listed IPs"
    if restricted is False:
        return '<span class="error">not restricted</span>'
    return '<span class="muted">unknown</span>'


def _bots(bots: Sequence[Mapping[str, Any]], now: float) -> str:
    if not bots:
        return '<h2>Bots</h2><p class="muted">No strategies in the config.</p>'
    return "<h2>Bots</h2>" + "".join(_bot(b, now) for b in bots)


def _bot(b: Mapping[str, Any], now: float) -> str:
    committed, limit = number(b.get("committed_quote")), number(b.get("margin_limit"))
    margin = ""
    if committed is not None and limit is not None and limit > 0:
        share = max(0.0, min(1.0, committed / limit))
        hot = " hot" if share >= 0.9 else ""
        margin = (
            f'<div class="margin">committed {committed:,.2f} of margin limit {limit:,.2f} '
            f'({share:.0%}) <span class="bar" role="img" aria-label="margin used {share:.0%}">'
            f'<span class="{hot.strip()}" style="width:{share * 100:.1f}%"></span></span></div>'
        )
    pnl = number(b.get("realized_pnl"))
    pnl_text = f" · realized PnL {pnl:,.2f}" if pnl is not None else ""
    groups = "".join(_group(g) for g in _list(b.get("groups")))
    return (
        f'<div class="bot" data-strategy="{_e(b.get("strategy"))}">'
        f"<h3>{_e(b.get('strategy'))} <span class='muted'>on {_e(b.get('connection'))} · "
        f"{_e(b.get('mode'))} · {_e(b.get('market'))}{_side(b)}</span></h3>"
        f'<p><span class="status {_bot_class(b.get("state"))}">{_e(b.get("state"))}</span> '
        f"{_e(b.get('reason'))} <span class='muted'>since {_ago(b.get('since'), now)}"
        f"{pnl_text}</span></p>{_outside(b, now)}{margin}{groups}</div>"
    )


def _outside(b: Mapping[str, Any], now: float) -> str:
    """Groups closed outside the bot (liquidated or closed by hand): a problem, in red."""
    count = b.get("closed_outside")
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        return ""
    return (
        f'<p class="outside">{count} group(s) closed outside the bot (liquidated or closed by '
        f"hand on the exchange), last {_ago(b.get('closed_outside_at'), now)}: check the "
        "exchange; lower the leverage or add a stop loss</p>"
    )


def _side(item: Mapping[str, Any]) -> str:
    """ " · short" for a short bot or group (long is the default and left unsaid)."""
    return " · short" if item.get("side") == "short" else ""


def _bot_class(state: object) -> str:
    return {"running": "online", "paused": "degraded", "stopped": "unknown"}.get(str(state), "")


def _group(g: Mapping[str, Any]) -> str:
    recovery = g.get("mode") == "recovery"
    label = (
        f' <span class="recovery">RECOVERY MODE: {_e(g.get("recovery_reason"))}</span>'
        if recovery
        else ""
    )
    return (
        f'<div class="group"><p>{_e(g.get("pair"))}{_side(g)}: average '
        f"{_num(g.get('average_price'))}, "
        f"take profit {_num(g.get('take_profit_price'))}, adds filled {_e(g.get('filled_adds'))}, "
        f"committed {_num(g.get('committed_quote'))}{label}</p>{group_chart(g)}</div>"
    )


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _num(value: object) -> str:
    n = number(value)
    return "—" if n is None else f"{n:,.6g}"


def _e(value: object) -> str:
    return "" if value is None else escape(str(value), quote=True)


def _ago(at: object, now: float) -> str:
    if not isinstance(at, int | float):
        return "never"
    return _when(at, now)


def _when(at: object, now: float) -> str:
    if not isinstance(at, int | float):
        return "—"
    delta = at - now
    span = abs(delta)
    text = (
        f"{span:.0f}s"
        if span < 120
        else f"{span / 60:.0f}m"
        if span < 7200
        else f"{span / 3600:.0f}h"
        if span < 172800
        else f"{span / 86400:.0f}d"
    )
    return f"in {text}" if delta > 0 else f"{text} ago"
