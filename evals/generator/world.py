"""The node and its incident, decided once, before any file is written.

Every file of a bundle is a view of the same facts (the table size, the moment the table
overflowed, the pod that lost its DNS, the ENI whose allowance ran out). Deciding them here, with
one seeded random stream per concern, keeps all views consistent and lets a new file type be added
without shifting the numbers of the existing ones.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from evals.generator.profiles import (
    ENA_ALLOWANCE,
    KERNEL_PROFILES,
    ConntrackSizing,
    InstanceType,
    KernelProfile,
    conntrack_sizing,
    instance_type,
)
from evals.generator.spec import BundleSpec

K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def rng_for(spec: BundleSpec, concern: str) -> random.Random:
    """One independent, reproducible stream per concern (string seeds are hashed with SHA-512)."""
    return random.Random(f"{spec.seed}:{concern}")


def hexstr(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def k8s_suffix(rng: random.Random, n: int = 5) -> str:
    return "".join(rng.choice(K8S_ALPHABET) for _ in range(n))


def rng_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def mac(rng: random.Random) -> str:
    return "02:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(5))


def veth_name(namespace: str, pod: str) -> str:
    """The VPC CNI names the host side of a pod's veth `eni` + sha1(namespace.pod)[:11]."""
    return "eni" + hashlib.sha1(f"{namespace}.{pod}".encode()).hexdigest()[:11]


@dataclass
class Container:
    name: str
    container_id: str  # 64 hex


@dataclass
class Pod:
    namespace: str
    name: str
    uid: str
    containers: list[Container]
    ip: str
    host_network: bool = False
    eni: str = "primary"  # which ENI's secondary IP the pod uses
    app: str = ""  # kind of workload, drives the log text

    @property
    def veth(self) -> str:
        return veth_name(self.namespace, self.name)


@dataclass
class TableFullEvent:
    """One printed kernel warning; `suppressed` is the net_ratelimit count printed just before it."""

    at: datetime
    suppressed: int = 0
    netns: int | None = None
    cpu: int = 0


@dataclass
class Interface:
    name: str
    kind: str  # "ena" | "veth" | "lo" | "dummy"
    mac: str = ""
    ip: str = ""
    prefix: int = 0
    ifindex: int = 0
    counters: dict[str, int] = field(default_factory=dict)  # ENA allowance counters (+ available)
    peer_ifindex: int = 0


@dataclass
class World:
    spec: BundleSpec
    kernel: KernelProfile
    itype: InstanceType
    sizing: ConntrackSizing
    boot: datetime
    incident: datetime
    collected: datetime
    recent_start: datetime  # the detailed part of every log starts here; before it only start-up lines
    quiet_start: datetime  # start of the quiet stretch that filler may occupy
    vpc_base: tuple[int, int]
    node_ip: str
    subnet_prefix: int
    hostname: str
    api_host: str
    api_ips: list[str]
    service_prefix: str
    pods: list[Pod]
    interfaces: list[Interface]
    count: int
    stats: list[dict[str, int]]
    events: list[TableFullEvent]
    dns_times: list[datetime]
    failure_times: list[datetime]

    @property
    def resolver_ip(self) -> str:
        return f"{self.vpc_base[0]}.{self.vpc_base[1]}.0.2"

    @property
    def gateway_ip(self) -> str:
        a, b = self.vpc_base
        third = int(self.node_ip.split(".")[2]) & ~((1 << (32 - self.subnet_prefix - 8)) - 1)
        return f"{a}.{b}.{third}.1"

    @property
    def vpc_cidr(self) -> str:
        return f"{self.vpc_base[0]}.{self.vpc_base[1]}.0.0/16"

    @property
    def subnet_cidr(self) -> str:
        a, b = self.vpc_base
        third = int(self.node_ip.split(".")[2]) & ~((1 << (32 - self.subnet_prefix - 8)) - 1)
        return f"{a}.{b}.{third}.0/{self.subnet_prefix}"

    @property
    def kube_dns_ip(self) -> str:
        return f"{self.service_prefix}.0.10"

    @property
    def kubernetes_svc_ip(self) -> str:
        return f"{self.service_prefix}.0.1"

    @property
    def short_hostname(self) -> str:
        return self.hostname.split(".")[0]

    @property
    def api_server(self) -> str:
        return f"https://{self.api_host}"

    def uptime(self, at: datetime) -> timedelta:
        return at - self.boot

    def pod(self, app: str) -> Pod:
        return next(p for p in self.pods if p.app == app)

    def pods_of(self, app: str) -> list[Pod]:
        return [p for p in self.pods if p.app == app]

    @cached_property
    def ena(self) -> list[Interface]:
        return [i for i in self.interfaces if i.kind == "ena"]

    @property
    def drop_total(self) -> int:
        return sum(s.get("drop", 0) for s in self.stats)


