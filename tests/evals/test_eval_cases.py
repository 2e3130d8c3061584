"""Eval cases: the shipped set covers the issue's list, truths agree with the generator, bad files are
reported with file and line, and generated bundles are cached by spec."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evals.cases import (
    Case,
    CaseError,
    check_truth,
    generate_cached,
    generator_labels,
    load_case,
    load_cases,
    materialize,
    spec_key,
)
from evals.generator import BundleSpec


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated bundles, shared across runs and xdist workers (the cache is process-safe)."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    return Path(cache.mkdir("sopgraph-eval-bundles")) if cache else tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="module")
def shipped() -> list[Case]:
    return load_cases("*")


def _specs(case: Case) -> list[BundleSpec]:
    return [b.spec for b in case.bundles if b.spec is not None]


def _has(cases: list[Case], predicate) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.name for c in cases if predicate(c)]


def test_at_least_thirty_d3_cases_with_unique_names(shipped: list[Case]) -> None:
    assert len(shipped) >= 30
    assert len({c.name for c in shipped}) == len(shipped)
    assert all(c.description and c.alert for c in shipped)


@pytest.mark.parametrize(("what", "predicate"), [
    ("kernel AL2 4.14", lambda c: any(s.scenario == "kernel_table_full" and s.kernel == "al2-4.14" for s in _specs(c))),
    ("kernel AL2 5.10", lambda c: any(s.scenario == "kernel_table_full" and s.kernel == "al2-5.10" for s in _specs(c))),
    ("kernel AL2023 6.1", lambda c: any(s.scenario == "kernel_table_full" and s.kernel == "al2023-6.1" for s in _specs(c))),
    ("kernel AL2023 6.12", lambda c: any(s.scenario == "kernel_table_full" and s.kernel == "al2023-6.12"
                                         for s in _specs(c))),
    ("netns message", lambda c: any(s.netns_message for s in _specs(c))),
    ("var_log/messages only", lambda c: any(s.kernel_log == "messages_only" for s in _specs(c))),
    ("rotated logs", lambda c: any(s.rotated for s in _specs(c))),
    ("tarball", lambda c: any(b.form == "tar.gz" for b in c.bundles) and "kernel_conntrack" in c.truth.labels),
    ("allowance primary ENI", lambda c: any(s.scenario == "allowance_exceeded" and s.allowance_eni == "primary"
                                            for s in _specs(c))),
    ("allowance secondary ENI", lambda c: any(s.scenario == "allowance_exceeded" and s.allowance_eni == "secondary"
                                              for s in _specs(c))),
    ("both limits", lambda c: set(c.truth.labels) == {"kernel_conntrack", "aws_instance_limit"}
     and len(c.bundles) == 1),
    ("healthy", lambda c: any(s.scenario == "healthy" for s in _specs(c)) and len(c.bundles) == 1),
    ("near full without drops", lambda c: any(s.scenario == "near_full" for s in _specs(c))),
    ("link-local DNS", lambda c: any(s.scenario == "linklocal_dns" for s in _specs(c)) and not c.truth.labels),
    ("red herrings", lambda c: any(s.with_red_herrings for s in _specs(c))),
    ("one node of several", lambda c: len(c.bundles) >= 2 and not c.truth.escalate),
    ("several nodes, escalation", lambda c: len(c.bundles) >= 2 and c.truth.escalate),
    ("three nodes", lambda c: len(c.bundles) == 3),
    ("DNS on several nodes with conntrack exhaustion", lambda c: len(c.bundles) >= 2 and c.truth.escalate
     and any("DNS" in r for r in c.truth.escalation_reasons)),
    ("missing files, inconclusive", lambda c: any(s.missing for s in _specs(c)) and not c.truth.labels),
    ("truncated files, inconclusive", lambda c: any(s.truncate for s in _specs(c)) and not c.truth.labels),
])
def test_the_issue_list_is_covered(shipped: list[Case], what: str, predicate) -> None:  # type: ignore[no-untyped-def]
    assert _has(shipped, predicate), f"no case for: {what}"


def test_allowance_only_cases_forbid_sysctl_advice(shipped: list[Case]) -> None:
    for case in shipped:
        if case.truth.labels == ["aws_instance_limit"]:
            assert any("sysctl" in f.pattern for f in case.truth.forbidden), case.name
            assert any(r.rating == "RED" for r in case.truth.approvals_required), case.name


def test_every_case_truth_agrees_with_the_generated_bundles(shipped: list[Case], cache_dir: Path) -> None:
    overridden = []
    for case in shipped:
        nodes = materialize(case, cache_dir)  # raises CaseError on disagreement
        assert all(n.truth is not None and n.path.exists() for n in nodes)
        if not case.truth.from_generator:
            overridden.append(case.name)  # the case states the runbook's answer; the generator labels drops too
            continue
        assert sorted(generator_labels(nodes)) == sorted(case.truth.labels), case.name
    assert overridden == ["kernel-logs-missing-stats-drop"]


def test_a_case_whose_labels_disagree_with_the_generator_is_refused(shipped: list[Case], cache_dir: Path) -> None:
    case = next(c for c in shipped if c.name == "healthy-al2023")
    wrong = case.model_copy(update={"truth": case.truth.model_copy(update={"labels": ["kernel_conntrack"]})})
    with pytest.raises(CaseError, match=r"healthy-al2023\.yaml: truth.labels \['kernel_conntrack'\] disagree"):
        check_truth(wrong, materialize(case, cache_dir))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


GOOD = """\
    name: {name}
    description: a case
    bundles:
      - spec: {{scenario: healthy, seed: 1}}
    truth:
      labels: []
      escalate: false
