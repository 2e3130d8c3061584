"""The tools' benchmark: `python -m evals.bench` (or `make bench`).

Every target is a ratio against a baseline measured in the same run on the same machine (cold
index vs ripgrep on the same patterns and files, the search tool vs plain `rg -e Q`, diagnose vs a
cold index), so the numbers stay comparable across machines and load. `docs/performance.md`
quotes the last full-size run and the command that reproduces it.
"""
