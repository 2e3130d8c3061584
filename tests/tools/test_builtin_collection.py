"""collect, status, validate and history over the local store, checked against generated bundles."""

from __future__ import annotations

import re
from pathlib import Path

from evals.generator import BundleSpec, write_bundle
from tests.tools.conftest import Bundles
from tools.bundle.store import BundleStore
from tools.context import ToolContext
from tools.registry import call_tool

EXECUTION_ID = re.compile(r"^local-(i-[0-9a-f]{17})-([0-9a-f]{12})$")


def files_on_disk(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_collect_ingests_a_bundle_then_finds_it_by_instance(tmp_path: Path, bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    ctx = ToolContext(store=BundleStore(tmp_path / "store"))
    first = call_tool(ctx, "collect", {"bundle": str(node.path)})
    assert first.ok, first.error
    res = first.result
    m = EXECUTION_ID.match(res["executionId"])
    assert m, res["executionId"]
    assert m.group(1) == node.instance_id == res["instanceId"]
    assert res["digest"].startswith(m.group(2))
    assert res["status"] == "Success" and res["task"]["progress"] == 100
    assert res["files"] == len(files_on_disk(node.path))
    assert res["idempotent"] is False
    assert ctx.instance_ids == [node.instance_id]  # collect makes the node part of the incident

    # A new run (no incident nodes yet) finds the stored bundle by instance id alone.
    again = ToolContext(store=BundleStore(tmp_path / "store"))
    by_id = call_tool(again, "collect", {"instanceId": node.instance_id})
    assert by_id.ok, by_id.error
    assert by_id.result["executionId"] == res["executionId"]
    assert by_id.result["idempotent"] is True
    assert again.instance_ids == [node.instance_id]


def test_collect_same_bundle_twice_is_idempotent(tmp_path: Path, bundles: Bundles) -> None:
    node = bundles["healthy"]
    store = BundleStore(tmp_path / "store")
    ctx = ToolContext(store=store)
    one = call_tool(ctx, "collect", {"bundle": str(node.path)}).result
    two = call_tool(ctx, "collect", {"bundle": str(node.path), "instanceId": node.instance_id}).result
    assert one is not None and two is not None
    assert two["executionId"] == one["executionId"] and two["digest"] == one["digest"]
    assert (one["idempotent"], two["idempotent"]) == (False, True)
    assert len(store.list()) == 1
    assert ctx.instance_ids == [node.instance_id]


def test_collect_tarball_gives_the_same_bundle_as_its_directory(tmp_path: Path) -> None:
    spec = BundleSpec(scenario="near_full", instance_id="i-0c00000000000c001", seed=5)
    as_dir = write_bundle(spec, tmp_path / "dir")
    as_tar = write_bundle(spec, tmp_path / "tar", "tar.gz")
    ctx = ToolContext(store=BundleStore(tmp_path / "store"))
    d = call_tool(ctx, "collect", {"bundle": str(as_dir.path)})
    t = call_tool(ctx, "collect", {"bundle": str(as_tar.path)})
    assert d.ok and t.ok, (d.error, t.error)
    assert t.result["instanceId"] == spec.instance_id
    assert t.result["digest"] == d.result["digest"]  # the content digest ignores the container


def test_collect_refusals_are_structured(tmp_path: Path, bundles: Bundles) -> None:
    node = bundles["healthy"]
    ctx = ToolContext(store=BundleStore(tmp_path / "store"))
    unknown = call_tool(ctx, "collect", {"instanceId": "i-0123456789abcdef0"})
    assert not unknown.ok and unknown.code == "not_found"
    assert "i-0123456789abcdef0" in (unknown.error or "")

    nowhere = tmp_path / "no-such-bundle"
    missing = call_tool(ctx, "collect", {"bundle": str(nowhere)})
    assert not missing.ok and str(nowhere) in (missing.error or "")

    conflict = call_tool(ctx, "collect", {"bundle": str(node.path), "instanceId": "i-0123456789abcdef0"})
    assert not conflict.ok
    assert node.instance_id in (conflict.error or "") and "i-0123456789abcdef0" in (conflict.error or "")
    assert conflict.hint

    assert not call_tool(ctx, "collect", {}).ok  # nothing ingested, no id: nothing to find
    assert BundleStore(tmp_path / "store").list() == []


def test_status_knows_its_executions_only(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    ctx = node.ctx()
    eid = node.ok("collect", {"instanceId": node.instance_id}, ctx)["executionId"]
    known = node.ok("status", {"executionId": eid}, ctx)
    assert known["instanceId"] == node.instance_id
    assert known["status"] == "Success" and known["progress"] == 100

    digest_part = EXECUTION_ID.match(eid).group(2)
    other = "0" * 12 if digest_part != "0" * 12 else "f" * 12
    for bad in (f"local-{node.instance_id}-{other}", "local-i-0123456789abcdef0-" + digest_part, "exec-123", "local-"):
        out = node.call("status", {"executionId": bad}, ctx)
        assert not out.ok and out.code == "not_found", bad
        assert bad in (out.error or "")
    assert node.call("status", {}).code == "invalid_args"


def test_validate_complete_bundle_matches_the_files(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    res = node.ok("validate")
    on_disk = files_on_disk(node.path)
    assert res["complete"] is True and res["missing"] == []
    assert res["fileCount"] == len(on_disk)
    assert res["totalSize"] == sum(p.stat().st_size for p in on_disk)
    assert res["kernel_release"] == node.truth.kernel_release
    assert res["possibly_truncated"] == []
    assert all(need["present"] for need in res["needs"])
    empties = {p.relative_to(node.path).as_posix() for p in on_disk if p.stat().st_size == 0}
    assert set(res["empty_files"]) == empties


def test_validate_names_the_missing_sysctl_and_the_truncated_file(bundles: Bundles) -> None:
    node = bundles["gappy"]
    assert node.truth.missing == ["sysctls/sysctl_all.txt"]
    res = node.ok("validate")
    assert res["complete"] is False
    assert res["missing"] == ["sysctls"]
    sysctl_need = next(n for n in res["needs"] if n["need"] == "sysctls")
    assert sysctl_need["present"] == [] and "sysctls/sysctl_all.txt" in sysctl_need["expected"]
    assert res["possibly_truncated"] == node.truth.truncated == ["kernel/dmesg.current"]


def test_validate_by_execution_id_and_by_tool_list(bundles: Bundles) -> None:
    node = bundles["gappy"]
    ctx = node.ctx()
    eid = node.ok("collect", {}, ctx)["executionId"]
    by_eid = node.ok("validate", {"executionId": eid}, ctx)
    assert by_eid["instanceId"] == node.instance_id and by_eid["missing"] == ["sysctls"]
    # search only needs kernel messages, which this bundle has: complete for that tool set.
    only_search = node.ok("validate", {"tools": ["search"]}, ctx)
    assert [n["need"] for n in only_search["needs"]] == ["kernel_log"]
    assert only_search["complete"] is True


def test_history_lists_collections_newest_first(tmp_path: Path, bundles: Bundles) -> None:
    store = BundleStore(tmp_path / "store")
    ctx = ToolContext(store=store)
    names = ("healthy", "kernel_full", "linklocal")
    eids = {}
    for name in names:
        eids[name] = call_tool(ctx, "collect", {"bundle": str(bundles[name].path)}).result["executionId"]
    res = call_tool(ctx, "history", {}).result
    assert res["count"] == 3
    rows = res["collections"]
    assert {r["executionId"] for r in rows} == set(eids.values())
    stamps = [r["collected_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert all(r["cluster"] == "prod-east" for r in rows)

    one = call_tool(ctx, "history", {"instanceId": bundles["linklocal"].instance_id}).result
    assert one["count"] == 1 and one["collections"][0]["executionId"] == eids["linklocal"]
    capped = call_tool(ctx, "history", {"maxResults": 2}).result
    assert capped["count"] == 3 and len(capped["collections"]) == 2
    assert call_tool(ctx, "history", {"maxResults": 0}).code == "invalid_args"
