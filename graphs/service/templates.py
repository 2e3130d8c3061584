"""The page's HTML, server-rendered from plain strings: no build step, no template engine to add.

Everything shown comes through `esc()` unless it is `Markup` we built ourselves, so log-derived
text (alert text, evidence lines, action names) can never become markup or script.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from graphs.service.queue import Job


class Markup(str):
    """HTML we produced; `esc` leaves it alone."""


def esc(value: Any) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def h(template: str, **values: Any) -> Markup:
    """`template.format` with every value escaped (Markup passes through)."""
    return Markup(template.format(**{k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[Markup]) -> Markup:
    return Markup("".join(esc(p) for p in parts))


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d232a;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}header .who{margin-left:auto;font-size:.9rem}
main{padding:1rem 1.2rem;max-width:1200px}h2{margin-top:1.6rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.35rem .5rem;
border-bottom:1px solid #e3e6ea;vertical-align:top;font-size:.92rem}th{background:#eef0f3}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}
.badge{display:inline-block;border-radius:4px;padding:0 .4rem;font-size:.8rem;font-weight:600}
.RED{background:#fde2e1;color:#a1130f}.YELLOW{background:#fff3c4;color:#7a5b00}.GREEN{background:#dcf5e3;color:#17692f}
.st-done{color:#17692f}.st-failed{color:#a1130f}.st-waiting_approval{color:#7a5b00}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
ul.evidence li{margin:.2rem 0}textarea{width:100%;max-width:40rem}
button{padding:.35rem .9rem;margin-right:.4rem;border-radius:4px;border:1px solid #888;cursor:pointer}
button.approve{background:#17692f;color:#fff;border-color:#17692f}button.reject{background:#fff;color:#a1130f}
.error{background:#fde2e1;border:1px solid #a1130f;padding:.6rem 1rem;border-radius:6px}
"""


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def layout(title: str, body: Markup, *, who: str | None = None, csrf: str | None = None) -> str:
    user = Markup("")
    if who:
        user = h('<span class="who">signed in as <b>{who}</b> '
                 '<form method="post" action="/logout" style="display:inline">'
                 '<input type="hidden" name="csrf" value="{csrf}"><button type="submit">Sign out</button></form></span>',
                 who=who, csrf=csrf or "")
    return str(h('<!doctype html><html lang="en"><head><meta charset="utf-8">'
                 '<meta name="viewport" content="width=device-width,initial-scale=1">'
                 '<title>{title} · sopgraph</title><style>{css}</style></head><body>'
                 '<header><a href="/">sopgraph</a><span>incident runs</span>{user}</header>'
                 '<main>{body}</main></body></html>', title=title, css=Markup(CSS), user=user, body=body))


def login_page(error: str | None = None) -> str:
    err = h('<p class="error" id="login-error">{e}</p>', e=error) if error else Markup("")
    body = h('<h1>Sign in</h1>{err}<form method="post" action="/login" class="card" id="login-form">'
             '<label for="token">API token</label><br>'
             '<input type="password" id="token" name="token" size="48" autocomplete="current-password" required>'
             '<button type="submit" id="login-submit">Sign in</button></form>'
             '<p>The token is kept in a cookie for this site only; sign out to remove it.</p>', err=err)
    return layout("Sign in", body)


def error_page(status: int, reason: str, back: str = "/", *, who: str | None = None, csrf: str | None = None) -> str:
    body = h('<h1>Request refused ({status})</h1><p class="error" id="error-reason">{reason}</p>'
             '<p><a href="{back}">Back</a></p>', status=status, reason=reason, back=back)
    return layout("Refused", body, who=who, csrf=csrf)


def _evidence(items: list[dict[str, Any]]) -> Markup:
    if not items:
        return Markup("<p><i>No evidence attached.</i></p>")
    lis = [h('<li>{content} <span class="mono">[{ids}]</span> <small>({kind})</small></li>',
             content=e.get("content", ""), ids=", ".join(e.get("finding_ids") or []), kind=e.get("type", ""))
           for e in items]
    return h('<ul class="evidence">{items}</ul>', items=join(lis))


def _decision_form(job: Job, p: dict[str, Any], csrf: str | None) -> Markup:
    if csrf is None:
        return Markup("<p><i>Sign in to decide.</i></p>")
    aid = str(p.get("approval_id", ""))
    return h('<form method="post" action="/v1/runs/{run}/approvals/{aid}" class="decide" data-approval="{aid}">'
             '<input type="hidden" name="csrf" value="{csrf}">'
             '<label>Reason<br><textarea name="reason" rows="2" maxlength="2000"></textarea></label><br>'
             '<button type="submit" name="decision" value="approve" class="approve" id="approve-{aid}">Approve</button>'
             '<button type="submit" name="decision" value="reject" class="reject" id="reject-{aid}">Reject</button>'
             '</form>', run=job.id, aid=aid, csrf=csrf)


def pending_card(job: Job, p: dict[str, Any], csrf: str | None) -> Markup:
    approvers = [a for a in p.get("approvers") or []]
    return h('<div class="card pending" id="pending-{aid}">'
             '<div><span class="badge {rating}">{rating}</span> <b class="action">{action}</b></div>'
             '<div>run <a href="/runs/{run}">{short}</a> · {runbook} on <span class="mono">{nodes}</span>'
             ' · approval <code>{aid}</code> · approvers: {approvers}</div>'
             '<h4>Evidence behind this request</h4>{evidence}{form}</div>',
             aid=p.get("approval_id", ""), rating=p.get("rating", ""), action=p.get("action", ""), run=job.id,
             short=job.id[:12], runbook=job.runbook_id, nodes=", ".join(job.instance_ids),
             approvers=", ".join(approvers) or "any operator", evidence=_evidence(list(p.get("evidence") or [])),
             form=_decision_form(job, p, csrf))


