"""The `sopgraph` command line. Sub-command groups live in sibling modules, assembled here.

Start-up must stay cheap (`sopgraph --help` well under half a second), so no module imported
from here may import anthropic, boto3 or langgraph at module level: they load inside commands.
"""

from __future__ import annotations

import os
import sys

import typer

from graphs.cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, CliError

app = typer.Typer(
    name="sopgraph",
    help="Run SRE runbooks as LangGraph state machines over EKS node log bundles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _assemble() -> None:
    from graphs.cli import runbooks_cmd, tools_cmd

    app.add_typer(runbooks_cmd.app, name="runbooks")
    app.add_typer(tools_cmd.app, name="tools")
    for optional in ("diagnose_cmd", "approvals_cmd", "serve_cmd"):
        try:
            module = __import__(f"graphs.cli.{optional}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"graphs.cli.{optional}":
                raise
            continue
        module.register(app)
    # Layers above graphs (evals) add their commands through an entry point, so that imports
    # still run one way: graphs never imports evals.
    from importlib.metadata import entry_points

    for ep in entry_points(group="sopgraph.commands"):
        ep.load()(app)


_assemble()


def main(argv: list[str] | None = None) -> int:
    """Console entry point: expected errors exit 2 with one clear line, never a traceback."""
    try:
        # In non-standalone mode a command's typer.Exit(n) comes back as the return value.
        rc = app(args=argv, standalone_mode=False)
    except CliError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return EXIT_FAILURE
    except SystemExit as exc:  # click's usage errors arrive here in standalone_mode=False
        return int(exc.code or 0)
    except Exception as exc:  # the last line of defence: one line, exit 1
        from typer._click import exceptions as click_exc  # typer bundles its own click

        if isinstance(exc, click_exc.UsageError):
            exc.show()
            return EXIT_BAD_INPUT
        if isinstance(exc, click_exc.ClickException):
            exc.show()
            return exc.exit_code
        if os.environ.get("SOPGRAPH_DEBUG"):
            raise
        typer.echo(f"error: unexpected failure: {type(exc).__name__}: {exc}", err=True)
        typer.echo("hint: re-run with SOPGRAPH_DEBUG=1 for a traceback, and report it", err=True)
        return EXIT_FAILURE
    return rc if isinstance(rc, int) else 0


def entry() -> None:
    sys.exit(main())
