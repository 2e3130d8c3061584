"""Live smoke test against real AWS: opt-in only, never in CI.

Runs when SOPGRAPH_LIVE_AWS=1, real credentials are available, and the settings name a node:
SOPGRAPH_LIVE_INSTANCE (a running, SSM-managed EKS worker), plus the usual bucket / role /
region settings (flags are not available here: use SOPGRAPH_AWS_* or the config file). It
collects that node's bundle for real, so it takes minutes and writes to the bucket.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _live_settings() -> tuple[object, str]:
    if os.environ.get("SOPGRAPH_LIVE_AWS") != "1":
        pytest.skip("live AWS smoke test: set SOPGRAPH_LIVE_AWS=1 (and real credentials) to run it")
    from tools.aws.config import ConfigError, load_config

    instance = os.environ.get("SOPGRAPH_LIVE_INSTANCE")
    if not instance:
        pytest.skip("live AWS smoke test: set SOPGRAPH_LIVE_INSTANCE to a running, SSM-managed EKS node")
    try:
        cfg = load_config()
    except ConfigError as exc:
        pytest.skip(f"live AWS smoke test: {exc.message} ({exc.hint})")
    return cfg, instance


def test_live_collect_status_and_cluster_health(tmp_path: Path) -> None:
    cfg, instance = _live_settings()
    from tools.aws.backend import AwsBackend
    from tools.bundle.store import BundleStore
    from tools.context import ToolContext
    from tools.registry import call_tool

    store = BundleStore(tmp_path / "bundles")
    ctx = ToolContext(store=store, backend=AwsBackend(cfg, store))  # type: ignore[arg-type]
    collected = call_tool(ctx, "collect", {"instanceId": instance})
    assert collected.ok, f"{collected.error} ({collected.hint})"
    status = call_tool(ctx, "status", {"executionId": collected.result["executionId"]})
    assert status.ok, f"{status.error} ({status.hint})"
    assert status.result["status"] == "Success", status.result
    assert store.get(instance).manifest.files
    errors = call_tool(ctx, "errors", {"instanceId": instance})
    assert errors.ok, errors.error
    health = call_tool(ctx, "cluster_health", {})
    assert health.ok, f"{health.error} ({health.hint})"
    assert any(n["instanceId"] == instance for n in health.result["nodes"])
