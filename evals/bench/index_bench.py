"""Cold findings-index build vs ripgrep finding the same patterns in the same files, and the warm
`errors` call that the index makes cheap."""

from __future__ import annotations

from pathlib import Path

from evals.bench.model import Metric
from evals.bench.timing import best_of, best_probe, wall_times
from tools.bundle.store import BundleRecord, BundleStore
from tools.bundle.textio import bundle_files, is_binary
from tools.context import ToolContext
from tools.findings.catalog import line_patterns, line_patterns_for
from tools.registry import call_tool

INDEX_RATIO_TARGET = 2.0
WARM_ERRORS_TARGET_S = 0.2
RSS_TARGET_MB = 300.0


def rg_union_command(rg: str, root: Path) -> list[str]:
    """ripgrep with the union of every catalog line pattern over the files the index line-scans.

    Same regex flavour as the index's own rg runs (`--no-unicode`), and `--search-zip` because the
    index reads rotated `.gz` logs too: the baseline does the same work, minus the index's.
    """
    union = "|".join(f"(?:{p.search_regex})" for p in line_patterns())
    files = [bf.rel for bf in bundle_files(root) if line_patterns_for(bf.rel) and not is_binary(bf.path)]
    return [rg, "--no-config", "--no-ignore", "--hidden", "--search-zip", "--no-unicode", "--line-number",
            "-e", union, "--", *files]


def cold_index_vs_rg(rg: str, root: Path, year: int | None, repeat: int) -> tuple[list[Metric], dict[str, object]]:
    cmd = rg_union_command(rg, root)
    wall_times(cmd, 1, cwd=root)  # warm the page cache for both sides
    rg_best = min(wall_times(cmd, repeat, cwd=root))
    # The floor: one literal over the same files, i.e. what reading the bytes costs ripgrep.
    literal = [*cmd[: cmd.index("-e")], "-e", "table full", *cmd[cmd.index("--") :]]
    floor = min(wall_times(literal, repeat, cwd=root))
    args = ["index", str(root)] + (["--year", str(year)] if year else [])
    cold = best_probe(repeat, *args)
    ratio = cold["seconds"] / rg_best
    metrics = [
        Metric(name="cold index vs rg (same patterns, same files)", value=round(cold["seconds"], 3), unit="s",
               baseline=round(rg_best, 3), baseline_label="rg union of catalog line patterns",
               ratio=round(ratio, 2), target=f"≤ {INDEX_RATIO_TARGET:g}×", ok=ratio <= INDEX_RATIO_TARGET),
        Metric(name="peak RSS, index build", value=cold["rss_mb"], unit="MB", target=f"< {RSS_TARGET_MB:g} MB",
               ok=cold["rss_mb"] < RSS_TARGET_MB, note="child process: max(self, rg children) ru_maxrss"),
    ]
    return metrics, {"cold_index_runs_s": cold["all_seconds"], "findings": cold["findings"],
                     "engine": cold["engine"], "bytes_scanned": cold["bytes_scanned"], "rg_union_s": rg_best,
                     "rg_one_literal_s": floor}


def warm_errors(store: BundleStore, record: BundleRecord, repeat: int) -> tuple[list[Metric], dict[str, object]]:
    ToolContext(store=store).index(record)  # the cache beside the bundle exists from here on

    def fresh_context() -> None:
        # A new run: the index comes from the on-disk cache, not from memory.
        outcome = call_tool(ToolContext(store=store, instance_ids=[record.instance_id]), "errors", {})
        assert outcome.ok, outcome.error

    cached_ctx = ToolContext(store=store, instance_ids=[record.instance_id])

    def same_context() -> None:
        assert call_tool(cached_ctx, "errors", {}).ok

    same_context()
    disk, _ = best_of(fresh_context, repeat)
    memory, _ = best_of(same_context, repeat)
    return [
        Metric(name="warm errors call (index cached on disk, new context)", value=round(disk, 4), unit="s",
               target=f"≤ {WARM_ERRORS_TARGET_S:g} s", ok=disk <= WARM_ERRORS_TARGET_S),
    ], {"warm_errors_in_memory_s": round(memory, 5)}
