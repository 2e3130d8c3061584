"""Fixtures for graph tests: generated bundles, an isolated SOPGRAPH_HOME, and a run helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evals.generator import BundleSpec, write_bundle


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every graph test gets its own store, state database and audit log."""
    h = tmp_path / "home"
    monkeypatch.setenv("SOPGRAPH_HOME", str(h))
    monkeypatch.delenv("SOPGRAPH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SOPGRAPH_MODEL", raising=False)
    return h


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def make_bundle(bundle_dir: Path) -> Callable[..., Any]:
    cache: dict[str, Any] = {}

    def make(**spec: Any) -> Any:
        key = repr(sorted(spec.items()))
        if key not in cache:
            dest = bundle_dir / f"b{len(cache)}"
            cache[key] = write_bundle(BundleSpec(**spec), dest)
        return cache[key]

    return make


def run_offline(home: Path, bundles: list[Path], *, runbook: str = "D3", model_override: Any = None,
                alert: str | None = None) -> Any:
    from graphs import runner
    from runbooks import catalog
    from tools.bundle.store import BundleStore

    store = BundleStore(home / "bundles")
    ids: list[str] = []
    for b in bundles:
        rec = store.ingest(b)
        if rec.instance_id not in ids:
            ids.append(rec.instance_id)
    clusters = {store.get(i).manifest.cluster for i in ids} - {None}
    return runner.start(
        runbook=catalog.load(runbook), instance_ids=ids, store_dir=home / "bundles", model="offline",
        alert=alert, cluster=clusters.pop() if len(clusters) == 1 else None, model_override=model_override,
    )
