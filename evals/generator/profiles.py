"""Facts that differ per kernel/AMI and per instance type, in one place.

Every number that a diagnosis compares (conntrack max and buckets, counter names, interface
names) comes from these tables and the rules of the reference notes (sections 2.2, 2.4, 3.5,
3.6), so a bundle for an AL2 4.14 node looks different from an AL2023 6.12 node in exactly the
ways real ones do.
"""

from __future__ import annotations

from dataclasses import dataclass

from evals.generator.spec import Kernel

GIB = 1024**3


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    mem_gib: float
    ena_queues: int
    max_enis: int
    ips_per_eni: int


_TYPES = [
    InstanceType("t3.medium", 2, 4, 2, 3, 6),
    InstanceType("t3.large", 2, 8, 2, 3, 12),
    InstanceType("c5.large", 2, 4, 2, 3, 10),
    InstanceType("c5.xlarge", 4, 8, 4, 4, 15),
    InstanceType("c5.24xlarge", 96, 192, 32, 15, 50),
    InstanceType("m5.large", 2, 8, 2, 3, 10),
    InstanceType("m5.xlarge", 4, 16, 4, 4, 15),
    InstanceType("m5.2xlarge", 8, 32, 8, 4, 15),
    InstanceType("m5.4xlarge", 16, 64, 8, 8, 30),
    InstanceType("m6i.large", 2, 8, 2, 3, 10),
    InstanceType("m7i.large", 2, 8, 2, 3, 10),
    InstanceType("r5.large", 2, 16, 2, 3, 10),
]
INSTANCE_TYPES: dict[str, InstanceType] = {t.name: t for t in _TYPES}


def instance_type(name: str) -> InstanceType:
    try:
        return INSTANCE_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(INSTANCE_TYPES))
        raise ValueError(f"unknown instance_type {name!r}; known types: {known}") from None


# conntrack -S attribute names, by what the kernel sends and what conntrack-tools can name (2.2).
_STATS_4_14 = ("found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop", "error",
               "search_restart")
_STATS_5_10_TOOLS_144 = ("found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
                         "search_restart")
_STATS_6_X = ("found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart",
              "clash_resolve", "chaintoolong")

# ENA `ethtool -S` global counters (2.4): 2.x drivers before 2.12, and 2.12+.
_ENA_GLOBALS_OLD = ("tx_timeout", "suspend", "resume", "wd_expired", "interface_up", "interface_down",
                    "admin_q_pause", "reset_fail")
_ENA_GLOBALS_NEW = ("total_resets", "reset_fail", "tx_timeout", "wd_expired", "admin_q_pause", "bad_tx_req_id",
                    "bad_rx_req_id", "bad_rx_desc_num", "missing_intr", "suspected_poll_starvation",
                    "missing_tx_cmpl", "rx_desc_malformed", "tx_desc_malformed", "invalid_state",
                    "os_netdev_wd", "missing_admin_interrupt", "admin_to", "device_request_reset", "suspend",
                    "resume", "interface_down", "interface_up")
ENA_ALLOWANCE = ("bw_in_allowance_exceeded", "bw_out_allowance_exceeded", "pps_allowance_exceeded",
                 "conntrack_allowance_exceeded", "linklocal_allowance_exceeded")
_ENA_TX = ("cnt", "bytes", "queue_stop", "queue_wakeup", "dma_mapping_err", "linearize", "linearize_failed",
           "napi_comp", "tx_poll", "doorbells", "prepare_ctx_err", "bad_req_id", "llq_buffer_copy", "missed_tx",
           "unmask_interrupt")
_ENA_RX_OLD = ("cnt", "bytes", "rx_copybreak_pkt", "csum_good", "refil_partial", "csum_bad", "page_alloc_fail",
               "skb_alloc_fail", "dma_mapping_err", "bad_desc_num", "bad_req_id", "empty_rx_ring",
               "csum_unchecked", "xdp_aborted", "xdp_drop", "xdp_pass", "xdp_tx", "xdp_invalid", "xdp_redirect")
_ENA_RX_NEW = (*_ENA_RX_OLD, "lpc_warm_up", "lpc_full", "lpc_wrong_numa", "zc_queue_pkt_copy")
ENA_ADMIN = ("ena_admin_q_aborted_cmd", "ena_admin_q_submitted_cmd", "ena_admin_q_completed_cmd",
             "ena_admin_q_out_of_space", "ena_admin_q_no_completion")

# veth (VPC CNI `eni…` host side) statistics: peer_ifindex, then per-queue XDP counters (5.x+).
_VETH_RQ = ("xdp_packets", "xdp_bytes", "drops", "xdp_redirect", "xdp_drops", "xdp_tx", "xdp_tx_errors")
_VETH_TQ = ("xdp_xmit", "xdp_xmit_errors")


@dataclass(frozen=True)
class KernelProfile:
    key: Kernel
    distro: str  # "al2" | "al2023"
    release: str
    build: str  # the `#1 SMP ...` part of uname -v
    legacy_conntrack_sizing: bool  # kernels < 5.15 size the table as 4 x buckets (3.5)
    stats_fields: tuple[str, ...]
    conntrack_tools: str
    iface_prefix: str
    ena_version: str
    ena_globals: tuple[str, ...]
    ena_has_available: bool  # conntrack_allowance_available needs ENA >= 2.8.1
    ena_rx: tuple[str, ...]
    udp_stream_timeout: int
    k8s_version: str  # kubelet / kube-proxy build shipped with the AMI
    containerd_version: str
    iptables_version: str
    systemd_version: int
    coredns_version: str
    cni_version: str

    @property
    def is_al2(self) -> bool:
        return self.distro == "al2"

    @property
    def primary_iface(self) -> str:
        return "eth0" if self.iface_prefix == "eth" else "ens5"

    @property
    def secondary_iface(self) -> str:
        return "eth1" if self.iface_prefix == "eth" else "ens6"

    @property
    def k8s_minor(self) -> str:
        return ".".join(self.k8s_version.lstrip("v").split(".")[:2])

    def veth_stats(self) -> tuple[str, ...]:
        if self.key == "al2-4.14":
            return ("peer_ifindex",)
        return ("peer_ifindex", *(f"rx_queue_0_{s}" for s in _VETH_RQ), *(f"tx_queue_0_{s}" for s in _VETH_TQ))

    @property
    def ena_tx(self) -> tuple[str, ...]:
        return _ENA_TX


