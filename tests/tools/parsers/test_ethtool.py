import pytest

from tools.parsers.ethtool import ALLOWANCE_EXCEEDED, parse_ethtool

# Shape of networking/ethtool.txt: `Interface <name>`, `ethtool -S` output (stdout+stderr), blank lines.
ETHTOOL_TXT = """Interface ens5
NIC statistics:
     total_resets: 0
     reset_fail: 0
     tx_timeout: 0
     interface_down: 0
     interface_up: 1
     bw_in_allowance_exceeded: 11072
     bw_out_allowance_exceeded: 0
     pps_allowance_exceeded: 0
     conntrack_allowance_exceeded: 0
     linklocal_allowance_exceeded: 0
     conntrack_allowance_available: 51286
     queue_0_tx_cnt: 3925390
     queue_0_tx_bytes: 1347467636
     ena_admin_q_aborted_cmd: 0
     ena_admin_q_submitted_cmd: 89


Interface eni0a1b2c3d4e5
Cannot get stats strings information: Operation not supported

Interface eth1
NIC statistics:
     tx_timeout: 0
     suspend: 0
     bw_in_allowance_exceeded: 0
     bw_out_allowance_exceeded: 0
     pps_allowance_exceeded: 4
     conntrack_allowance_exceeded: 1234
     linklocal_allowance_exceeded: 88
     queue_0_tx_cnt: 1

Interface lo
no stats available

"""


@pytest.fixture
def interfaces():
    return {i.name: i for i in parse_ethtool(ETHTOOL_TXT.splitlines(keepends=True))}


def test_interfaces_in_order(interfaces) -> None:
    assert list(interfaces) == ["ens5", "eni0a1b2c3d4e5", "eth1", "lo"]


def test_ena_2_8_1_interface(interfaces) -> None:
    ens5 = interfaces["ens5"]
    assert ens5.header_line == 1
    assert ens5.counters["bw_in_allowance_exceeded"] == 11072
    assert ens5.lines["bw_in_allowance_exceeded"] == 8
    assert ens5.lines["conntrack_allowance_available"] == 13
    assert ens5.allowance_exceeded() == {
        "bw_in_allowance_exceeded": 11072,
        "bw_out_allowance_exceeded": 0,
        "pps_allowance_exceeded": 0,
        "conntrack_allowance_exceeded": 0,
        "linklocal_allowance_exceeded": 0,
    }
    # a zero counter is not evidence
    assert ens5.allowance_exceeded(nonzero_only=True) == {"bw_in_allowance_exceeded": 11072}
    assert ens5.conntrack_available() == 51286
    assert ens5.ena_ge_2_8_1 is True
    assert not ens5.no_stats and ens5.error is None
    assert len(ens5.counters) == 15


def test_pre_2_8_1_interface_without_available_counter(interfaces) -> None:
    eth1 = interfaces["eth1"]
    assert eth1.conntrack_available() is None
    assert eth1.ena_ge_2_8_1 is False
    assert eth1.allowance_exceeded(nonzero_only=True) == {
        "pps_allowance_exceeded": 4,
        "conntrack_allowance_exceeded": 1234,
        "linklocal_allowance_exceeded": 88,
    }
    assert set(eth1.allowance_exceeded()) == set(ALLOWANCE_EXCEEDED)


def test_lo_has_no_stats(interfaces) -> None:
    lo = interfaces["lo"]
    assert lo.no_stats is True and lo.error is None and lo.counters == {}
    assert lo.allowance_exceeded() == {} and lo.conntrack_available() is None


def test_veth_error_text_is_kept(interfaces) -> None:
    veth = interfaces["eni0a1b2c3d4e5"]
    assert veth.error == "Cannot get stats strings information: Operation not supported"
    assert veth.no_stats is False and veth.counters == {}


def test_unparseable_counter_lines_are_skipped() -> None:
    parsed = parse_ethtool(
        [
            "Interface eth0\n",
            "NIC statistics:\n",
            "     good: 5\n",
            "     bad: abc\n",
            "not indented: 7\n",
            "     : 3\n",
            "     rx_queue_0_xdp_packets: 9\r\n",
            "     name with spaces: 11\n",
            "     \ufffd: 2\n",
        ]
    )
    assert parsed[0].counters == {"good": 5, "rx_queue_0_xdp_packets": 9, "name with spaces": 11, "\ufffd": 2}


def test_bare_ethtool_capture_without_interface_line() -> None:
    parsed = parse_ethtool(["NIC statistics:", "     conntrack_allowance_exceeded: 3"])
    assert len(parsed) == 1
    assert parsed[0].name == "" and parsed[0].header_line == 1
    assert parsed[0].allowance_exceeded(nonzero_only=True) == {"conntrack_allowance_exceeded": 3}


@pytest.mark.parametrize("lines", [[], ["", "   "], ["garbage", "     x: 1"]])
def test_empty_or_garbage(lines: list[str]) -> None:
    assert parse_ethtool(lines) == []
