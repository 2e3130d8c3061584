"""`sopgraph serve`: the Starlette app that takes alerts and decisions and serves the page.

Blocking work (the database, resuming a thread after a decision) runs in the thread pool, so a
slow resume never stalls alert intake. State lives only in the database: any number of these can
run behind a load balancer against one Postgres.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette

from graphs.service.auth import Authenticator
from graphs.service.config import ServiceConfig, load_config
from graphs.service.intake import Intake, load_runbooks
from graphs.service.notify import Notifier
from graphs.service.queue import JobQueue, open_queue

log = logging.getLogger("sopgraph.service")


@dataclass
class Services:
    cfg: ServiceConfig
    queue: JobQueue
    auth: Authenticator
    intake: Intake
    notifier: Notifier

    def close(self) -> None:
        self.notifier.close()
        self.queue.close()


def build_services(cfg: ServiceConfig) -> Services:
    from tools.bundle.store import BundleStore

    queue = open_queue(cfg.database_url, cfg.resolved_state_path())
    store = BundleStore(cfg.resolved_store_dir())
    notifier = Notifier(cfg.webhook_url, timeout_s=cfg.webhook_timeout_s, attempts=cfg.webhook_attempts,
                        backoff_s=cfg.webhook_backoff_s, public_url=cfg.public_url)
    return Services(cfg=cfg, queue=queue, auth=Authenticator(cfg.tokens),
                    intake=Intake(cfg, queue, store, load_runbooks(cfg)), notifier=notifier)


def create_app(cfg: ServiceConfig | None = None) -> Starlette:
    from graphs.service.api import api_routes
    from graphs.service.page import page_routes

    services = build_services(cfg or load_config())
    if not services.auth.configured:
        log.warning("no tokens configured: every request that changes state will be refused (see docs/service.md)")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            services.close()

    app = Starlette(routes=[*api_routes(services), *page_routes(services)], lifespan=lifespan)
    app.state.services = services
    return app
