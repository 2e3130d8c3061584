"""Planted failures: reports with one known defect each (`evals/transcripts/*.json`), scored like any run.

They prove the scorer catches each kind of failure a model can make — a wrong label, an uncited
claim, a skipped MUST step, an action taken without approval, sysctl advice for the allowance
case, a hallucinated finding ID — and that it blames the right check. Each transcript names its
case (whose bundles ground its IDs) and the exact checks that must fail.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from evals.cases import CASES_DIR, CaseError, load_case, materialize
from evals.scoring import CHECKS, CaseScore, NodeFacts, score_case

TRANSCRIPTS_DIR = Path(__file__).resolve().parent / "transcripts"


class Transcript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str
    defect: str
    expect_failed: list[str]
    status: str
    report: dict[str, Any]


def load_transcript(path: Path) -> Transcript:
    try:
        transcript = Transcript.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise CaseError(f"{path}: not a planted-failure transcript: {exc}") from None
    unknown = [c for c in transcript.expect_failed if c not in CHECKS]
    if unknown:
        raise CaseError(f"{path}: expect_failed names unknown check(s) {unknown}; checks are {', '.join(CHECKS)}")
    return transcript


def transcript_files(root: Path = TRANSCRIPTS_DIR) -> list[Path]:
    return sorted(root.glob("*.json"))


def node_facts_for(case_name: str, cache_dir: Path | None = None, runbook: str = "D3") -> list[NodeFacts]:
    """The grounding facts of a case's bundles (generated, ingested into a scratch store, indexed)."""
    from evals.harness import _facts
    from tools.bundle.store import BundleStore

    case = load_case(CASES_DIR / runbook / f"{case_name}.yaml")
    nodes = materialize(case, cache_dir)
    with tempfile.TemporaryDirectory(prefix="sopgraph-planted-") as scratch:
        store = BundleStore(Path(scratch) / "store")
        records = [store.ingest(n.path) for n in nodes]
        return _facts(records, nodes, case)


def score_transcript(path: Path, cache_dir: Path | None = None) -> tuple[Transcript, CaseScore]:
    from runbooks import catalog

    transcript = load_transcript(path)
    case = load_case(CASES_DIR / "D3" / f"{transcript.case}.yaml")
    facts = node_facts_for(transcript.case, cache_dir, case.runbook)
    score = score_case(case, transcript.report, nodes=facts, runbook=catalog.load(case.runbook),
                       status=transcript.status)
    return transcript, score
