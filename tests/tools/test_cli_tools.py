"""The issue's "Done when" items, literally, through `sopgraph tools …`.

One real subprocess proves the console script end to end; the rest run in-process through
`graphs.cli.main` (same code path, without paying interpreter start-up for every case).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphs.cli import main
from tests.tools.conftest import Bundles
from tools.registry import tool_names


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOPGRAPH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def call(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    rc = main(["tools", "call", *argv])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def test_errors_lists_table_full_as_critical_subprocess(tmp_path: Path, bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    env = {**os.environ, "SOPGRAPH_HOME": str(tmp_path / "home")}
    sopgraph = Path(sys.executable).with_name("sopgraph")
    cmd = [str(sopgraph), "tools", "call", "errors", "--bundle", str(node.path), "--arg", f"instanceId={node.instance_id}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout)
    table_full = [f for f in res["findings"] if f["category"] == "conntrack_table_full"]
    assert table_full and all(f["severity"] == "CRITICAL" for f in table_full)
    assert all(f["finding_id"].startswith("F-") and f["finding_id"][2:].isdigit() for f in table_full)
    assert sum(f["count"] for f in table_full) == node.truth.table_full_lines
    # The store went where SOPGRAPH_HOME said, and nowhere else.
    assert (tmp_path / "home" / "bundles" / node.instance_id).is_dir()


def test_network_diagnostics_kube_proxy_equals_the_sysctl_values(home: Path, capsys, bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    res = call(capsys, "network_diagnostics", "--bundle", str(node.path), "--arg", f"instanceId={node.instance_id}",
               "--arg", "sections=kube_proxy")
    ct = res["diagnostics"]["kube_proxy"]["conntrack"]
    sysctl = {}
    for line in node.lines("sysctls/sysctl_all.txt"):
        key, _, value = line.partition(" = ")
        if key in ("net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_max"):
            sysctl[key.rsplit("_", 1)[-1]] = int(value)
    assert ct["count"] == sysctl["count"] == node.truth.conntrack_count
    assert ct["max"] == sysctl["max"] == node.truth.conntrack_max
    assert ct["utilization_pct"] == round(100 * sysctl["count"] / sysctl["max"], 2)


def test_healthy_zero_counter_is_no_finding_though_search_matches(home: Path, capsys, bundles: Bundles) -> None:
    node = bundles["healthy"]
    assert any(ln.strip() == "conntrack_allowance_exceeded: 0" for ln in node.lines("networking/ethtool.txt"))
    errors = call(capsys, "errors", "--bundle", str(node.path), "--arg", f"instanceId={node.instance_id}")
    assert not any("allowance" in f["category"] or f.get("counter") == "conntrack_allowance_exceeded"
                   for f in errors["findings"])
    found = call(capsys, "search", "--bundle", str(node.path), "--arg", "query=conntrack_allowance_exceeded")
    assert found["totalMatches"] >= 1
    assert all(g["finding_ids"] == [] for g in found["results"])


def test_tools_list_names_every_tool(capsys) -> None:
    assert main(["tools", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listed] == tool_names()
    by_name = {t["name"]: t for t in listed}
    assert "instanceId" in by_name["errors"]["parameters"] and "query" in by_name["search"]["parameters"]
    assert main(["tools", "list"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in tool_names())


def test_json_arguments_and_store_flag(tmp_path: Path, capsys, bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    store = tmp_path / "elsewhere"
    res = call(capsys, "summarize", "--bundle", str(node.path), "--store", str(store),
               "--arg", 'finding_ids=["F-001", "F-999"]')
    assert [r["id"] for r in res["resolved"]] == ["F-001"] and res["unresolved"] == ["F-999"]
    assert (store / node.instance_id).is_dir()
    rc = main(["tools", "call", "summarize", "--store", str(store), "--arg", "finding_ids=[broken"])
    err = capsys.readouterr().err
    assert rc == 2 and "not valid JSON" in err


def test_tool_refusal_exits_2_with_the_hint(home: Path, capsys, bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    rc = main(["tools", "call", "search", "--bundle", str(node.path), "--arg", "query=(unclosed"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "error: invalid regular expression '(unclosed'" in err and "hint: " in err