def _node_addresses(rng: random.Random, spec: BundleSpec) -> tuple[tuple[int, int], str, int]:
    second = rng.choice([0, 0, 1, 2, 10, 16, 32, 64, 100])
    az_index = "abcdef".index(spec.az[-1]) if spec.az[-1] in "abcdef" else 0
    third = az_index * 32 + rng.randrange(0, 32)
    node_ip = f"10.{second}.{third}.{rng.randrange(4, 250)}"
    return (10, second), node_ip, 19


def _pick_ip(rng: random.Random, base: tuple[int, int], taken: set[str], az_block: int) -> str:
    while True:
        ip = f"{base[0]}.{base[1]}.{az_block + rng.randrange(0, 32)}.{rng.randrange(4, 250)}"
        if ip not in taken:
            taken.add(ip)
            return ip


def _build_pods(rng: random.Random, base: tuple[int, int], node_ip: str, az_block: int) -> list[Pod]:
    taken = {node_ip}

    def container(name: str) -> Container:
        return Container(name, hexstr(rng, 64))

    def rs_name(prefix: str) -> str:
        return f"{prefix}-{k8s_suffix(rng, 10)}-{k8s_suffix(rng)}"

    def ds_name(prefix: str) -> str:
        return f"{prefix}-{k8s_suffix(rng)}"

    pods = [
        Pod("kube-system", ds_name("aws-node"), rng_uuid(rng),
            [container("aws-node"), container("aws-eks-nodeagent"), container("aws-vpc-cni-init")],
            node_ip, host_network=True, app="aws-node"),
        Pod("kube-system", ds_name("kube-proxy"), rng_uuid(rng), [container("kube-proxy")], node_ip,
            host_network=True, app="kube-proxy"),
        Pod("kube-system", ds_name("eks-pod-identity-agent"), rng_uuid(rng),
            [container("eks-pod-identity-agent")], node_ip, host_network=True, app="pod-identity"),
        Pod("kube-system", rs_name("coredns"), rng_uuid(rng), [container("coredns")],
            _pick_ip(rng, base, taken, az_block), app="coredns"),
        Pod("kube-system", ds_name("ebs-csi-node"), rng_uuid(rng),
            [container("ebs-plugin"), container("node-driver-registrar"), container("liveness-probe")],
            _pick_ip(rng, base, taken, az_block), app="ebs-csi-node"),
        Pod("kube-system", rs_name("ebs-csi-controller"), rng_uuid(rng),
            [container("ebs-plugin"), container("csi-attacher"), container("csi-provisioner")],
            _pick_ip(rng, base, taken, az_block), app="ebs-csi-controller"),
    ]
    apps = [("shop", "orders-api"), ("shop", "orders-api"), ("shop", "payments-api"), ("shop", "cart-worker"),
            ("shop", "catalog-web"), ("batch", "report-builder")]
    for index, (ns, app) in enumerate(apps):
        pods.append(Pod(ns, rs_name(app), rng_uuid(rng), [container(app)], _pick_ip(rng, base, taken, az_block),
                        eni="secondary" if index % 2 else "primary", app=app))
    pods.append(Pod("monitoring", ds_name("prometheus-node-exporter"), rng_uuid(rng),
                    [container("node-exporter")], node_ip, host_network=True, app="node-exporter"))
    return pods