def _run_row(job: Job) -> Markup:
    rc = (job.report or {}).get("root_cause", "")
    return h('<tr class="run" data-run="{id}"><td><a href="/runs/{id}" class="mono">{short}</a></td>'
             '<td class="status st-{status}">{status}</td><td>{phase}</td><td>{runbook}</td>'
             '<td class="mono">{nodes}</td><td>{title}</td><td>{rc}</td><td>{updated}</td></tr>',
             id=job.id, short=job.id[:12], status=job.status, phase=job.phase or "", runbook=job.runbook_id,
             nodes=", ".join(job.instance_ids), title=job.alert.get("title", ""), rc=rc, updated=_when(job.updated_at))


def index_page(runs: list[Job], waiting: list[Job], counts: dict[str, int], *, who: str | None,
               csrf: str | None) -> str:
    cards = [pending_card(j, p, csrf) for j in waiting for p in j.pending]
    pend = join(cards) if cards else Markup('<p id="no-pending"><i>Nothing is waiting for approval.</i></p>')
    rows = join(_run_row(j) for j in runs) if runs else Markup('<tr><td colspan="8"><i>No runs yet.</i></td></tr>')
    summary = " · ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items())
    body = h('<h1>Runs</h1><p id="counts">{summary} · <a href="/">reload</a></p>'
             '<h2>Waiting for approval</h2><div id="pending">{pend}</div>'
             '<h2>Recent runs</h2><table id="runs"><thead><tr><th>run</th><th>status</th><th>phase</th>'
             '<th>runbook</th><th>instances</th><th>alert</th><th>root cause</th><th>updated</th></tr></thead>'
             '<tbody>{rows}</tbody></table>', summary=summary, pend=pend, rows=rows)
    return layout("Runs", body, who=who, csrf=csrf)


def run_page(job: Job, *, who: str | None, csrf: str | None) -> str:
    r = job.report or {}
    actions = [h('<tr><td><span class="badge {rating}">{rating}</span></td><td>{action}</td><td>{status}</td>'
                 '<td class="mono">{aid}</td><td>{note}</td></tr>', rating=a.get("rating", ""), action=a.get("action", ""),
                 status=a.get("status", ""), aid=a.get("approval_id") or "", note=a.get("note", ""))
               for a in r.get("proposed_actions") or []]
    decisions = [h('<li class="decision">{decision} by <b>{by}</b> at {at}: {action} <i>{reason}</i></li>',
                   decision=d.get("decision", ""), by=d.get("by", ""), at=d.get("at", ""), action=d.get("action", ""),
                   reason=d.get("reason", "")) for d in r.get("approvals") or []]
    mit = r.get("mitigation") or {}
    escalation = (join(h("<li>{x}</li>", x=x) for x in r.get("escalation_reasons") or [])
                  if r.get("escalate") else Markup("<li>no</li>"))
    pend = join(pending_card(job, p, csrf) for p in job.pending)
    err = h('<p class="error">{e}</p>', e=job.error) if job.error else Markup("")
    body = h('<h1>Run <span class="mono">{short}</span></h1>{err}'
             '<table><tbody>'
             '<tr><th>status</th><td id="run-status" class="status st-{status}">{status}</td></tr>'
             '<tr><th>phase</th><td id="run-phase">{phase}</td></tr>'
             '<tr><th>runbook</th><td>{runbook}</td></tr><tr><th>instances</th><td class="mono">{nodes}</td></tr>'
             '<tr><th>alert</th><td>{title}<br><small>{source}</small></td></tr>'
             '<tr><th>root cause</th><td id="root-cause">{rc}</td></tr><tr><th>severity</th><td>{sev}</td></tr>'
             '<tr><th>attempts</th><td>{attempts} (duplicate alerts folded in: {dups})</td></tr>'
             '<tr><th>created / updated</th><td>{created} / {updated}</td></tr>'
             '</tbody></table>'
             '{pend}'
             '<h2>Evidence</h2>{evidence}'
             '<h2>Mitigation</h2><p>Immediate: {imm}</p><p>Long term: {lt}</p>'
             '<h2>Escalation</h2><ul>{escalation}</ul>'
             '<h2>Proposed actions</h2><table><thead><tr><th>rating</th><th>action</th><th>status</th><th>approval</th>'
             '<th>note</th></tr></thead><tbody>{actions}</tbody></table>'
             '<h2>Decisions</h2><ul id="decisions">{decisions}</ul>',
             short=job.id[:12], err=err, status=job.status, phase=job.phase or "", runbook=job.runbook_id,
             nodes=", ".join(job.instance_ids), title=job.alert.get("title", ""), source=job.alert.get("source", ""),
             rc=r.get("root_cause", ""), sev=r.get("severity", ""), attempts=job.attempts, dups=job.duplicates,
             created=_when(job.created_at), updated=_when(job.updated_at), pend=pend,
             evidence=_evidence(list(r.get("evidence") or [])), imm=_fmt(mit.get("immediate")),
             lt=_fmt(mit.get("long_term")), escalation=escalation,
             actions=join(actions) if actions else Markup('<tr><td colspan="5"><i>none</i></td></tr>'),
             decisions=join(decisions) if decisions else Markup("<li><i>none yet</i></li>"))
    return layout(f"Run {job.id[:12]}", body, who=who, csrf=csrf)


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)
