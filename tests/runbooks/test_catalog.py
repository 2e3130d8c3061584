"""Finding runbooks by id or path, listing them, and matching alert text to triggers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runbooks.catalog import AlertMatch, find, library_dir, list_runbooks, load, match_alert
from runbooks.errors import RunbookError
from runbooks.model import Runbook

SAMPLES = Path(__file__).parent / "samples"


def test_library_lists_d3() -> None:
    entries = list_runbooks()
    d3 = next(e for e in entries if e.id == "D3")
    assert (d3.title, d3.severity, d3.phases, d3.error) == ("D3 — Conntrack Exhaustion", "CRITICAL", 3, None)
    assert Path(d3.path) == library_dir() / "D3-conntrack-exhaustion.md"


def test_find_by_id_stem_and_path() -> None:
    expected = library_dir() / "D3-conntrack-exhaustion.md"
    assert find("D3") == expected
    assert find("d3") == expected
    assert find("D3-conntrack-exhaustion") == expected
    assert find(str(expected)) == expected


def test_unknown_id_lists_known_ids() -> None:
    with pytest.raises(RunbookError) as info:
        find("Q7")
    assert str(info.value) == "unknown runbook 'Q7'; known ids: D3"


def test_missing_path_is_named() -> None:
    with pytest.raises(RunbookError) as info:
        find("nowhere/Q7.md")
    assert str(info.value).startswith("nowhere/Q7.md:0: no such file")


def test_listing_shows_broken_files_with_their_error(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "broken/frontmatter-not-closed.md", tmp_path / "X1-broken.md")
    shutil.copy(SAMPLES / "ok/four-phases.md", tmp_path / "D5-dns.md")
    entries = list_runbooks([tmp_path])
    assert [(e.id, e.phases) for e in entries] == [("D5", 4), ("X1-broken", 0)]
    assert entries[1].error is not None and "X1-broken.md:1: frontmatter opened at line 1" in entries[1].error
    assert load("D5", [tmp_path]).phases[2].name == "Verify"
    with pytest.raises(RunbookError, match="not closed"):
        load(tmp_path / "X1-broken.md")


def _rb(rid: str, triggers: list[str]) -> Runbook:
    return Runbook(id=rid, title=rid, triggers=triggers)


def test_match_alert_literal_case_insensitive_best_first() -> None:
    books = [
        _rb("D3", ["nf_conntrack: table full, dropping packet", "conntrack_allowance_exceeded"]),
        _rb("D6", ["bw_in_allowance_exceeded", "conntrack_allowance_exceeded"]),
        _rb("Z1", [".*"]),
        _rb("D5", ["SERVFAIL"]),
    ]
    alert = "kernel: NF_CONNTRACK: table full, dropping packet; ethtool conntrack_allowance_exceeded: 12"
    assert match_alert(alert, books) == [
        AlertMatch("D3", 2, "nf_conntrack: table full, dropping packet"),
        AlertMatch("D6", 1, "conntrack_allowance_exceeded"),
    ]
    # Triggers are never regexes: ".*" only matches the literal text ".*".
    assert match_alert("nothing to see", books) == []
    assert match_alert("servfail from upstream", books) == [AlertMatch("D5", 1, "SERVFAIL")]


def test_match_alert_accepts_compiled_runbooks() -> None:
    d3 = load("D3")
    assert match_alert("conntrack_allowance_exceeded: 5", [d3])[0].runbook_id == "D3"
