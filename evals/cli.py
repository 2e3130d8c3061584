"""`sopgraph eval` (registered through the `sopgraph.commands` entry point)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd() -> None:
        """Run the recorded-cassette evals (placeholder until the harness lands)."""
        raise typer.Exit(0)