def _interfaces(rng: random.Random, spec: BundleSpec, kernel: KernelProfile, itype: InstanceType,
                node_ip: str, base: tuple[int, int], az_block: int, pods: list[Pod]) -> list[Interface]:
    lo = Interface("lo", "lo", ip="127.0.0.1", prefix=8, ifindex=1)
    primary = Interface(kernel.primary_iface, "ena", mac(rng), node_ip, 19, 2)
    # ipamd attaches the second ENI right after start (WARM_ENI_TARGET=1), before any pod exists.
    secondary = Interface(kernel.secondary_iface, "ena", mac(rng),
                          _pick_ip(rng, base, {node_ip, *(p.ip for p in pods)}, az_block), 19, 3)
    result = [lo, primary, secondary]
    ifindex = 4
    if kernel.distro == "al2023":
        result.append(Interface("pod-id-link0", "dummy", "", "169.254.170.23", 32, ifindex))
        ifindex += 1
    for pod in pods:
        if pod.host_network:
            continue
        result.append(Interface(pod.veth, "veth", mac(rng), "", 0, ifindex, peer_ifindex=3))
        ifindex += 1
    _ena_counters(rng, spec, kernel, itype, primary, secondary)
    return result


def _ena_counters(rng: random.Random, spec: BundleSpec, kernel: KernelProfile, itype: InstanceType,
                  primary: Interface, secondary: Interface) -> None:
    for iface in (primary, secondary):
        iface.counters = {name: 0 for name in ENA_ALLOWANCE}
    hot = primary if spec.allowance_eni == "primary" else secondary
    if spec.allowance:
        hot.counters["conntrack_allowance_exceeded"] = rng.randint(1500, 90000)
        hot.counters["pps_allowance_exceeded"] = rng.choice([0, 0, rng.randint(10, 900)])
    if spec.scenario == "linklocal_dns":
        hot.counters["linklocal_allowance_exceeded"] = rng.randint(300, 25000)
    if spec.scenario == "red_herring":
        # A benign bandwidth throttle: "allowance_exceeded" > 0, but not the conntrack one.
        primary.counters["bw_in_allowance_exceeded"] = rng.randint(100, 12000)
    if kernel.ena_has_available:
        # Tracked by Nitro per instance; every ENI reports roughly the same remaining headroom.
        scale = max(1.0, itype.vcpus / 2) ** 0.5
        base = rng.randint(0, 250) if spec.allowance else int(rng.randint(45000, 140000) * scale)
        primary.counters["conntrack_allowance_available"] = base
        secondary.counters["conntrack_allowance_available"] = max(0, base + rng.randint(-40, 40)) if spec.allowance \
            else base + rng.randint(-900, 900)


def _count(rng: random.Random, spec: BundleSpec, table_max: int) -> int:
    if spec.kernel_full:
        return table_max - rng.randint(0, 12)
    if spec.scenario == "near_full":
        return int(table_max * rng.uniform(0.86, 0.95))
    if spec.allowance:
        return int(table_max * rng.uniform(0.18, 0.45))
    return int(table_max * rng.uniform(0.04, 0.2))


def _events(rng: random.Random, spec: BundleSpec, incident: datetime, collected: datetime,
            vcpus: int) -> list[TableFullEvent]:
    """Bursts of up to 10 warnings (net_warn_ratelimited), a `callbacks suppressed` line between them."""
    if not spec.kernel_full:
        return []
    total = spec.table_full_lines if spec.table_full_lines is not None else rng.randint(24, 60)
    if total == 0:
        return []
    bursts: list[list[float]] = []
    gaps: list[float] = []
    left = total
    while left:
        size = min(left, rng.randint(3, 10))
        offsets = sorted(rng.uniform(0, 0.9) for _ in range(size))
        bursts.append(offsets)
        gaps.append(rng.uniform(5.0, 40.0))
        left -= size
    window = (collected - incident).total_seconds() - 90.0
    used = sum(gaps[:-1]) + len(bursts)
    scale = min(1.0, window / used) if used else 1.0
    events: list[TableFullEvent] = []
    clock = 0.0
    for index, offsets in enumerate(bursts):
        suppressed = rng.randint(150, 6000) if index else 0
        for position, offset in enumerate(offsets):
            at = incident + timedelta(seconds=clock + offset * scale)
            netns = 4026532000 + rng.randint(180, 990) if spec.netns_message and rng.random() < 0.5 else None
            events.append(TableFullEvent(at, suppressed if position == 0 else 0, netns, rng.randrange(vcpus)))
        clock += (1.0 + gaps[index]) * scale
    return events