"""


def test_a_good_case_file_loads(tmp_path: Path) -> None:
    case = load_case(_write(tmp_path, "fine", GOOD.format(name="fine")))
    assert case.truth.from_generator and case.bundles[0].spec.scenario == "healthy"  # type: ignore[union-attr]
    assert case.source == str(tmp_path / "fine.yaml")


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.format(name="bad") + "    resolve: maybe\n", r"bad\.yaml:8: resolve: Input should be 'approve' or 'reject'"),
    (GOOD.format(name="bad").replace("escalate: false", "escalate: false\n      lables: []"),
     r"bad\.yaml:8: truth\.lables: Extra inputs are not permitted"),
    (GOOD.format(name="bad").replace("seed: 1", "seed: 1, kernel: al2-3.10"), r"bad\.yaml:4: bundles\.0\.spec\.kernel"),
    (GOOD.format(name="bad") + "      forbidden: [{pattern: 'sysctl (-w'}]\n",
     r"bad\.yaml:8: truth\.forbidden\.0\.pattern: Value error, pattern 'sysctl \(-w' is not a valid RE2 regex"),
    (GOOD.format(name="other"), r"bad\.yaml:1: name 'other' must equal the file name 'bad'"),
    ("name: bad\n  description: [unclosed\n", r"bad\.yaml:2: not valid YAML"),
    ("- just a list\n", r"bad\.yaml:1: a case is a YAML mapping"),
    (GOOD.format(name="bad").replace("- spec: {scenario: healthy, seed: 1}", "- path: somewhere"),
     r"bad\.yaml:1: case: Value error, truth.from_generator needs every bundle to be a generator spec"),
])
def test_bad_case_files_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CaseError, match=message):
        load_case(_write(tmp_path, "bad", text))


def test_no_matching_case_is_a_clear_error() -> None:
    with pytest.raises(CaseError, match=r"no case in .*D3 matches 'nothing-like-this\*'"):
        load_cases("nothing-like-this*")


def test_generated_bundles_are_cached_by_spec(tmp_path: Path) -> None:
    spec = BundleSpec(scenario="healthy", seed=7)
    first = generate_cached(spec, "dir", tmp_path)
    stamp = first.path.stat().st_mtime_ns
    again = generate_cached(spec, "dir", tmp_path)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    assert again.truth == first.truth
    assert spec_key(spec, "dir") != spec_key(BundleSpec(scenario="healthy", seed=8), "dir")
    assert spec_key(spec, "dir") != spec_key(spec, "tar.gz")
    tar = generate_cached(spec, "tar.gz", tmp_path)
    assert tar.path.name.endswith(".tar.gz") and tar.path.is_file()
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2
