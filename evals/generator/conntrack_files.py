"""networking/conntrack.txt, conntrack6.txt and modinfo/ip_vs (sections 1.3, 2.2).

`conntrack -S` prints one line per possible CPU, `cpu=%-4u\\t` then `name=value ` for the
attributes the kernel sends and the installed conntrack-tools can name. `conntrack -L` prints the
table; for a full table the listing is a bounded random sample (`BundleSpec.listing_limit`, 5000
by default) unless `full_table_listing` is set, since the sysctl count is the authoritative size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from evals.generator.files import Bundle
from evals.generator.world import World, rng_for

STATS_HEADER = "*** Output of conntrack -S *** "
LIST_HEADER = "*** Output of conntrack -L ***"
LIST6_HEADER = "*** Output of conntrack -L -f ipv6 ***"


def stats_lines(world: World) -> list[str]:
    return [f"cpu={cpu:<4d}\t" + "".join(f"{name}={value} " for name, value in row.items())
            for cpu, row in enumerate(world.stats)]


@dataclass(frozen=True)
class Flow:
    """A service the pods talk to: the address they dial and where DNAT sends it."""

    vip: str
    port: int
    backends: tuple[str, ...]
    backend_port: int
    proto: str = "tcp"


def _flows(world: World, rng: random.Random) -> list[Flow]:
    sp = world.service_prefix
    coredns = world.pod("coredns").ip
    other_dns = f"{world.vpc_base[0]}.{world.vpc_base[1]}.{rng.randint(64, 95)}.{rng.randint(4, 250)}"
    apps = [p.ip for p in world.pods if p.namespace == "shop"]
    return [
        Flow(world.kubernetes_svc_ip, 443, tuple(world.api_ips), 443),
        Flow(world.kube_dns_ip, 53, (coredns, other_dns), 53, "udp"),
        Flow(f"{sp}.{rng.randint(1, 250)}.{rng.randint(2, 250)}", 80, tuple(apps[:2]), 8080),
        Flow(f"{sp}.{rng.randint(1, 250)}.{rng.randint(2, 250)}", 80, tuple(apps[2:4]), 8080),
        Flow(f"{sp}.{rng.randint(1, 250)}.{rng.randint(2, 250)}", 5432, (f"{world.vpc_base[0]}.{world.vpc_base[1]}.99.5",),
             5432),
    ]


def _states(world: World) -> list[tuple[str, float]]:
    if world.spec.kernel_full:
        # A connection storm: short-lived flows pile up in TIME_WAIT, new SYNs wait unanswered.
        return [("TIME_WAIT", 0.58), ("ESTABLISHED", 0.14), ("UDP", 0.12), ("SYN_SENT", 0.1), ("CLOSE_WAIT", 0.03),
                ("FIN_WAIT", 0.02), ("ICMP", 0.01)]
    return [("ESTABLISHED", 0.55), ("TIME_WAIT", 0.25), ("UDP", 0.15), ("CLOSE_WAIT", 0.02), ("FIN_WAIT", 0.02),
            ("ICMP", 0.01)]


def listing_lines(world: World, entries: int) -> list[str]:
    rng = rng_for(world.spec, "conntrack-L")
    flows = _flows(world, rng)
    dns = next(f for f in flows if f.proto == "udp")
    tcp_flows = [f for f in flows if f.proto == "tcp"]
    clients = [p.ip for p in world.pods if not p.host_network] + [world.node_ip]
    names, weights = zip(*_states(world), strict=True)
    picks = rng.choices(names, weights=weights, k=entries)
    external = [f"52.{rng.randint(0, 95)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(40)]
    resolver = world.resolver_ip
    out = []
    randint, choice, rand = rng.randint, rng.choice, rng.random
    for state in picks:
        src = choice(clients)
        sport = randint(32768, 60999)
        if state == "UDP":
            if rand() < 0.3:
                # CoreDNS forwarding to the VPC resolver (no DNAT).
                core = dns.backends[0]
                unreplied = world.spec.kernel_full and rand() < 0.5
                tag = " [UNREPLIED]" if unreplied else ""
                out.append(f"udp      17 {randint(1, 30)} src={core} dst={resolver} sport={sport} dport=53{tag} "
                           f"src={resolver} dst={core} sport=53 dport={sport} mark=0 use=1")
            else:
                backend = choice(dns.backends)
                out.append(f"udp      17 {randint(1, 30)} src={src} dst={dns.vip} sport={sport} dport=53 "
                           f"src={backend} dst={src} sport=53 dport={sport} mark=0 use=1")
            continue
        if state == "ICMP":
            ident = randint(1, 65535)
            out.append(f"icmp     1 {randint(1, 30)} src={world.node_ip} dst={resolver} type=8 code=0 id={ident} "
                       f"src={resolver} dst={world.node_ip} type=0 code=0 id={ident} mark=0 use=1")
            continue
        if rand() < 0.25:
            # Egress to the internet is SNATed to the node address and connmarked by the VPC CNI.
            dst, dport = choice(external), 443
            reply_src, reply_dst, mark = dst, world.node_ip, 128 if src != world.node_ip else 0
            reply_dport = randint(1024, 65535) if src != world.node_ip else sport
        else:
            flow = choice(tcp_flows)
            dst, dport = flow.vip, flow.port
            reply_src, reply_dst, mark, reply_dport = choice(flow.backends), src, 0, sport
        reply_sport = dport if reply_src == dst else next(f.backend_port for f in flows if f.vip == dst)
        if state == "SYN_SENT":
            out.append(f"tcp      6 {randint(1, 120)} SYN_SENT src={src} dst={dst} sport={sport} dport={dport} "
                       f"[UNREPLIED] src={reply_src} dst={reply_dst} sport={reply_sport} dport={reply_dport} "
                       f"mark={mark} use=1")
            continue
        timeout = {"ESTABLISHED": randint(300, 86400), "TIME_WAIT": randint(1, 120), "CLOSE_WAIT": randint(1, 3600),
                   "FIN_WAIT": randint(1, 120)}[state]
        out.append(f"tcp      6 {timeout} {state} src={src} dst={dst} sport={sport} dport={dport} "
                   f"src={reply_src} dst={reply_dst} sport={reply_sport} dport={reply_dport} [ASSURED] "
                   f"mark={mark} use=1")
    return out


def listing_size(world: World) -> int:
    spec = world.spec
    if spec.full_table_listing:
        return world.count
    return min(world.count, spec.listing_limit)


def lsmod_lines(world: World) -> list[str]:
    """`lsmod | grep -e ip_vs -e nf_conntrack`: every line that mentions either word, users included."""
    if world.kernel.key == "al2-4.14":
        return ["nf_conntrack_netlink    45056  0",
                "nfnetlink              16384  3 nf_conntrack_netlink",
                "nf_conntrack_ipv4      16384  24",
                "nf_defrag_ipv4         16384  1 nf_conntrack_ipv4",
                "nf_nat_ipv4            16384  1 iptable_nat",
                "xt_conntrack           16384  14",
                "nf_conntrack          135168  8 xt_conntrack,nf_nat_masquerade_ipv4,nf_conntrack_ipv4,nf_nat,"
                "nf_nat_ipv4,xt_nat,nf_conntrack_netlink,xt_CT",
                "libcrc32c              16384  3 nf_conntrack,nf_nat,xfs"]
    size = 184320 if world.kernel.key == "al2023-6.12" else 176128
    users = "xt_conntrack,nf_nat,xt_nat,nf_conntrack_netlink,xt_CT,xt_MASQUERADE"
    return ["nf_conntrack_netlink    57344  0",
            "nfnetlink              20480  3 nf_conntrack_netlink,nf_tables",
            f"nf_conntrack          {size}  6 {users}",
            "nf_defrag_ipv6         24576  1 nf_conntrack",
            "nf_defrag_ipv4         16384  1 nf_conntrack",
            "libcrc32c              16384  4 nf_conntrack,nf_nat,nf_tables,xfs"]


def build(world: World, bundle: Bundle) -> None:
    body = [STATS_HEADER, *stats_lines(world), LIST_HEADER, *listing_lines(world, listing_size(world))]
    bundle.add("networking/conntrack.txt", "\n".join(body) + "\n")
    bundle.add("networking/conntrack6.txt", LIST6_HEADER + "\n")
    bundle.add("modinfo/ip_vs", "\n".join(lsmod_lines(world)) + "\n")
    bundle.add("modinfo/lustre", b"")
