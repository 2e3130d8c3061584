"""`sopgraph serve` (the HTTP service) and `sopgraph worker` (the queue consumer).

Only typer at module level: the service stack (starlette, uvicorn, psycopg, langgraph) loads
inside the commands, so `sopgraph --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer


def _config(path: Path | None, **overrides: object):
    from graphs.cli.errors import CliError
    from graphs.service.config import ConfigError, load_config

    try:
        return load_config(path, overrides={k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise CliError(exc.message, hint=exc.hint) from exc


def _logging(level: str) -> None:
    import logging

    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (0.0.0.0 for all)"),
        port: int = typer.Option(8080, "--port", "-p", help="TCP port"),
        config: Path | None = typer.Option(None, "--config", "-c",
                                           help="service config (default: $SOPGRAPH_HOME/service.yaml)"),
        log_level: str = typer.Option("info", "--log-level", help="debug | info | warning | error"),
    ) -> None:
        """Run the HTTP service: alert intake, runs, approvals and the approval page."""
        import uvicorn

        from graphs.cli.errors import CliError
        from graphs.service.app import create_app
        from graphs.service.queue import QueueError

        cfg = _config(config)
        _logging(log_level)
        try:
            application = create_app(cfg)
        except QueueError as exc:
            raise CliError(str(exc), hint="check SOPGRAPH_DATABASE_URL") from exc
        typer.echo(f"sopgraph serve: listening on http://{host}:{port} "
                   f"({'postgres' if cfg.database_url else 'sqlite ' + str(cfg.resolved_state_path())})", err=True)
        uvicorn.run(application, host=host, port=port, log_level=log_level.lower(), access_log=False)

    @app.command("worker")
    def worker(
        config: Path | None = typer.Option(None, "--config", "-c",
                                           help="service config (default: $SOPGRAPH_HOME/service.yaml)"),
        once: bool = typer.Option(False, "--once", help="process what is queued now, then exit"),
        idle_exit: float | None = typer.Option(None, "--idle-exit", help="exit after this many idle seconds"),
        worker_id: str | None = typer.Option(None, "--id", help="name in the jobs table (default host:pid:random)"),
        log_level: str = typer.Option("info", "--log-level", help="debug | info | warning | error"),
    ) -> None:
        """Consume the run queue (several at once with Postgres; one with SQLite)."""
        import signal
        import threading

        from graphs.cli.errors import CliError
        from graphs.service.queue import QueueError
        from graphs.service.worker import Worker, WorkerError

        cfg = _config(config)
        _logging(log_level)
        stop = threading.Event()

        def on_signal(signum: int, frame: object) -> None:
            # Finish the job at hand (its lease would otherwise have to expire), then stop.
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            w = Worker(cfg, worker_id=worker_id)
            typer.echo(f"sopgraph worker {w.id}: consuming the {w.queue.kind} queue", err=True)
            n = w.run(stop, once=once, idle_exit_s=idle_exit)
        except (WorkerError, QueueError) as exc:
            raise CliError(str(exc), hint=getattr(exc, "hint", None)) from exc
        typer.echo(f"sopgraph worker {w.id}: stopped after {n} run(s)", err=True)
