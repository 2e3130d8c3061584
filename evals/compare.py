"""Side-by-side Markdown table of several eval runs (how docs/evals.md's comparison is produced).

    python -m evals.compare offline=OUT1/results.json react=OUT2/results.json cassettes=OUT3/results.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from evals.outputs import Results, load_results


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def comparison(runs: list[tuple[str, Results]]) -> str:
    """One column per run; rows: accuracy, compliance, grounding, cost."""
    rows: list[tuple[str, list[str]]] = []

    def row(name: str, values: list[str]) -> None:
        rows.append((name, values))

    row("model · graph", [f"`{r.run.model}` · {r.run.graph}" for _, r in runs])
    row("cases passed (every check)", [f"{r.summary.passed}/{r.summary.cases}" + (f" (+{r.summary.xfail} xfail)"
                                                                                   if r.summary.xfail else "")
                                       for _, r in runs])
    row("exact label accuracy", [_pct(r.summary.label_accuracy) for _, r in runs])
    labels = list(dict.fromkeys(lb for _, r in runs for lb in r.summary.per_label))
    for label in labels:
        row(f"{label} precision / recall", [
            f"{_pct(r.summary.per_label.get(label, {}).get('precision'))} / "
            f"{_pct(r.summary.per_label.get(label, {}).get('recall'))}" for _, r in runs])
    phases = list(dict.fromkeys(p for _, r in runs for p in r.summary.must_phase_rates))
    row("MUST compliance " + " / ".join(phases), [" / ".join(_pct(r.summary.must_phase_rates.get(p)) for p in phases)
                                                  for _, r in runs])
    row("MUST steps the gate had to force", [str(r.summary.must_forced) for _, r in runs])
    for check, name in (("guardrails", "guardrail compliance"), ("escalation", "escalation correct"),
                        ("ids_resolve", "cited ids resolve"), ("claims_cited", "claims cited"),
                        ("required_evidence", "required evidence cited"), ("conntrack_values", "count/max = bundle"),
                        ("forbidden_claims", "no forbidden claims"), ("schema", "report schema valid")):
        row(name, [_pct(r.summary.check_rates.get(check)) for _, r in runs])
    for key, name in (("model_calls", "model calls / case"), ("tool_calls", "tool calls / case"),
                      ("input_chars", "input chars / case"), ("output_chars", "output chars / case"),
                      ("input_tokens", "input tokens / case"), ("output_tokens", "output tokens / case"),
                      ("wall_s", "wall s / case")):
        row(name, [f"{r.summary.cost_mean.get(key, 0):,.1f}" if key == "wall_s" else
                   f"{r.summary.cost_mean.get(key, 0):,.0f}" for _, r in runs])
    row("elapsed, all cases", [f"{r.run.elapsed_s:.0f} s ({r.run.workers} {r.run.executor}es)" for _, r in runs])
    head = "| | " + " | ".join(name for name, _ in runs) + " |"
    lines = [head, "|---|" + "---|" * len(runs)]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    runs = []
    for arg in argv:
        name, sep, path = arg.partition("=")
        if not sep:
            print(f"error: {arg!r} is not NAME=results.json", file=sys.stderr)
            return 2
        try:
            runs.append((name, load_results(Path(path))))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if not runs:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(comparison(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
