"""What an eval run leaves behind: a terminal table, results.json, JUnit XML, a Markdown report, and
the diff against an earlier run (`--baseline OLD.json`).

results.json is the durable record (per case and summary) that later runs diff against, so its
shape is a pydantic model; the other outputs are views of it.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from evals.scoring import CHECKS, CaseScore, Summary, label_key

RESULTS_FILE = "results.json"
JUNIT_FILE = "junit.xml"
MARKDOWN_FILE = "report.md"
COST_KEYS = ("model_calls", "input_chars", "output_chars", "input_tokens", "output_tokens", "tool_calls", "wall_s")


class RunMeta(BaseModel):
    model: str
    graph: str
    cases: str
    mode: str  # offline | replay | record
    started_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    elapsed_s: float = 0.0
    workers: int = 1
    executor: str = "process"
    version: str = ""


class Results(BaseModel):
    run: RunMeta
    summary: Summary
    cases: list[CaseScore]


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def results_json(results: Results) -> str:
    data = results.model_dump(mode="json")
    for case, score in zip(data["cases"], results.cases, strict=True):
        case["failed_checks"] = score.failed_checks
    data["summary"]["ok"] = results.summary.ok
    return json.dumps(data, indent=2) + "\n"


def load_results(path: Path) -> Results:
    """A results.json from an earlier run; errors name the file."""
    try:
        return Results.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read baseline: {exc.strerror}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: not a sopgraph eval results.json ({where}: {first['msg']})") from None


# --------------------------------------------------------------------------------------------
# JUnit and Markdown
# --------------------------------------------------------------------------------------------


def junit_xml(results: Results) -> str:
    s = results.summary
    suite = ET.Element("testsuite", {
        "name": f"sopgraph-eval {results.run.model} {results.run.graph}", "tests": str(s.cases),
        "failures": str(s.failed + s.xpass), "errors": str(s.errors), "skipped": str(s.xfail),
        "time": f"{s.cost_total.wall_s:.3f}", "timestamp": results.run.started_at,
    })
    for score in results.cases:
        case = ET.SubElement(suite, "testcase", {"classname": f"evals.{results.run.graph}", "name": score.name,
                                                 "time": f"{score.cost.wall_s:.3f}"})
        details = "\n".join(f"{name}: {score.checks[name].detail}" for name in score.failed_checks)
        if score.outcome == "error":
            ET.SubElement(case, "error", {"message": (score.error or "")[:200]}).text = score.error
        elif score.outcome == "fail":
            ET.SubElement(case, "failure", {"message": "failed: " + ", ".join(score.failed_checks)}).text = details
        elif score.outcome == "xpass":
            ET.SubElement(case, "failure", {"message": f"passed but marked xfail: {score.xfail}"})
        elif score.outcome == "xfail":
            ET.SubElement(case, "skipped", {"message": f"expected failure: {score.xfail}"}).text = details
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def summary_rows(results: Results) -> list[tuple[str, str]]:
    s = results.summary
    mean = s.cost_mean
    rows = [
        ("cases", str(s.cases)),
        ("passed", f"{s.passed} ({_pct(s.pass_rate)} of the cases not marked xfail)"),
        ("failed / errors", f"{s.failed} / {s.errors}"),
        ("xfail (known, reported) / xpass", f"{s.xfail} / {s.xpass}"),
        ("exact label accuracy", _pct(s.label_accuracy)),
    ]
    for label, st in s.per_label.items():
        rows.append((f"{label} precision / recall", f"{_pct(st['precision'])} / {_pct(st['recall'])}"))
    rows += [
        ("MUST compliance per phase", ", ".join(f"{p} {_pct(r)}" for p, r in s.must_phase_rates.items()) or "–"),
        ("MUST steps forced by the gate", str(s.must_forced)),
        ("guardrail compliance", _pct(s.check_rates.get("guardrails"))),
        ("escalation correct", _pct(s.check_rates.get("escalation"))),
        ("grounding (ids resolve / claims cited / count+max)",
         f"{_pct(s.check_rates.get('ids_resolve'))} / {_pct(s.check_rates.get('claims_cited'))} / "
         f"{_pct(s.check_rates.get('conntrack_values'))}"),
        ("schema valid", _pct(s.check_rates.get("schema"))),
        ("no forbidden claims", _pct(s.check_rates.get("forbidden_claims"))),
        ("mean model calls / tool calls", f"{mean['model_calls']:g} / {mean['tool_calls']:g}"),
        ("mean input / output chars", f"{mean['input_chars']:,.0f} / {mean['output_chars']:,.0f}"),
        ("mean input / output tokens", f"{mean['input_tokens']:,.0f} / {mean['output_tokens']:,.0f}"),
        ("mean wall time per case", f"{mean['wall_s']:.2f} s"),
        ("elapsed (parallel)", f"{results.run.elapsed_s:.1f} s with {results.run.workers} {results.run.executor} worker(s)"),
    ]
    return rows


def markdown(results: Results) -> str:
    r, s = results.run, results.summary
    lines = [f"# sopgraph eval: `{r.model}` · graph `{r.graph}` · {r.mode}", "",
             f"{r.started_at} · cases `{r.cases}` · {'OK' if s.ok else 'FAILED'}", "", "| metric | value |",
             "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary_rows(results)]
    lines += ["", "## Cases", "", "| case | outcome | labels (expected) | failed checks | model calls | input chars | "
              "tokens in/out | wall s |", "|---|---|---|---|---:|---:|---:|---:|"]
    for c in results.cases:
        got = label_key(c.labels) if c.outcome != "error" else "error"
        failed = ", ".join(c.failed_checks) if c.outcome != "error" else (c.error or "")[:80]
        lines.append(f"| {c.name} | {c.outcome} | {got} ({label_key(c.truth_labels)}) | {failed or '–'} | "
                     f"{c.cost.model_calls} | {c.cost.input_chars:,} | {c.cost.input_tokens:,}/{c.cost.output_tokens:,} "
                     f"| {c.cost.wall_s:.2f} |")
    cols = sorted({col for row in s.confusion.values() for col in row})
    lines += ["", "## Confusion (rows: truth, columns: reported)", "", "| truth \\ reported | " + " | ".join(cols) + " |",
              "|---|" + "---:|" * len(cols)]
    for truth, row in sorted(s.confusion.items()):
        lines.append(f"| {truth} | " + " | ".join(str(row.get(col, 0)) for col in cols) + " |")
    lines += ["", "## Checks", "", "| check | pass rate |", "|---|---:|"]
    lines += [f"| {name} | {_pct(s.check_rates.get(name))} |" for name in CHECKS]
    problems = [c for c in results.cases if c.outcome in ("fail", "error", "xfail", "xpass")]
    if problems:
        lines += ["", "## Failures", ""]
        for c in problems:
            note = f" (xfail: {c.xfail})" if c.xfail else ""
            lines.append(f"- **{c.name}** — {c.outcome}{note}")
            if c.error:
                lines.append(f"  - {c.error.splitlines()[0]}")
            for name in c.failed_checks if c.outcome != "error" else []:
                lines.append(f"  - {name}: {c.checks[name].detail}")
    return "\n".join(lines) + "\n"


def write_all(results: Results, out_dir: Path) -> dict[str, Path]:
    paths = {"results": out_dir / RESULTS_FILE, "junit": out_dir / JUNIT_FILE, "markdown": out_dir / MARKDOWN_FILE}
    write_atomic(paths["results"], results_json(results))
    write_atomic(paths["junit"], junit_xml(results))
    write_atomic(paths["markdown"], markdown(results))
    return paths


# --------------------------------------------------------------------------------------------
# Terminal
# --------------------------------------------------------------------------------------------


def print_table(results: Results, console: Any) -> None:
    from rich.table import Table

    style = {"pass": "green", "fail": "red", "error": "red", "xfail": "yellow", "xpass": "red"}
    table = Table(title=f"sopgraph eval · {results.run.model} · {results.run.graph}", show_lines=False)
    for col, justify in (("case", "left"), ("outcome", "left"), ("labels (expected)", "left"), ("failed checks", "left"),
                         ("calls", "right"), ("in chars", "right"), ("tokens", "right"), ("wall s", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in results.cases:
        got = label_key(c.labels) if c.outcome != "error" else "—"
        want = label_key(c.truth_labels)
        labels = got if got == want else f"{got} ({want})"
        failed = ", ".join(c.failed_checks) if c.outcome != "error" else (c.error or "").splitlines()[0][:70]
        table.add_row(c.name, f"[{style[c.outcome]}]{c.outcome}[/]", labels, failed or "",
                      str(c.cost.model_calls), f"{c.cost.input_chars:,}", f"{c.cost.input_tokens:,}",
                      f"{c.cost.wall_s:.2f}")
    console.print(table)
    summary = Table(show_header=False, box=None)
    summary.add_column(style="bold")
    summary.add_column()
    for k, v in summary_rows(results):
        summary.add_row(k, v)
    console.print(summary)
    for c in results.cases:
        if c.outcome in ("fail", "error", "xpass"):
            console.print(f"[red]✗ {c.name}[/] ({c.outcome})", highlight=False)
            # soft_wrap: a long message (a re-record command) stays one line a user can copy.
            if c.error:
                console.print("  " + c.error.replace("\n", "\n  "), highlight=False, markup=False, soft_wrap=True)
            for name in c.failed_checks if c.outcome != "error" else []:
                console.print(f"  {name}: {c.checks[name].detail}", highlight=False, markup=False, soft_wrap=True)


# --------------------------------------------------------------------------------------------
# Baseline diff
# --------------------------------------------------------------------------------------------


class BaselineDiff(BaseModel):
    baseline: str
    regressed: list[str]
    improved: list[str]
    changed_failures: list[str]
    new: list[str]
    removed: list[str]
    metrics: dict[str, tuple[float, float]]  # name → (before, after)


def diff(old: Results, new: Results, baseline: str = "baseline") -> BaselineDiff:
    before = {c.name: c for c in old.cases}
    after = {c.name: c for c in new.cases}
    regressed = [n for n in after if n in before and before[n].passed and not after[n].passed]
    improved = [n for n in after if n in before and not before[n].passed and after[n].passed]
    changed = [n for n in after if n in before and not before[n].passed and not after[n].passed
               and set(before[n].failed_checks) != set(after[n].failed_checks)]
    metrics: dict[str, tuple[float, float]] = {
        "pass rate": (old.summary.pass_rate, new.summary.pass_rate),
        "label accuracy": (old.summary.label_accuracy, new.summary.label_accuracy),
    }
    for key in COST_KEYS:
        metrics[f"mean {key.replace('_', ' ')}"] = (old.summary.cost_mean.get(key, 0.0), new.summary.cost_mean.get(key, 0.0))
    return BaselineDiff(baseline=baseline, regressed=regressed, improved=improved, changed_failures=changed,
                        new=[n for n in after if n not in before], removed=[n for n in before if n not in after],
                        metrics=metrics)


def print_diff(d: BaselineDiff, console: Any) -> None:
    console.print(f"[bold]Against {d.baseline}[/]", highlight=False)
    for title, names, colour in (("regressed (pass → fail)", d.regressed, "red"), ("improved (fail → pass)", d.improved, "green"),
                                 ("failing differently", d.changed_failures, "yellow"), ("new cases", d.new, "cyan"),
                                 ("removed cases", d.removed, "cyan")):
        console.print(f"  [{colour}]{title}[/]: {', '.join(names) if names else 'none'}", highlight=False)
    for name, (a, b) in d.metrics.items():
        if name in ("pass rate", "label accuracy"):
            console.print(f"  {name}: {a * 100:.1f}% → {b * 100:.1f}% ({(b - a) * 100:+.1f} pts)", highlight=False)
        else:
            change = f"{(b - a) / a * 100:+.1f}%" if a else "n/a"
            console.print(f"  {name}: {a:,.2f} → {b:,.2f} ({change})", highlight=False)
