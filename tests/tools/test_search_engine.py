import gzip
from pathlib import Path

import pytest

import tools.search_engine as se
from tools.search_engine import SearchError, glob_matches, group_hits, search, selected

ENGINES = ["rg", "re2"]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    (root / "kernel").mkdir(parents=True)
    (root / "var_log" / "aws-routed-eni").mkdir(parents=True)
    (root / "networking").mkdir()
    (root / "kernel" / "dmesg.current").write_text(
        "[    3.201144] Linux version 6.1.0\n"
        "[104235.156774] nf_conntrack: nf_conntrack: table full, dropping packet\n"
        "[104243.800401] net_ratelimit: 3939 callbacks suppressed\n"
        "[104244.000001] nf_conntrack: nf_conntrack: table full, dropping packet\n"
    )
    (root / "var_log" / "messages").write_text(
        "Jul 30 14:02:10 ip-10-0-12-34 systemd[1]: Started Session 5.\n"
        "Jul 30 14:02:11 ip-10-0-12-34 kernel: nf_conntrack: nf_conntrack: table full, dropping packet\n"
        "Jul 30 14:02:12 ip-10-0-12-34 systemd[1]: Started Session 6.\n"
    )
    with gzip.open(root / "var_log" / "messages.1.gz", "wt") as fh:
        fh.write("Jul 29 01:00:00 ip-10-0-12-34 kernel: nf_conntrack: table full, dropping packet\n")
    (root / "networking" / "ethtool.txt").write_text(
        "Interface ens5\nNIC statistics:\n     conntrack_allowance_exceeded: 1234\n     conntrack_allowance_available: 0\n"
    )
    (root / "var_log" / "aws-routed-eni" / "ipamd.log").write_text(
        "".join(f'{{"level":"info","msg":"table full? no, line {i}"}}\n' for i in range(10))
    )
    (root / "kernel" / "core.bin").write_bytes(b"\x00\x01\x02nf_conntrack: table full\n")
    return root


def test_finds_matches_with_relative_paths_and_counts(bundle, engine):
    r = search(bundle, r"nf_conntrack.*table full|conntrack_allowance_exceeded")
    assert r.engine == engine
    assert r.matches_per_file == {
        "kernel/dmesg.current": 2,
        "networking/ethtool.txt": 1,
        "var_log/messages": 1,
        "var_log/messages.1.gz": 1,
    }
    assert r.total_matches == 5 and r.files_with_matches == 4
    assert not r.truncated
    first = r.hits[0]
    assert (first.file, first.line) == ("kernel/dmesg.current", 2)
    assert first.text == "[104235.156774] nf_conntrack: nf_conntrack: table full, dropping packet"


def test_rotated_gz_is_searched_transparently(bundle, engine):
    r = search(bundle, "Jul 29 01:00:00")
    assert [(h.file, h.line) for h in r.hits] == [("var_log/messages.1.gz", 1)]
    assert "table full" in r.hits[0].text


def test_binary_files_are_skipped(bundle, engine):
    r = search(bundle, "table full")
    assert "kernel/core.bin" not in r.matches_per_file
    assert all(h.file != "kernel/core.bin" for h in r.hits)


def test_globs_include_and_exclude(bundle, engine):
    r = search(bundle, "table full", globs=["var_log/**"])
    assert set(r.matches_per_file) == {"var_log/messages", "var_log/messages.1.gz", "var_log/aws-routed-eni/ipamd.log"}
    r = search(bundle, "table full", globs=["var_log/**", "!*.gz"])
    assert set(r.matches_per_file) == {"var_log/messages", "var_log/aws-routed-eni/ipamd.log"}
    r = search(bundle, "table full", globs=["dmesg*"])
    assert set(r.matches_per_file) == {"kernel/dmesg.current"}


def test_context_lines_before_and_after(bundle, engine):
    r = search(bundle, "kernel: nf_conntrack", globs=["var_log/messages"], context=1)
    (hit,) = r.hits
    assert hit.line == 2
    assert [(c.line, c.text[:15]) for c in hit.before] == [(1, "Jul 30 14:02:10")]
    assert [(c.line, c.text[:15]) for c in hit.after] == [(3, "Jul 30 14:02:12")]


def test_caps_bound_hits_but_counts_stay_complete(bundle, engine):
    r = search(bundle, r"line \d", max_per_file=3)
    assert r.matches_per_file == {"var_log/aws-routed-eni/ipamd.log": 10}
    assert [h.line for h in r.hits] == [1, 2, 3]
    assert r.truncated and r.total_matches == 10
    r = search(bundle, "table full", max_matches=2)
    assert len(r.hits) == 2 and r.total_matches == 14 and r.truncated


