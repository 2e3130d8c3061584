from collections.abc import Iterator

import pytest

from tools.parsers.conntrack import parse_conntrack_file, parse_conntrack_stats, parse_conntrack_table

# conntrack -S prints `cpu=%-4u\t` then `name=value ` (trailing space) per attribute.
PRE_5_10 = [
    "cpu=0   \tfound=0 invalid=1843 ignore=2206781 insert=0 insert_failed=0 drop=312 early_drop=41 error=0 search_restart=17 \n",
    "cpu=1   \tfound=0 invalid=7 ignore=100 insert=0 insert_failed=2 drop=8 early_drop=1 error=0 search_restart=3 \n",
]
AL2_5_10_OLD_TOOLS = [
    "cpu=0   \tfound=0 invalid=1843 insert=0 insert_failed=0 drop=312 early_drop=41 error=0 search_restart=17 \n",
]
V5_10 = [
    "cpu=0   \tfound=0 invalid=10 insert=0 insert_failed=1 drop=0 early_drop=0 error=0 search_restart=5 clash_resolve=4 \n",
    "cpu=1   \tfound=0 invalid=20 insert=0 insert_failed=2 drop=0 early_drop=0 error=0 search_restart=6 clash_resolve=5 \n",
]
CHAINTOOLONG = [
    "cpu=0   \tfound=0 invalid=1204 insert=0 insert_failed=118 drop=118 early_drop=0 error=0 search_restart=9214 "
    "clash_resolve=41 chaintoolong=0 \n",
]
UNKNOWN_N = [
    "cpu=0   \tfound=0 invalid=3 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=1 "
    "unknown16=2 unknown17=0 \n",
]


@pytest.mark.parametrize(
    ("lines", "form", "cpus", "drop", "extra"),
    [
        (PRE_5_10, "pre_5_10", 2, 320, ("ignore", 2206881)),
        (AL2_5_10_OLD_TOOLS, "5_10", 1, 312, ("search_restart", 17)),
        (V5_10, "5_10", 2, 0, ("clash_resolve", 9)),
        (CHAINTOOLONG, "chaintoolong", 1, 118, ("chaintoolong", 0)),
        (UNKNOWN_N, "unknown_n", 1, 0, ("unknown16", 2)),
        ([], "empty", 0, None, None),
    ],
)
def test_stats_forms(lines: list[str], form: str, cpus: int, drop: int | None, extra: tuple[str, int] | None) -> None:
    stats = parse_conntrack_stats(lines)
    assert stats.form == form
    assert stats.cpus == cpus == len(stats.per_cpu)
    assert stats.sums.get("drop") == drop
    if extra is not None:
        assert stats.sums[extra[0]] == extra[1]


def test_stats_per_cpu_values_and_sums() -> None:
    stats = parse_conntrack_stats(PRE_5_10)
    assert stats.per_cpu[0]["cpu"] == 0 and stats.per_cpu[1]["cpu"] == 1
    assert stats.per_cpu[0]["drop"] == 312 and stats.per_cpu[1]["drop"] == 8
    assert stats.sums["early_drop"] == 42
    assert stats.sums["insert_failed"] == 2
    assert "cpu" not in stats.sums
    assert stats.cpu_lines == [1, 2]


def test_stats_tolerate_tabs_spaces_and_garbage_tokens() -> None:
    lines = [
        "",
        "conntrack v1.4.4 (conntrack-tools): Operation not permitted",
        "cpu=12  \t  found=0\tdrop=5   weird token=x =3 \r\n",
        "cpu=x found=1",
    ]
    stats = parse_conntrack_stats(lines)
    assert stats.cpus == 1
    assert stats.per_cpu[0] == {"cpu": 12, "found": 0, "drop": 5}
    assert stats.cpu_lines == [3]


