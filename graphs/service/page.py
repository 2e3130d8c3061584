"""The approval page: runs, pending approvals with their evidence, approve/reject buttons.

Signing in stores the token in an HttpOnly, SameSite=Strict cookie; the page's forms post to the
JSON API's approval endpoint with a CSRF field derived from that token (see api.py).
"""

from __future__ import annotations

import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from graphs.service import templates
from graphs.service.api import COOKIE, cookie_identity
from graphs.service.app import Services
from graphs.service.auth import csrf_for

_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_SECURITY_HEADERS)


def page_routes(services: Services) -> list[Route]:
    def viewer(request: Request) -> tuple[str | None, str | None, bool]:
        """(name, csrf, may_view)."""
        ident, token = cookie_identity(services, request)
        if ident is not None and token is not None:
            return ident.name, csrf_for(token), True
        return None, None, services.cfg.public_reads

    async def index(request: Request) -> Response:
        who, csrf, ok = viewer(request)
        if not ok:
            return RedirectResponse("/login", status_code=303)
        runs = await run_in_threadpool(services.queue.list, None, 100, 0)
        waiting = await run_in_threadpool(services.queue.list, "waiting_approval", 100, 0)
        counts = await run_in_threadpool(services.queue.counts)
        return _html(templates.index_page(runs, waiting, counts, who=who, csrf=csrf))

    async def run(request: Request) -> Response:
        who, csrf, ok = viewer(request)
        if not ok:
            return RedirectResponse("/login", status_code=303)
        job = await run_in_threadpool(services.queue.get, request.path_params["run_id"])
        if job is None:
            return _html(templates.error_page(404, f"no run {request.path_params['run_id']}", who=who, csrf=csrf), 404)
        return _html(templates.run_page(job, who=who, csrf=csrf))

    async def login_form(request: Request) -> Response:
        return _html(templates.login_page())

    async def login(request: Request) -> Response:
        form = await request.form()
        token = str(form.get("token") or "").strip()
        await form.close()
        if services.auth.identify(token) is None:
            return _html(templates.login_page("That token is not recognised."), 401)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=services.cfg.cookie_secure,
                        path="/", max_age=12 * 3600)
        return resp

    async def logout(request: Request) -> Response:
        form = await request.form()
        sent = str(form.get("csrf") or "")
        await form.close()
        _, token = cookie_identity(services, request)
        if token is not None and not hmac.compare_digest(sent, csrf_for(token)):
            return _html(templates.error_page(403, "the form's CSRF field is missing or wrong"), 403)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    return [
        Route("/", index, methods=["GET"]),
        Route("/runs/{run_id}", run, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
