"""The JSON API: alerts in, runs out, decisions on pending approvals.

A request is authenticated by `Authorization: Bearer <token>`, or — for the page's own forms — by
the session cookie plus the CSRF field derived from it, so another site cannot make a signed-in
browser approve anything. Refusals say why, in one line.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from graphs.service import templates
from graphs.service.alerts import PARSERS, AlertError, load_json
from graphs.service.app import Services
from graphs.service.auth import csrf_for, may_post_alerts
from graphs.service.config import Identity
from graphs.service.decisions import DecisionError, DecisionIn, decide
from graphs.service.queue import STATUSES, Job

COOKIE = "sopgraph_token"


class Refusal(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def cookie_identity(services: Services, request: Request) -> tuple[Identity | None, str | None]:
    token = request.cookies.get(COOKIE)
    ident = services.auth.identify(token)
    return (ident, token) if ident else (None, None)


def require_identity(services: Services, request: Request, *, read: bool) -> Identity | None:
    """The caller's identity; None only for a read when reads are public. Raises Refusal otherwise."""
    token = bearer_token(request)
    if token is not None:
        ident = services.auth.identify(token)
        if ident is None:
            raise Refusal(401, "the bearer token is not valid")
        return ident
    ident, _ = cookie_identity(services, request)
    if ident is not None and read:
        return ident
    if read and services.cfg.public_reads:
        return None
    if ident is None:
        raise Refusal(401, "authentication required: send Authorization: Bearer <token>")
    return ident


def refusal_response(exc: Refusal) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="sopgraph"'} if exc.status == 401 else None
    return JSONResponse({"error": exc.reason}, status_code=exc.status, headers=headers)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None


def run_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id, "status": job.status, "phase": job.phase, "runbook_id": job.runbook_id,
        "instance_ids": job.instance_ids, "thread_id": job.thread_id, "fingerprint": job.fingerprint,
        "alert": {k: job.alert.get(k) for k in ("source", "title", "labels", "source_fingerprint", "starts_at")},
        "attempts": job.attempts, "duplicates": job.duplicates, "lease_owner": job.lease_owner,
        "created_at": _iso(job.created_at), "updated_at": _iso(job.updated_at), "error": job.error,
        "report": job.report, "pending_approvals": job.pending,
    }


async def _body(services: Services, request: Request) -> bytes:
    limit = services.cfg.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise AlertError(f"body larger than {limit} bytes", status=413)
    body = await request.body()
    if len(body) > limit:
        raise AlertError(f"body larger than {limit} bytes", status=413)
    return body


def api_routes(services: Services) -> list[Route]:
    def alerts_endpoint(source: str):
        async def endpoint(request: Request) -> Response:
            try:
                ident = require_identity(services, request, read=False)
                assert ident is not None
                if bearer_token(request) is None:
                    raise Refusal(401, "alerts need Authorization: Bearer <token>")
                allowed = may_post_alerts(ident)
                if not allowed.allowed:
                    raise Refusal(403, allowed.reason)
            except Refusal as exc:
                return refusal_response(exc)
            try:
                parsed = PARSERS[source](load_json(await _body(services, request)))
            except AlertError as exc:
                return JSONResponse({"error": exc.reason}, status_code=exc.status)
            result = await run_in_threadpool(services.intake.submit, parsed)
            payload: dict[str, Any] = result.model_dump()
            if result.http_status == 422:
                payload["error"] = "; ".join(r.reason for r in result.rejected)
            return JSONResponse(payload, status_code=result.http_status)

        return endpoint

    async def list_runs(request: Request) -> Response:
        try:
            require_identity(services, request, read=True)
        except Refusal as exc:
            return refusal_response(exc)
        status = request.query_params.get("status")
        if status and status not in STATUSES:
            return JSONResponse({"error": f"status must be one of {', '.join(STATUSES)}"}, status_code=400)
        try:
            limit = max(1, min(500, int(request.query_params.get("limit", "50"))))
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            return JSONResponse({"error": "limit and offset must be integers"}, status_code=400)
        jobs = await run_in_threadpool(services.queue.list, status, limit, offset)
        counts = await run_in_threadpool(services.queue.counts)
        return JSONResponse({"runs": [run_view(j) for j in jobs], "counts": counts})

    async def get_run(request: Request) -> Response:
        try:
            require_identity(services, request, read=True)
        except Refusal as exc:
            return refusal_response(exc)
        job = await run_in_threadpool(services.queue.get, request.path_params["run_id"])
        if job is None:
            return JSONResponse({"error": f"no run {request.path_params['run_id']}"}, status_code=404)
        return JSONResponse(run_view(job))

    async def approval(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        approval_id = request.path_params["approval_id"]
        ctype = request.headers.get("content-type", "")
        from_form = ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
        who, token = cookie_identity(services, request)
        csrf = csrf_for(token) if token else None
        back = f"/runs/{run_id}"

        def refuse(status: int, reason: str) -> Response:
            if from_form:
                page = templates.error_page(status, reason, back, who=who.name if who else None, csrf=csrf)
                return HTMLResponse(page, status_code=status)
            return refusal_response(Refusal(status, reason))

        try:
            if from_form:
                form = await request.form()
                fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
                await form.close()
            else:
                data = load_json(await _body(services, request))
                fields = data if isinstance(data, dict) else {}
        except AlertError as exc:
            return refuse(exc.status, exc.reason)
        bearer = bearer_token(request)
        if bearer is not None:
            ident = services.auth.identify(bearer)
            if ident is None:
                return refuse(401, "the bearer token is not valid")
        elif who is not None and token is not None:
            sent = fields.get("csrf") or request.headers.get("x-csrf-token") or ""
            if not hmac.compare_digest(str(sent), csrf_for(token)):
                return refuse(403, "the form's CSRF field is missing or wrong; reload the page and try again")
            ident = who
        else:
            return refuse(401, "authentication required: sign in, or send Authorization: Bearer <token>")
        try:
            body = DecisionIn.model_validate({"decision": fields.get("decision"), "reason": fields.get("reason") or ""})
        except ValidationError:
            return refuse(400, "decision must be approve or reject (with an optional reason)")
        try:
            job = await run_in_threadpool(decide, services.cfg, services.queue, services.notifier, run_id,
                                          approval_id, body, ident)
        except DecisionError as exc:
            return refuse(exc.status, exc.reason)
        if from_form:
            return RedirectResponse(back, status_code=303)
        return JSONResponse(run_view(job))

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return [
        Route("/healthz", health, methods=["GET"]),
        Route("/v1/alerts/alertmanager", alerts_endpoint("alertmanager"), methods=["POST"]),
        Route("/v1/alerts/eventbridge", alerts_endpoint("eventbridge"), methods=["POST"]),
        Route("/v1/alerts", alerts_endpoint("generic"), methods=["POST"]),
        Route("/v1/runs", list_runs, methods=["GET"]),
        Route("/v1/runs/{run_id}", get_run, methods=["GET"]),
        Route("/v1/runs/{run_id}/approvals/{approval_id}", approval, methods=["POST"]),
    ]