def test_text_is_bounded(tmp_path, engine):
    (tmp_path / "long.log").write_text("x" * 5000 + " needle\n")
    r = search(tmp_path, "needle")
    assert len(r.hits[0].text) <= se.MAX_TEXT_CHARS + 1
    assert r.matches_per_file == {"long.log": 1}


def test_ignore_case(bundle, engine):
    assert search(bundle, "TABLE FULL").total_matches == 0
    assert search(bundle, "TABLE FULL", ignore_case=True).total_matches == 14


@pytest.mark.parametrize("bad, why", [("nf_conntrack(", "invalid regular expression"), ("(?<=x)y", "look")])
def test_invalid_regex_is_a_clear_error(bundle, engine, bad, why):
    with pytest.raises(SearchError, match=why) as info:
        search(bundle, bad)
    assert bad in str(info.value)


def test_pathological_regex_completes_on_a_long_line(tmp_path, engine):
    # (a+)+$ is exponential on a backtracking engine for a line of a's that does not end the match.
    with open(tmp_path / "one-line.log", "w") as fh:
        fh.write("a" * (10 * 1024 * 1024) + "!\n")
    r = search(tmp_path, "(a+)+$")
    assert r.total_matches == 0 and not r.timed_out


def test_empty_and_multiline_queries_are_rejected(bundle, engine):
    with pytest.raises(SearchError, match="empty"):
        search(bundle, "")
    with pytest.raises(SearchError, match="line break"):
        search(bundle, "a\nb")


def test_missing_bundle_is_a_clear_error(tmp_path, engine):
    with pytest.raises(SearchError, match="does not exist"):
        search(tmp_path / "nope", "x")


def test_engines_agree(bundle, monkeypatch):
    if se.rg_binary() is None:
        pytest.skip("rg binary not installed")
    results = {}
    for name in ENGINES:
        monkeypatch.setenv(se.ENGINE_ENV, name)
        r = search(bundle, r"table full|callbacks", context=1, max_per_file=4)
        results[name] = (r.matches_per_file, [h.model_dump() for h in r.hits], r.total_matches)
    assert results["rg"] == results["re2"]


def test_falls_back_to_re2_when_rg_is_missing(bundle, monkeypatch):
    monkeypatch.delenv(se.ENGINE_ENV, raising=False)
    monkeypatch.setattr(se, "rg_binary", lambda: None)
    r = search(bundle, "table full")
    assert r.engine == "re2" and r.total_matches == 14


def test_forcing_rg_without_the_binary_says_what_to_do(bundle, monkeypatch):
    monkeypatch.setenv(se.ENGINE_ENV, "rg")
    monkeypatch.setattr(se, "rg_binary", lambda: None)
    with pytest.raises(SearchError, match="ripgrep"):
        search(bundle, "x")


def test_unknown_engine_name_is_rejected(bundle, monkeypatch):
    monkeypatch.setenv(se.ENGINE_ENV, "pcre")
    with pytest.raises(SearchError, match="not an engine"):
        search(bundle, "x")


def test_re2_search_stops_at_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv(se.ENGINE_ENV, "re2")
    (tmp_path / "big.log").write_text("needle\n" * 20000)
    r = search(tmp_path, "needle", timeout_s=0)
    assert r.timed_out and r.truncated
    assert r.total_matches < 20000


def test_group_hits_orders_by_count_then_file(bundle, engine):
    r = search(bundle, "table full")
    groups = group_hits(r)
    assert [g.file for g in groups][:2] == ["var_log/aws-routed-eni/ipamd.log", "kernel/dmesg.current"]
    top = groups[0]
    assert top.count == 10 and top.lines == list(range(1, 11)) and "line 0" in top.sample
    dmesg = groups[1]
    assert dmesg.count == 2 and dmesg.lines == [2, 4]


@pytest.mark.parametrize(
    "glob, rel, expected",
    [
        ("*.gz", "var_log/messages.1.gz", True),
        ("var_log/*", "var_log/messages", True),
        ("var_log/*", "var_log/aws-routed-eni/ipamd.log", False),
        ("var_log/**", "var_log/aws-routed-eni/ipamd.log", True),
        ("**/ipamd.log", "var_log/aws-routed-eni/ipamd.log", True),
        ("kernel/dmesg.{current,boot}", "kernel/dmesg.boot", True),
        ("kernel/dmesg.{current,boot}", "kernel/dmesg.human.current", False),
        ("messages?", "var_log/messages1", True),
        ("[mn]essages", "var_log/messages", True),
    ],
)
def test_glob_semantics(glob, rel, expected):
    assert glob_matches(glob, rel) is expected


def test_selected_last_matching_glob_wins():
    assert selected("a/b.log", ["**/*.log", "!a/**"]) is False
    assert selected("a/b.log", ["!a/**", "**/*.log"]) is True
    assert selected("c.txt", ["!*.log"]) is True
    assert selected("c.txt", ["*.log"]) is False