TABLE = [
    "tcp      6 86397 ESTABLISHED src=10.0.12.34 dst=172.20.0.1 sport=51234 dport=443 src=10.0.45.6 dst=10.0.12.34 "
    "sport=443 dport=51234 [ASSURED] mark=0 use=1\n",
    "udp      17 28 src=10.0.12.77 dst=172.20.0.10 sport=40123 dport=53 src=10.0.13.9 dst=10.0.12.77 sport=53 "
    "dport=40123 mark=0 use=1\n",
    "udp      17 29 src=10.0.12.78 dst=172.20.0.10 sport=40124 dport=53 [UNREPLIED] src=10.0.13.9 dst=10.0.12.78 "
    "sport=53 dport=40124 mark=0 use=1\n",
    "tcp      6 117 SYN_SENT src=10.0.12.77 dst=10.0.99.5 sport=43210 dport=5432 [UNREPLIED] src=10.0.99.5 "
    "dst=10.0.12.77 sport=5432 dport=43210 mark=0 use=1\n",
    "tcp      6 102 TIME_WAIT src=10.0.1.1 dst=10.0.2.2 sport=1111 dport=8080 src=10.0.2.2 dst=10.0.1.1 sport=8080 "
    "dport=1111 [ASSURED] mark=0 use=1\n",
    "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=1234 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=1234 "
    "mark=0 use=1\n",
    "ipv4     2 tcp      6 300 ESTABLISHED src=10.0.3.3 dst=10.0.4.4 sport=2222 dport=443 src=10.0.4.4 "
    "dst=10.0.3.3 sport=443 dport=2222 [ASSURED] mark=0 zone=0 use=2\n",
]


def test_table_counts() -> None:
    table = parse_conntrack_table(TABLE)
    assert table.entries == 7
    assert table.by_protocol == {"tcp": 4, "udp": 2, "icmp": 1}
    assert table.by_state == {"ESTABLISHED": 2, "SYN_SENT": 1, "TIME_WAIT": 1}
    # original-direction dport only (never the reply's)
    assert table.by_dport == {"443": 2, "53": 2, "5432": 1, "8080": 1}
    assert table.unreplied == 2
    assert table.assured == 3
    assert (table.first_line, table.last_line) == (1, 7)


def test_table_skips_non_entries() -> None:
    table = parse_conntrack_table(
        ["", "conntrack v1.4.6 (conntrack-tools): 3 flow entries have been shown.", "tcp 6 x", "\ufffd", TABLE[0]]
    )
    assert table.entries == 1 and table.skipped == 3
    assert table.first_line == 5


def test_table_streams_a_million_entries() -> None:
    def lines() -> Iterator[str]:
        for i in range(200_000):
            yield (
                f"udp      17 {i % 30} src=10.0.{i % 250}.7 dst=172.20.0.10 sport={1024 + i % 60000} dport=53 "
                "[UNREPLIED] src=10.0.13.9 dst=10.0.12.77 sport=53 dport=40123 mark=0 use=1\n"
            )

    table = parse_conntrack_table(lines())
    assert table.entries == 200_000 == table.unreplied
    assert table.by_dport == {"53": 200_000}
    assert table.by_state == {}


STATS_HEADER = "*** Output of conntrack -S *** \n"  # trailing space, as the collector writes it
TABLE_HEADER = "*** Output of conntrack -L ***\n"


def test_file_with_both_sections() -> None:
    lines = [STATS_HEADER, *PRE_5_10, TABLE_HEADER, *TABLE]
    parsed = parse_conntrack_file(lines)
    assert parsed.has_stats_section and parsed.has_table_section
    assert parsed.stats.form == "pre_5_10" and parsed.stats.sums["drop"] == 320
    assert parsed.stats.cpu_lines == [2, 3]
    assert parsed.table.entries == 7
    assert parsed.table.first_line == 5


def test_file_with_empty_table_section() -> None:
    parsed = parse_conntrack_file([STATS_HEADER, *CHAINTOOLONG, TABLE_HEADER])
    assert parsed.has_table_section and parsed.table.entries == 0
    assert parsed.stats.form == "chaintoolong"


def test_file_with_missing_sections() -> None:
    parsed = parse_conntrack_file(["\n", "\n"])
    assert not parsed.has_stats_section and not parsed.has_table_section
    assert parsed.stats.form == "empty" and parsed.table.entries == 0


def test_file_without_headers_is_routed_by_shape() -> None:
    parsed = parse_conntrack_file([*V5_10, *TABLE[:2]])
    assert not parsed.has_stats_section and not parsed.has_table_section
    assert parsed.stats.cpus == 2 and parsed.table.entries == 2


def test_conntrack6_header_counts_as_table() -> None:
    parsed = parse_conntrack_file(
        [
            "*** Output of conntrack -L -f ipv6 ***\n",
            "tcp      6 431999 ESTABLISHED src=fd00::1 dst=fd00::2 sport=1 dport=443 src=fd00::2 dst=fd00::1 "
            "sport=443 dport=1 [ASSURED] mark=0 use=1\n",
        ]
    )
    assert parsed.has_table_section and parsed.table.entries == 1
