"""Decision rules and escalation predicates, compiled generically from the runbook's own words.

Nothing here knows any particular runbook: a rule's evidence is the query of a step that says
"— if found, X" (or a counter/phrase in a Common Issues symptom), and the label it supports is
the runbook label whose words overlap most with X. Ties and zero overlap give no label, and the
linter says so, rather than guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runbooks.model import CommonIssue, EscalationPredicate, Rule, RuleEvidence, Runbook
from runbooks.text import words

COUNTER = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_FOUND = re.compile(
    r"\bif\s+(?:found|present|matched|detected|it\s+matches|matches(?:\s+found)?|any\s+match(?:es)?"
    r"|there\s+are\s+(?:any\s+)?matches)\b\s*[,:]?\s*(.*)$",
    re.I | re.S,
)
_COUNTER_NAME = r"([a-z][a-z0-9]*(?:_[a-z0-9]+)+)"
_COUNTER_CMP = re.compile(rf"`?\b{_COUNTER_NAME}\b`?\s*(>=|<=|==|=|>|<)\s*(-?\d+(?:\.\d+)?)")
_COUNTER_NONZERO = re.compile(
    rf"`?\b{_COUNTER_NAME}\b`?\s+(?:is\s+|are\s+)?(?:non-?zero|greater than (?:zero|0)|above (?:zero|0))", re.I
)
_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|`([^`]+)`')
_RETURNS = re.compile(r"\breturns?\b", re.I)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOCATION_SUFFIX = re.compile(
    r"\s+(?:in|from)\s+(?:the\s+)?(?:[\w./-]+\s+){0,2}(?:findings|output|logs?|results|section|files?|entries)\s*$",
    re.I,
)
_NEGATIVE = re.compile(r"^(?:no|nothing|none|empty|zero)\b", re.I)
_REGEX_META = re.compile(r"([\\.^$|?*+()\[\]{}])")
# Tools whose results are log lines, so a phrase they "return" can be searched for.
_LOG_TOOLS = frozenset({"search", "errors"})

_CATEGORY_KEYWORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bdns\b", re.I), "dns"),
    (re.compile(r"\btable full\b|\bconntrack table\b", re.I), "conntrack_table_full"),
    (re.compile(r"\boom", re.I), "oom"),
    (re.compile(r"\bip (?:address )?exhaustion\b|\bip address", re.I), "ip_exhaustion"),
    (re.compile(r"\bcertificate", re.I), "certificate"),
    (re.compile(r"\ballowance", re.I), "ena_allowance"),
)
_MANY_NODES = re.compile(
    r"\b(?:multiple|several|many|all)\s+nodes\b|\bcluster[- ]wide\b|\bmore than one node\b|\bacross\s+(?:the\s+)?nodes\b",
    re.I,
)
_STOPWORDS = frozenset(
    {"a", "an", "and", "or", "the", "of", "on", "in", "to", "for", "from", "with", "by", "vs", "not", "due",
     "issue", "issues", "failure", "failures", "error", "errors", "problem", "problems", "node", "nodes"}
)


@dataclass
class CompileNote:
    """A compile-time observation the linter turns into a warning."""

    line: int
    message: str


def label_scores(text: str, labels: list[str]) -> dict[str, int]:
    """How many of each label's words ("aws_instance_limit" → aws, instance, limit) `text` uses."""
    have = words(text)
    return {label: len(words(label) & have) for label in labels}


def best_label(text: str, labels: list[str]) -> str | None:
    scores = label_scores(text, labels)
    if not scores:
        return None
    top = max(scores.values())
    winners = [label for label, score in scores.items() if score == top]
    return winners[0] if top > 0 and len(winners) == 1 else None


def regex_literal(text: str) -> str:
    """`text` as a regex matching itself; only RE2-safe escapes (a backslash before punctuation)."""
    return _REGEX_META.sub(r"\\\1", text)


def compile_rules(runbook: Runbook, notes: list[CompileNote]) -> list[Rule]:
    labels = runbook.labels
    drafts: list[Rule] = []
    comparisons = _counter_comparisons(runbook.common_issues)
    for phase in runbook.phases:
        for step in phase.steps:
            found = _FOUND.search(step.condition or "")
            if not found:
                continue
            consequence = found.group(1).strip().rstrip(".")
            query = step.args.get("query")
            if not query:
                notes.append(CompileNote(step.line, "step says 'if found' but has no query=`…` to look for; "
                                                    "no decision rule made"))
                continue
            if COUNTER.match(query):
                op, threshold = comparisons.get(query, (">", 0.0))
                evidence = RuleEvidence(kind="counter", tool=step.tool, counter=query, op=op, threshold=threshold)
            else:
                evidence = RuleEvidence(kind="search", tool=step.tool, query=query)
            drafts.append(_rule(phase.name, "step", step.text, step.line, evidence, consequence, None, labels, notes))
    for issue in runbook.common_issues:
        evidence = _symptom_evidence(issue.symptoms)
        if evidence is None:
            continue
        drafts.append(_rule(None, "common_issue", issue.symptoms, issue.line, evidence, issue.diagnosis,
                            issue.resolution, labels, notes))
    drafts.sort(key=lambda r: r.line)
    for i, rule in enumerate(drafts, start=1):
        rule.id = f"R{i}"
    return drafts


