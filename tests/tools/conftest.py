"""Generated bundles shared by the tool tests, built once per test session (once per xdist worker).

Each scenario gets its own instance id and its own store, ingested and indexed up front, so a test
only pays for a fresh `ToolContext` (its own search memory) over a warm store. Tests that need a
pristine store (first ingest, idempotency) build one in `tmp_path` from the same generated files.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tools.search_engine as se
from evals.generator import BundleSpec, GroundTruth, write_bundle
from tools.bundle.store import BundleRecord, BundleStore
from tools.context import ToolContext
from tools.registry import ToolOutcome, call_tool

CLUSTER = "prod-east"

# name → the spec of one single-node bundle. Instance ids differ so no two scenarios can be confused.
SCENARIOS: dict[str, dict[str, Any]] = {
    "kernel_full": dict(scenario="kernel_table_full", instance_id="i-0a00000000000a001", seed=11, rotated=True),
    "healthy": dict(scenario="healthy", instance_id="i-0a00000000000a002", seed=12),
    "red_herring": dict(scenario="red_herring", instance_id="i-0a00000000000a003", seed=13),
    "linklocal": dict(scenario="linklocal_dns", instance_id="i-0a00000000000a004", seed=14),
    "secondary_eni": dict(scenario="allowance_exceeded", allowance_eni="secondary",
                          instance_id="i-0a00000000000a005", seed=15),
    # Missing sysctl dump and a dmesg snapshot cut mid-line: what validate and the sections must report.
    "gappy": dict(scenario="kernel_table_full", instance_id="i-0a00000000000a006", seed=16,
                  missing=["sysctls/sysctl_all.txt"], truncate=["kernel/dmesg.current"]),
    "al2": dict(scenario="both", kernel="al2-5.10", instance_id="i-0a00000000000a007", seed=17),
}

# The fleet: three nodes of one cluster, two with a full kernel table and one over the EC2 allowance,
# plus a node of another cluster that must never be counted with them.
FLEET: dict[str, dict[str, Any]] = {
    "full_a": dict(scenario="kernel_table_full", instance_id="i-0f00000000000f001", seed=21, cluster=CLUSTER),
    "full_b": dict(scenario="kernel_table_full", instance_id="i-0f00000000000f002", seed=22, cluster=CLUSTER),
    "allowance": dict(scenario="allowance_exceeded", instance_id="i-0f00000000000f003", seed=23, cluster=CLUSTER),
    "other_cluster": dict(scenario="kernel_table_full", instance_id="i-0f00000000000f004", seed=24,
                          cluster="staging-west"),
}


@dataclass(frozen=True)
class Node:
    """One generated bundle, ingested into `store_home`, with the truth parsed from its bytes."""

    name: str
    path: Path
    truth: GroundTruth
    store_home: Path

    @property
    def instance_id(self) -> str:
        return self.truth.instance_id

    def store(self) -> BundleStore:
        return BundleStore(self.store_home)

    def record(self) -> BundleRecord:
        return self.store().get(self.instance_id)

    def ctx(self) -> ToolContext:
        """A fresh context (empty search memory) over the warm store, with this node as the incident."""
        return ToolContext(store=self.store(), instance_ids=[self.instance_id])

    def call(self, tool: str, args: dict[str, Any] | None = None, ctx: ToolContext | None = None) -> ToolOutcome:
        return call_tool(ctx or self.ctx(), tool, args or {})

    def ok(self, tool: str, args: dict[str, Any] | None = None, ctx: ToolContext | None = None) -> dict[str, Any]:
        outcome = self.call(tool, args, ctx)
        assert outcome.ok, f"{tool} {args}: {outcome.error} ({outcome.code})"
        assert outcome.result is not None
        return outcome.result

    def lines(self, rel: str) -> list[str]:
        return (self.path / rel).read_text(encoding="utf-8").splitlines()


def _generate(base: Path, name: str, spec: dict[str, Any], store_home: Path) -> Node:
    out = base / name
    generated = write_bundle(BundleSpec(**spec), out)
    store = BundleStore(store_home)
    record = store.ingest(generated.path)
    ToolContext(store=store).index(record)  # build and cache the findings index now, once
    return Node(name=name, path=generated.path, truth=generated.truth, store_home=store_home)


class Bundles:
    """Generates a scenario the first time a test asks for it."""

    def __init__(self, base: Path):
        self.base = base
        self._nodes: dict[str, Node] = {}

    def __getitem__(self, name: str) -> Node:
        if name not in self._nodes:
            self._nodes[name] = _generate(self.base, name, SCENARIOS[name], self.base / f"{name}-store")
        return self._nodes[name]


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    return Bundles(tmp_path_factory.mktemp("bundles"))


@dataclass(frozen=True)
class Fleet:
    nodes: dict[str, Node]
    store_home: Path

    def ctx(self, *names: str) -> ToolContext:
        return ToolContext(store=BundleStore(self.store_home),
                           instance_ids=[self.nodes[n].instance_id for n in names])


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    base = tmp_path_factory.mktemp("fleet")
    home = base / "store"
    nodes = {name: _generate(base, name, spec, home) for name, spec in FLEET.items()}
    return Fleet(nodes=nodes, store_home=home)


@pytest.fixture
def copy_of(tmp_path: Path, bundles: Bundles) -> Iterator[Any]:
    """A private, writable copy of a generated bundle directory (for tests that alter the files)."""

    def make(name: str) -> Path:
        src = bundles[name].path
        dest = tmp_path / "copies" / src.name
        shutil.copytree(src, dest)
        return dest

    yield make


def tree(root: Path) -> set[str]:
    """Every path under `root` (files, folders, links), for before/after comparisons."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} if root.exists() else set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds; still part of `make test`")


ENGINES = ["rg", "re2"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once per search engine: ripgrep and the RE2 fallback must agree."""
    if request.param == "rg" and se.rg_binary() is None:
        pytest.skip("rg binary not installed")
    monkeypatch.setenv(se.ENGINE_ENV, request.param)
    return request.param
