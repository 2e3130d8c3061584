"""`sopgraph runbooks …` (placeholder until the runbook compiler lands)."""

import typer

app = typer.Typer(help="List, show, lint and compile runbooks.", no_args_is_help=True)
