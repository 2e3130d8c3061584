"""`python -m graphs.cli …`, the same as the `sopgraph` console script."""

from graphs.cli import entry

entry()
