"""The runbook data model: what the parser produces and what the graph consumes.

These models are the contract between `runbooks/` (parse, lint, compile) and every layer
above it, so they stay plain pydantic with JSON-primitive fields: the LangGraph checkpointer
stores them without custom serializers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Priority = Literal["MUST", "SHOULD", "MAY"]
Rating = Literal["GREEN", "YELLOW", "RED"]
Severity = Literal["CRITICAL", "HIGH", "WARNING", "INFO"]

PRIORITIES: tuple[Priority, ...] = ("MUST", "SHOULD", "MAY")
RATINGS: tuple[Rating, ...] = ("GREEN", "YELLOW", "RED")

# The tool names DESIGN.md fixes. The linter defaults to this set; callers that have the live
# tool registry pass its names instead (runbooks/ must not import tools/).
DESIGN_TOOL_NAMES: frozenset[str] = frozenset(
    {
        "collect",
        "status",
        "validate",
        "errors",
        "read",
        "search",
        "correlate",
        "summarize",
        "network_diagnostics",
        "cluster_health",
        "compare_nodes",
        "history",
        "list_runbooks",
        "get_runbook",
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_Model):
    """One bullet of a phase. `tool` is None for reasoning steps ("State root cause")."""

    priority: Priority
    tool: str | None = None
    # Arguments as the runbook writes them. A bare name (`instanceId`) maps to None, meaning
    # "bind from context"; `query=`...`` keeps the regex byte-exact; `sections=a,b` stays a string.
    args: dict[str, str | None] = Field(default_factory=dict)
    condition: str | None = None
    text: str
    line: int
    subheading: str | None = None


class Phase(_Model):
    name: str
    line: int
    steps: list[Step] = Field(default_factory=list)


class SafetyRating(_Model):
    """One action of a safety rating line; a line naming several actions yields several."""

    action: str
    rating: Rating
    note: str = ""
    line: int = 0
    # Tool names this action covers (e.g. "Log collection (collect)" → ["collect"]).
    tools: list[str] = Field(default_factory=list)


class Guardrails(_Model):
    escalation_conditions: list[str] = Field(default_factory=list)
    safety_ratings: list[SafetyRating] = Field(default_factory=list)
    approvers: list[str] = Field(default_factory=list)
    # Line of each escalation condition in the runbook, for lint messages and audit trails.
    condition_lines: dict[str, int] = Field(default_factory=dict)


class CommonIssue(_Model):
    symptoms: str
    diagnosis: str
    resolution: str
    line: int = 0


class Runbook(_Model):
    id: str
    title: str
    description: str = ""
    status: str = ""
    severity: str = ""
    triggers: list[str] = Field(default_factory=list)
    owner: str = ""
    objective: str = ""
    context: str = ""
    phases: list[Phase] = Field(default_factory=list)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    common_issues: list[CommonIssue] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    output_format: str | None = None
    labels: list[str] = Field(default_factory=list)
    source: str | None = None


# --------------------------------------------------------------------------------------------
# Compiled form
# --------------------------------------------------------------------------------------------


class RuleEvidence(_Model):
    """What a decision rule looks at.

    kind="search": the rule holds when `query` matches lines that the findings index also
    recognises as a finding (text that merely contains the words is not evidence).
    kind="counter": the rule holds when the parsed counter `counter` compares true against
    `threshold` on any interface/source (`conntrack_allowance_exceeded: 0` is not found).
    """

    kind: Literal["search", "counter"]
    tool: str | None = "search"
    query: str | None = None
    counter: str | None = None
    op: Literal[">", ">=", "==", "<", "<="] = ">"
    threshold: float = 0


class Rule(_Model):
    id: str
    phase: str | None = None
    source: Literal["step", "common_issue"]
    text: str
    line: int
    evidence: RuleEvidence
    label: str | None = None
    diagnosis: str | None = None
    resolution: str | None = None


class EscalationPredicate(_Model):
    """A guardrail escalation condition compiled to something the graph can evaluate.

    Per node, the predicate matches when
        (any of `labels_any` is concluded for that node)
        or (any of `categories_any` is found on that node
            and, when `requires_label`, at least one runbook label is also concluded there);
    it holds when it matches on at least `min_nodes` nodes.

    `requires_label` is set when the condition names a finding category *and* the runbook's own
    problem ("Conntrack exhaustion causing DNS failures cluster-wide": DNS findings count only
    when conntrack exhaustion — some label of this runbook — is concluded too).
    An empty predicate (nothing recognised) never fires by itself and is surfaced to the
    model/human as text only.
    """

    text: str
    line: int = 0
    labels_any: list[str] = Field(default_factory=list)
    categories_any: list[str] = Field(default_factory=list)
    min_nodes: int = 1
    requires_label: bool = False


class Gate(_Model):
    """The MUST tool steps a phase must complete before the graph moves on."""

    phase: str
    required: list[Step] = Field(default_factory=list)
    reasoning: list[Step] = Field(default_factory=list)


class CompiledPhase(_Model):
    name: str
    steps: list[Step]
    gate: Gate
    tools: list[str]


class ReportSchema(_Model):
    labels: list[str]
    template: str | None = None
    fields: list[str] = Field(default_factory=list)
    wants_conntrack_counts: bool = False


class CompiledRunbook(_Model):
    id: str
    title: str
    severity: str = ""
    objective: str = ""
    context: str = ""
    phases: list[CompiledPhase]
    guardrails: Guardrails
    escalation: list[EscalationPredicate] = Field(default_factory=list)
    safety_map: dict[str, Rating] = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list)
    triggers: list[str] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    common_issues: list[CommonIssue] = Field(default_factory=list)
    report: ReportSchema
    source: str | None = None