def _stats(rng: random.Random, spec: BundleSpec, kernel: KernelProfile, vcpus: int, uptime_s: float,
           events: list[TableFullEvent]) -> list[dict[str, int]]:
    """Per-CPU `conntrack -S` counters; drops equal what the kernel printed plus what it suppressed."""
    drops = sum(1 + e.suppressed for e in events)
    if events:
        drops += rng.randint(0, 400)
    elif spec.kernel_full:
        # The table overflowed but no warning survived (table_full_lines=0): only the counters tell.
        drops = rng.randint(500, 20000)
    early = int(drops * rng.uniform(0.05, 0.4)) + 1 if drops else 0
    weights = [rng.uniform(0.5, 1.5) for _ in range(vcpus)]

    def split(total: int) -> list[int]:
        if not total:
            return [0] * vcpus
        shares = [int(total * w / sum(weights)) for w in weights]
        shares[0] += total - sum(shares)
        return shares

    scale = uptime_s / 86400
    drop_split, early_split = split(drops), split(early)
    rows = []
    for cpu in range(vcpus):
        row = {
            "found": 0,
            "invalid": int(rng.randint(80, 900) * scale),
            "ignore": int(rng.randint(200_000, 900_000) * scale),
            "insert": 0,
            "insert_failed": rng.randint(0, 3) + (rng.randint(5, 60) if spec.kernel_full else 0),
            "drop": drop_split[cpu],
            "early_drop": early_split[cpu],
            "error": 0,
            "search_restart": int(rng.randint(300, 4000) * scale),
            "clash_resolve": rng.randint(0, 40),
            "chaintoolong": 0,
        }
        rows.append({name: row[name] for name in kernel.stats_fields})
    return rows


def build_world(spec: BundleSpec) -> World:
    kernel = KERNEL_PROFILES[spec.kernel]
    itype = instance_type(spec.instance_type)
    sizing = conntrack_sizing(kernel, itype)
    clock = rng_for(spec, "clock")
    incident = spec.incident_time
    collected = incident + timedelta(seconds=clock.randint(540, 900), microseconds=clock.randrange(1_000_000))
    uptime = timedelta(days=clock.uniform(2.5, 8.0))
    boot = incident - uptime
    quiet_start = boot + timedelta(minutes=10)
    recent_start = incident - timedelta(hours=3)

    net = rng_for(spec, "network")
    base, node_ip, prefix = _node_addresses(net, spec)
    az_block = (int(node_ip.split(".")[2]) // 32) * 32
    hostname = f"ip-{node_ip.replace('.', '-')}." + (
        "ec2.internal" if spec.region == "us-east-1" else f"{spec.region}.compute.internal")
    api_host = f"{hexstr(net, 32).upper()}.gr7.{spec.region}.eks.amazonaws.com"
    api_ips = [f"{base[0]}.{base[1]}.{net.randrange(0, 96)}.{net.randrange(4, 250)}" for _ in range(2)]
    service_prefix = "172.20" if base[0] == 10 else "10.100"
    pods = _build_pods(rng_for(spec, "pods"), base, node_ip, az_block)
    interfaces = _interfaces(rng_for(spec, "ena"), spec, kernel, itype, node_ip, base, az_block, pods)

    incident_rng = rng_for(spec, "incident")
    count = _count(incident_rng, spec, sizing.max)
    events = _events(incident_rng, spec, incident, collected, itype.vcpus)
    stats = _stats(incident_rng, spec, kernel, itype.vcpus, uptime.total_seconds(), events)

    symptoms = rng_for(spec, "symptoms")
    dns_times: list[datetime] = []
    if spec.with_dns_failures:
        start = incident - timedelta(minutes=20) if spec.scenario == "linklocal_dns" else incident
        span = (collected - start).total_seconds() - 60
        dns_times = sorted(start + timedelta(seconds=symptoms.uniform(1.0, span))
                           for _ in range(symptoms.randint(25, 80)))
    failure_times: list[datetime] = []
    if spec.kernel_full or spec.allowance:
        span = (collected - incident).total_seconds() - 60
        failure_times = sorted(incident + timedelta(seconds=symptoms.uniform(2.0, span))
                               for _ in range(symptoms.randint(30, 70)))

    return World(
        spec=spec, kernel=kernel, itype=itype, sizing=sizing, boot=boot, incident=incident,
        collected=collected, recent_start=recent_start, quiet_start=quiet_start, vpc_base=base,
        node_ip=node_ip, subnet_prefix=prefix, hostname=hostname, api_host=api_host, api_ips=api_ips,
        service_prefix=service_prefix, pods=pods, interfaces=interfaces, count=count, stats=stats,
        events=events, dns_times=dns_times, failure_times=failure_times,
    )
