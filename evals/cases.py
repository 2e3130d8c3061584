"""Eval cases: one YAML file per case under `evals/cases/<runbook>/<name>.yaml`, and their bundles.

A case names its bundles as generator specs (or paths), the alert, and the ground truth it is scored
against. Bundles are generated on demand into a cache keyed by the spec and the generator's own
source, so the repository stays small and a change to the generator never reuses a stale bundle.
Case files are user input: every error names the file and the line, and every regex in one is
compiled with RE2 (linear time), never Python `re`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evals.generator import BundleSpec, GeneratedBundle, GroundTruth, write_bundle

CASES_DIR = Path(__file__).resolve().parent / "cases"
GENERATOR_DIR = Path(__file__).resolve().parent / "generator"
CACHE_ENV = "SOPGRAPH_EVAL_CACHE"

Label = Literal["kernel_conntrack", "aws_instance_limit"]
Rating = Literal["GREEN", "YELLOW", "RED"]
# Where a forbidden claim is looked for in a report.
ClaimField = Literal["mitigation.immediate", "mitigation.long_term", "proposed_actions", "root_cause"]


class CaseError(ValueError):
    """A case file that cannot be used; the message names the file and, when known, the line."""


def compile_re2(pattern: str) -> Any:
    """Case patterns are user input: RE2 only (linear time, no catastrophic backtracking)."""
    import re2

    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid RE2 regex: {exc}") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BundleRef(_Strict):
    """A generator spec (preferred: reproducible, nothing committed) or a path relative to the case file."""

    spec: BundleSpec | None = None
    path: str | None = None
    form: Literal["dir", "tar.gz"] = "dir"

    @model_validator(mode="after")
    def _one_source(self) -> BundleRef:
        if (self.spec is None) == (self.path is None):
            raise ValueError("give exactly one of spec (a generator BundleSpec) or path")
        return self


class EvidenceTruth(_Strict):
    """What a correct report must cite: finding categories, and the conntrack count and max.

    With `from_generator`, count and max come from the generator's ground truth per node; the
    values here are then only used for path bundles.
    """

    categories: list[str] = Field(default_factory=list)
    count: int | None = None
    max: int | None = None


class ApprovalRule(_Strict):
    """An action of this rating whose text matches `action` (RE2) must wait for a person."""

    rating: Rating
    action: str

    @field_validator("action")
    @classmethod
    def _re2(cls, value: str) -> str:
        compile_re2(value)
        return value


class Forbidden(_Strict):
    """A claim that must not appear (RE2, case-insensitive) in the named report fields."""

    pattern: str
    where: list[ClaimField] = Field(default_factory=lambda: ["mitigation.immediate", "proposed_actions"])
    why: str = ""

    @field_validator("pattern")
    @classmethod
    def _re2(cls, value: str) -> str:
        compile_re2(value)
        return value


class Truth(_Strict):
    from_generator: bool = True
    labels: list[Label]
    escalate: bool
    # Substrings of the escalation conditions that must be among the report's reasons.
    escalation_reasons: list[str] = Field(default_factory=list)
    evidence: EvidenceTruth = Field(default_factory=EvidenceTruth)
    approvals_required: list[ApprovalRule] = Field(default_factory=list)
    forbidden: list[Forbidden] = Field(default_factory=list)


class Case(_Strict):
    name: str
    description: str
    runbook: str = "D3"
    alert: str | None = None
    bundles: list[BundleRef] = Field(min_length=1, max_length=8)
    truth: Truth
    # Answer the approval interrupt(s) and score the finished report (default: score the waiting one).
    resolve: Literal["approve", "reject"] | None = None
    # A known disagreement between the system and the truth, reported upstream: the case must still
    # fail (strict), so that a fix is noticed and the mark removed.
    xfail: str | None = None
    tags: list[str] = Field(default_factory=list)
    source: str | None = None  # the case file, set by the loader

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        if self.truth.from_generator and any(b.spec is None for b in self.bundles):
            raise ValueError("truth.from_generator needs every bundle to be a generator spec")
        ids = [b.spec.instance_id for b in self.bundles if b.spec is not None]
        if len(ids) != len(set(ids)):
            raise ValueError("two bundles of one case share an instance_id; give each node its own")
        return self


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _line_of(root: yaml.Node | None, loc: Iterable[Any]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location (None when not found)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def load_case(path: Path) -> Case:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise CaseError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise CaseError(f"{path}:1: a case is a YAML mapping (name, description, bundles, truth, …)")
    try:
        case = Case.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p[:1].isupper())]
        line = _line_of(root, loc)
        field = ".".join(str(p) for p in loc) or "case"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise CaseError(f"{path}:{line or 1}: {field}: {first['msg']}{more}") from None
    if case.name != path.stem:
        raise CaseError(f"{path}:{_line_of(root, ['name']) or 1}: name {case.name!r} must equal the file name "
                        f"{path.stem!r}")
    return case


def case_files(pattern: str = "*", *, runbook: str = "D3", root: Path = CASES_DIR) -> list[Path]:
    """Case files of a runbook whose name (or runbook/name) matches the glob `pattern`."""
    folder = root / runbook
    files = sorted(folder.glob("*.yaml"))
    return [f for f in files if fnmatch(f.stem, pattern) or fnmatch(f"{runbook}/{f.stem}", pattern)]


def load_cases(pattern: str = "*", *, runbook: str = "D3", root: Path = CASES_DIR) -> list[Case]:
    files = case_files(pattern, runbook=runbook, root=root)
    if not files:
        known = ", ".join(f.stem for f in case_files("*", runbook=runbook, root=root)[:8]) or "none"
        raise CaseError(f"no case in {root / runbook} matches {pattern!r} (cases: {known}, …)")
    return [load_case(f) for f in files]


# --------------------------------------------------------------------------------------------
# Bundles: generated into a cache keyed by spec + generator source
# --------------------------------------------------------------------------------------------


def default_cache_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ if env is None else env)
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sopgraph" / "eval-bundles"


@lru_cache(maxsize=1)
def generator_digest() -> str:
    """Changes whenever any generator source file changes, so cached bundles never go stale."""
    h = hashlib.sha256()
    for f in sorted(GENERATOR_DIR.rglob("*.py")):
        h.update(f.relative_to(GENERATOR_DIR).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def spec_key(spec: BundleSpec, form: str) -> str:
    payload = json.dumps({"spec": spec.model_dump(mode="json"), "form": form, "generator": generator_digest()},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


class NodeBundle(BaseModel):
    """One node of a case, ready to ingest: where its bundle is and (for generated ones) its truth."""

    path: Path
    instance_id: str | None
    truth: GroundTruth | None


def generate_cached(spec: BundleSpec, form: Literal["dir", "tar.gz"], cache_dir: Path) -> GeneratedBundle:
    """The bundle for `spec` from the cache, generating it first if needed (safe across processes)."""
    key = spec_key(spec, form)
    slot = cache_dir / key
    meta = slot / "generated.json"
    if meta.exists():
        try:
            return GeneratedBundle.model_validate_json(meta.read_text(encoding="utf-8"))
        except ValidationError:
            pass  # a cache written by an older layout: regenerate below
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        generated = write_bundle(spec, staging / "bundle", form)
        final_path = slot / generated.path.relative_to(staging)
        result = generated.model_copy(update={"path": final_path})
        (staging / "generated.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
        try:
            os.rename(staging, slot)
        except OSError:
            if not meta.exists():  # not a concurrent writer: a real failure
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return GeneratedBundle.model_validate_json(meta.read_text(encoding="utf-8"))


def materialize(case: Case, cache_dir: Path | None = None) -> list[NodeBundle]:
    """Every bundle of the case on disk, with the generator's truth where there is one."""
    cache = cache_dir or default_cache_dir()
    nodes: list[NodeBundle] = []
    for index, ref in enumerate(case.bundles):
        if ref.spec is not None:
            try:
                gen = generate_cached(ref.spec, ref.form, cache)
            except ValueError as exc:  # GeneratorError and the generator's own spec checks
                raise CaseError(f"{case.source}: bundles[{index}]: {exc}") from None
            nodes.append(NodeBundle(path=gen.path, instance_id=gen.instance_id, truth=gen.truth))
            continue
        base = Path(case.source).parent if case.source else Path.cwd()
        path = (base / str(ref.path)).resolve()
        if not path.exists():
            raise CaseError(f"{case.source}: bundles[{index}].path {ref.path!r} does not exist ({path})")
        nodes.append(NodeBundle(path=path, instance_id=None, truth=None))
    if case.truth.from_generator:
        check_truth(case, nodes)
    return nodes


def generator_labels(nodes: list[NodeBundle]) -> list[str]:
    """The incident's labels per the generator: the union over nodes, in the runbook's order."""
    found = {lb for n in nodes if n.truth for lb in n.truth.labels}
    return [lb for lb in ("kernel_conntrack", "aws_instance_limit") if lb in found]


def check_truth(case: Case, nodes: list[NodeBundle]) -> None:
    """A case's labels must be what its bundles actually show, or the case itself is wrong."""
    expected = generator_labels(nodes)
    if sorted(case.truth.labels) != sorted(expected):
        raise CaseError(f"{case.source}: truth.labels {case.truth.labels} disagree with the generated bundles' "
                        f"ground truth {expected}; fix the case")