def _rule(phase: str | None, source: str, text: str, line: int, evidence: RuleEvidence, diagnosis: str,
          resolution: str | None, labels: list[str], notes: list[CompileNote]) -> Rule:
    label = best_label(diagnosis, labels)
    if label is None and labels:
        scores = label_scores(diagnosis, labels)
        why = "ties between labels" if max(scores.values()) > 0 else "shares no word with any label"
        notes.append(CompileNote(line, f"decision rule supports no label: {diagnosis!r} {why} "
                                       f"({', '.join(labels)})"))
    return Rule(id="", phase=phase, source=source, text=text, line=line,  # type: ignore[arg-type]
                evidence=evidence, label=label, diagnosis=diagnosis or None, resolution=resolution or None)


def _counter_comparisons(issues: list[CommonIssue]) -> dict[str, tuple[str, float]]:
    out: dict[str, tuple[str, float]] = {}
    for issue in issues:
        for m in _COUNTER_CMP.finditer(issue.symptoms):
            op = "==" if m.group(2) == "=" else m.group(2)
            out.setdefault(m.group(1), (op, float(m.group(3))))
    return out


def _symptom_evidence(symptoms: str) -> RuleEvidence | None:
    """A counter comparison, else a quoted phrase, else what a log tool "returns"."""
    m = _COUNTER_CMP.search(symptoms)
    if m:
        op = "==" if m.group(2) == "=" else m.group(2)
        return RuleEvidence(kind="counter", tool="search", counter=m.group(1), op=op,  # type: ignore[arg-type]
                            threshold=float(m.group(3)))
    m = _COUNTER_NONZERO.search(symptoms)
    if m:
        return RuleEvidence(kind="counter", tool="search", counter=m.group(1), op=">", threshold=0)
    m = _QUOTED.search(symptoms)
    if m:
        phrase = next(g for g in m.groups() if g)
        return RuleEvidence(kind="search", tool="search", query=regex_literal(phrase.strip()))
    m = _RETURNS.search(symptoms)
    if not m:
        return None
    before = [w for w in _WORD.findall(symptoms[: m.start()]) if w.lower() != "tool"]
    tool = before[-1].lower() if before else "search"
    if tool not in _LOG_TOOLS:
        return None
    phrase = _LOCATION_SUFFIX.sub("", symptoms[m.end() :].strip()).strip().rstrip(".").strip("\"'")
    if not phrase or _NEGATIVE.match(phrase):
        return None
    return RuleEvidence(kind="search", tool=tool, query=regex_literal(phrase))


def compile_escalation(runbook: Runbook, rules: list[Rule], notes: list[CompileNote]) -> list[EscalationPredicate]:
    """Each escalation condition → labels, finding categories and a node count it needs."""
    subject = _subject_words(runbook)
    out: list[EscalationPredicate] = []
    lines = runbook.guardrails.condition_lines
    for text in runbook.guardrails.escalation_conditions:
        scores = label_scores(text, runbook.labels)
        top = max(scores.values(), default=0)
        labels_any = [label for label, score in scores.items() if top >= 2 and score == top]
        lowered = text.lower()
        for rule in rules:
            if rule.label is None or rule.label in labels_any:
                continue
            needle = (rule.evidence.query if rule.evidence.kind == "search" else rule.evidence.counter) or ""
            if needle and needle.lower() in lowered:
                labels_any.append(rule.label)
        categories: list[str] = []
        keyword_words: set[str] = set()
        for pattern, category in _CATEGORY_KEYWORDS:
            for m in pattern.finditer(text):
                keyword_words |= words(m.group(0))
                if category not in categories:
                    categories.append(category)
        requires_label = bool(not labels_any and categories and (words(text) & (subject - keyword_words)))
        predicate = EscalationPredicate(
            text=text,
            line=lines.get(text, 0),
            labels_any=labels_any,
            categories_any=categories,
            min_nodes=2 if _MANY_NODES.search(text) else 1,
            requires_label=requires_label,
        )
        if not labels_any and not categories:
            notes.append(CompileNote(predicate.line, f"escalation condition {text!r} names no label or finding "
                                                     "category; it is shown to the model as text only"))
        out.append(predicate)
    return out


def _subject_words(runbook: Runbook) -> set[str]:
    """Words of the runbook's name (title without its id): what "the problem" is called."""
    name = runbook.title
    if name.startswith(runbook.id):
        name = name[len(runbook.id) :]
    return {w for w in words(name) if len(w) >= 3 and w not in _STOPWORDS}