KERNEL_PROFILES: dict[Kernel, KernelProfile] = {
    "al2-4.14": KernelProfile(
        key="al2-4.14", distro="al2", release="4.14.359-284.667.amzn2.x86_64",
        build="#1 SMP Tue Jun 24 22:14:51 UTC 2026", legacy_conntrack_sizing=True,
        stats_fields=_STATS_4_14, conntrack_tools="1.4.4", iface_prefix="eth", ena_version="2.6.1g",
        ena_globals=_ENA_GLOBALS_OLD, ena_has_available=False, ena_rx=_ENA_RX_OLD, udp_stream_timeout=180,
        k8s_version="v1.29.15-eks-473151a", containerd_version="1.7.27", iptables_version="v1.8.4",
        systemd_version=219, coredns_version="1.11.1", cni_version="v1.19.2-eksbuild.1",
    ),
    "al2-5.10": KernelProfile(
        key="al2-5.10", distro="al2", release="5.10.240-238.959.amzn2.x86_64",
        build="#1 SMP Wed Jul  2 17:41:09 UTC 2026", legacy_conntrack_sizing=True,
        stats_fields=_STATS_5_10_TOOLS_144, conntrack_tools="1.4.4", iface_prefix="eth", ena_version="2.8.3g",
        ena_globals=_ENA_GLOBALS_OLD, ena_has_available=True, ena_rx=_ENA_RX_OLD, udp_stream_timeout=120,
        k8s_version="v1.30.14-eks-b707fbb", containerd_version="1.7.27", iptables_version="v1.8.4",
        systemd_version=219, coredns_version="1.11.3", cni_version="v1.19.6-eksbuild.1",
    ),
    "al2023-6.1": KernelProfile(
        key="al2023-6.1", distro="al2023", release="6.1.147-172.266.amzn2023.x86_64",
        build="#1 SMP PREEMPT_DYNAMIC Mon Jul  7 19:35:26 UTC 2026", legacy_conntrack_sizing=False,
        stats_fields=_STATS_6_X, conntrack_tools="1.4.6", iface_prefix="ens", ena_version="2.13.2g",
        ena_globals=_ENA_GLOBALS_NEW, ena_has_available=True, ena_rx=_ENA_RX_NEW, udp_stream_timeout=120,
        k8s_version="v1.31.11-eks-3abbec1", containerd_version="1.7.27", iptables_version="v1.8.8",
        systemd_version=252, coredns_version="1.11.4", cni_version="v1.20.0-eksbuild.1",
    ),
    "al2023-6.12": KernelProfile(
        key="al2023-6.12", distro="al2023", release="6.12.37-61.105.amzn2023.x86_64",
        build="#1 SMP PREEMPT_DYNAMIC Thu Jul 10 21:02:44 UTC 2026", legacy_conntrack_sizing=False,
        stats_fields=_STATS_6_X, conntrack_tools="1.4.6", iface_prefix="ens", ena_version="2.15.0g",
        ena_globals=_ENA_GLOBALS_NEW, ena_has_available=True, ena_rx=_ENA_RX_NEW, udp_stream_timeout=120,
        k8s_version="v1.33.3-eks-3abbec1", containerd_version="2.0.5", iptables_version="v1.8.8",
        systemd_version=252, coredns_version="1.12.1", cni_version="v1.20.0-eksbuild.1",
    ),
}


@dataclass(frozen=True)
class ConntrackSizing:
    """Table size before and after kube-proxy touched it, as the sysctl dump will show it."""

    kernel_max: int
    kernel_buckets: int
    max: int
    buckets: int
    kube_proxy_max: int  # what kube-proxy computes and logs ("Setting nf_conntrack_max")
    max_changed: bool  # kube-proxy logs "Set sysctl" only when the value differs
    hashsize_raised: bool


def conntrack_sizing(kernel: KernelProfile, itype: InstanceType) -> ConntrackSizing:
    """Kernel defaults from RAM (3.5), then kube-proxy 1.29-1.35 semantics (2.5, 3.6).

    kube-proxy computes max(32768 x vCPU, 131072), writes it whenever it differs (so it can lower
    the 262144 default on small nodes) and raises hashsize to max/4 when the table has fewer buckets.
    """
    ram = itype.mem_gib * GIB
    # MemTotal of a "4 GiB" instance is below 4 GiB, so those land in the middle bracket.
    if kernel.legacy_conntrack_sizing:
        buckets = 65536 if ram > 4 * GIB else 16384 if ram > 1 * GIB else max(32, int(ram // 16384 // 8))
        kmax = 4 * buckets
    else:
        buckets = 262144 if ram > 4 * GIB else 65536 if ram > 1 * GIB else 1024
        kmax = buckets
    wanted = max(32768 * itype.vcpus, 131072)
    new_buckets = max(buckets, wanted // 4)
    return ConntrackSizing(
        kernel_max=kmax, kernel_buckets=buckets, max=wanted, buckets=new_buckets, kube_proxy_max=wanted,
        max_changed=wanted != kmax, hashsize_raised=new_buckets != buckets,
    )
