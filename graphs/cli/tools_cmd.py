"""`sopgraph tools …` (placeholder until the tool set lands)."""

import typer

app = typer.Typer(help="List and call the diagnostic tools.", no_args_is_help=True)
