"""list_runbooks and get_runbook: the library as tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks import catalog
from tests.tools.conftest import Bundles

D3 = Path(catalog.library_dir()) / "D3-conntrack-exhaustion.md"


def test_list_runbooks_has_d3_with_its_triggers(bundles: Bundles) -> None:
    res = bundles["healthy"].ok("list_runbooks")
    assert res["count"] == len(res["runbooks"]) >= 1
    d3 = next(r for r in res["runbooks"] if r["id"] == "D3")
    assert d3["error"] is None and Path(d3["path"]).name == D3.name
    assert any("table full" in t for t in d3["triggers"])


@pytest.mark.parametrize("name", ["D3", "runbooks/D3-conntrack-exhaustion.md", "D3-conntrack-exhaustion.md"])
def test_get_runbook_by_id_or_file_name(bundles: Bundles, name: str) -> None:
    res = bundles["healthy"].ok("get_runbook", {"sopName": name})
    assert res["id"] == "D3" and Path(res["path"]).name == D3.name
    assert res["content"] == D3.read_text(encoding="utf-8")


def test_get_unknown_runbook(bundles: Bundles) -> None:
    out = bundles["healthy"].call("get_runbook", {"sopName": "D99-nothing"})
    assert not out.ok and out.code == "not_found" and "D99" in (out.error or "")
    assert "list_runbooks" in (out.hint or "")
    assert bundles["healthy"].call("get_runbook", {}).code == "invalid_args"
