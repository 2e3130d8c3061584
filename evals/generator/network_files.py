"""networking/: ethtool -S per interface, iptables state, routes, resolv.conf, connectivity probes.

`ethtool.txt` follows the collector's loop (`Interface <ifc>`, the command's output, `echo -e "\\n"`)
over the sorted interface names, with ENA counters in the driver's order (section 2.4): globals,
the ENI allowance counters (plus `conntrack_allowance_available` on ENA >= 2.8.1), per-queue tx
then rx, admin queue. Service chain names are computed the way kube-proxy computes them.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass, field
from datetime import timedelta

from evals.generator import timefmt
from evals.generator.conntrack_files import _flows
from evals.generator.files import Bundle, lines_text
from evals.generator.profiles import ENA_ADMIN, ENA_ALLOWANCE
from evals.generator.world import Interface, World, rng_for


def _ena_lines(world: World, iface: Interface, rng: random.Random) -> list[str]:
    k = world.kernel
    uptime_days = world.uptime(world.collected).total_seconds() / 86400
    primary = iface.name == k.primary_iface
    values: list[tuple[str, int]] = []
    for name in k.ena_globals:
        values.append((name, 1 if name == "interface_up" else 0))
    for name in ENA_ALLOWANCE:
        values.append((name, iface.counters.get(name, 0)))
    if k.ena_has_available:
        values.append(("conntrack_allowance_available", iface.counters.get("conntrack_allowance_available", 0)))
    scale = uptime_days * (1.0 if primary else 0.4)
    for queue in range(world.itype.ena_queues):
        tx_cnt = int(rng.randint(3_000_000, 9_000_000) * scale)
        rx_cnt = int(rng.randint(3_000_000, 12_000_000) * scale)
        tx = {"cnt": tx_cnt, "bytes": tx_cnt * rng.randint(180, 900), "queue_stop": 0, "queue_wakeup": 0,
              "napi_comp": int(tx_cnt * 0.61), "tx_poll": int(tx_cnt * 0.63), "doorbells": int(tx_cnt * 0.92),
              "llq_buffer_copy": int(tx_cnt * 0.02), "unmask_interrupt": int(tx_cnt * 0.61)}
        rx = {"cnt": rx_cnt, "bytes": rx_cnt * rng.randint(200, 1100), "rx_copybreak_pkt": int(rx_cnt * 0.3),
              "csum_good": int(rx_cnt * 0.97), "csum_unchecked": int(rx_cnt * 0.01)}
        values += [(f"queue_{queue}_tx_{name}", tx.get(name, 0)) for name in k.ena_tx]
        values += [(f"queue_{queue}_rx_{name}", rx.get(name, 0)) for name in k.ena_rx]
    submitted = rng.randint(60, 140)
    admin = {"ena_admin_q_submitted_cmd": submitted, "ena_admin_q_completed_cmd": submitted}
    values += [(name, admin.get(name, 0)) for name in ENA_ADMIN]
    return ["NIC statistics:", *(f"     {name}: {value}" for name, value in values)]


def ethtool_text(world: World) -> str:
    rng = rng_for(world.spec, "ethtool")
    blocks = []
    for iface in sorted(world.interfaces, key=lambda i: i.name.encode()):
        if iface.kind == "ena":
            body = _ena_lines(world, iface, rng)
        elif iface.kind == "veth":
            body = ["NIC statistics:"] + [
                f"     {name}: {iface.peer_ifindex if name == 'peer_ifindex' else 0}"
                for name in world.kernel.veth_stats()]
        else:
            body = ["no stats available"]
        blocks.append(f"Interface {iface.name}\n" + lines_text(body) + "\n\n")
    return "".join(blocks)


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


@dataclass
class Rule:
    chain: str
    target: str
    save: str  # matches in iptables-save syntax, without -A/-j
    target_args: str = ""
    prot: str = "all"
    iface_in: str = "*"
    src: str = "0.0.0.0/0"
    dst: str = "0.0.0.0/0"
    listing: str = ""  # the match/target summary `iptables -L -n -v` prints after the addresses
    pkts: int = 0


@dataclass
class Table:
    name: str
    builtin: list[str]
    chains: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)


def _tables(world: World) -> list[Table]:
    rng = rng_for(world.spec, "iptables")
    k = world.kernel
    vpc = world.vpc_cidr
    flows = _flows(world, rng_for(world.spec, "conntrack-L"))
    dns_vip = world.kube_dns_ip
    services: list[tuple[str, str, str, int, tuple[str, ...], int]] = [
        ("default/kubernetes:https", "tcp", world.kubernetes_svc_ip, 443, tuple(world.api_ips), 443),
        ("kube-system/kube-dns:dns", "udp", dns_vip, 53, flows[1].backends, 53),
        ("kube-system/kube-dns:dns-tcp", "tcp", dns_vip, 53, flows[1].backends, 53),
        ("kube-system/kube-dns:metrics", "tcp", dns_vip, 9153, flows[1].backends, 9153),
        ("shop/orders-api:http", "tcp", flows[2].vip, 80, flows[2].backends, 8080),
        ("shop/payments-api:http", "tcp", flows[3].vip, 80, flows[3].backends, 8080),
        ("shop/orders-db:postgres", "tcp", flows[4].vip, 5432, flows[4].backends, 5432),
    ]
    mangle = Table("mangle", ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
                   ["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"])
    mangle.rules = [
        Rule("PREROUTING", "CONNMARK", f'-i {k.primary_iface} -m comment --comment "AWS, primary ENI" -m addrtype '
             "--dst-type LOCAL --limit-iface-in", "--set-xmark 0x80/0x80", iface_in=k.primary_iface,
             listing='/* AWS, primary ENI */ ADDRTYPE match dst-type LOCAL limit-in CONNMARK or 0x80',
             pkts=rng.randint(10**6, 10**8)),
        Rule("PREROUTING", "CONNMARK", '-i eni+ -m comment --comment "AWS, primary ENI"',
             "--restore-mark --nfmask 0x80 --ctmask 0x80", iface_in="eni+",
             listing="/* AWS, primary ENI */ CONNMARK restore mask 0x80", pkts=rng.randint(10**6, 10**8)),
        Rule("PREROUTING", "CONNMARK", '-i vlan+ -m comment --comment "AWS, primary ENI"',
             "--restore-mark --nfmask 0x80 --ctmask 0x80", iface_in="vlan+",
             listing="/* AWS, primary ENI */ CONNMARK restore mask 0x80"),
    ]
    filt = Table("filter", ["INPUT", "FORWARD", "OUTPUT"],
                 ["KUBE-EXTERNAL-SERVICES", "KUBE-FIREWALL", "KUBE-FORWARD", "KUBE-KUBELET-CANARY", "KUBE-NODEPORTS",
                  "KUBE-PROXY-CANARY", "KUBE-PROXY-FIREWALL", "KUBE-SERVICES"])
    new = "-m conntrack --ctstate NEW"
    filt.rules = [
        Rule("INPUT", "KUBE-PROXY-FIREWALL", f'{new} -m comment --comment "kubernetes load balancer firewall"',
             listing="ctstate NEW /* kubernetes load balancer firewall */", pkts=rng.randint(10**5, 10**7)),
        Rule("INPUT", "KUBE-NODEPORTS", '-m comment --comment "kubernetes health check service ports"',
             listing="/* kubernetes health check service ports */", pkts=rng.randint(10**6, 10**8)),
        Rule("INPUT", "KUBE-EXTERNAL-SERVICES",
             f'{new} -m comment --comment "kubernetes externally-visible service portals"',
             listing="ctstate NEW /* kubernetes externally-visible service portals */", pkts=rng.randint(10**5, 10**7)),
        Rule("INPUT", "KUBE-FIREWALL", "", pkts=rng.randint(10**6, 10**8)),
        Rule("FORWARD", "KUBE-PROXY-FIREWALL", f'{new} -m comment --comment "kubernetes load balancer firewall"',
             listing="ctstate NEW /* kubernetes load balancer firewall */", pkts=rng.randint(10**5, 10**7)),
        Rule("FORWARD", "KUBE-FORWARD", '-m comment --comment "kubernetes forwarding rules"',
             listing="/* kubernetes forwarding rules */", pkts=rng.randint(10**6, 10**8)),
        Rule("FORWARD", "KUBE-SERVICES", f'{new} -m comment --comment "kubernetes service portals"',
             listing="ctstate NEW /* kubernetes service portals */", pkts=rng.randint(10**5, 10**7)),
        Rule("FORWARD", "KUBE-EXTERNAL-SERVICES",
             f'{new} -m comment --comment "kubernetes externally-visible service portals"',
             listing="ctstate NEW /* kubernetes externally-visible service portals */", pkts=rng.randint(10**5, 10**7)),
        Rule("OUTPUT", "KUBE-PROXY-FIREWALL", f'{new} -m comment --comment "kubernetes load balancer firewall"',
             listing="ctstate NEW /* kubernetes load balancer firewall */", pkts=rng.randint(10**5, 10**7)),
        Rule("OUTPUT", "KUBE-SERVICES", f'{new} -m comment --comment "kubernetes service portals"',
             listing="ctstate NEW /* kubernetes service portals */", pkts=rng.randint(10**5, 10**7)),
        Rule("OUTPUT", "KUBE-FIREWALL", "", pkts=rng.randint(10**6, 10**8)),
        Rule("KUBE-FIREWALL", "DROP", '! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet '
             'connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT', src="!127.0.0.0/8", dst="127.0.0.0/8",
             listing="/* block incoming localnet connections */ ! ctstate RELATED,ESTABLISHED,DNAT"),
        Rule("KUBE-FORWARD", "DROP", "-m conntrack --ctstate INVALID", listing="ctstate INVALID",
             pkts=rng.randint(0, 5000)),
        Rule("KUBE-FORWARD", "ACCEPT", '-m comment --comment "kubernetes forwarding rules" -m mark --mark '
             "0x4000/0x4000", listing="/* kubernetes forwarding rules */ mark match 0x4000/0x4000"),
        Rule("KUBE-FORWARD", "ACCEPT", '-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack '
             "--ctstate RELATED,ESTABLISHED", listing="/* kubernetes forwarding conntrack rule */ ctstate "
             "RELATED,ESTABLISHED", pkts=rng.randint(10**5, 10**7)),
    ]
    nat = Table("nat", ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
                ["AWS-CONNMARK-CHAIN-0", "AWS-SNAT-CHAIN-0", "KUBE-KUBELET-CANARY", "KUBE-MARK-MASQ", "KUBE-NODEPORTS",
                 "KUBE-POSTROUTING", "KUBE-PROXY-CANARY", "KUBE-SERVICES"])
    nat.rules = [
        Rule("PREROUTING", "KUBE-SERVICES", '-m comment --comment "kubernetes service portals"',
             listing="/* kubernetes service portals */", pkts=rng.randint(10**5, 10**7)),
        Rule("PREROUTING", "AWS-CONNMARK-CHAIN-0", '-i eni+ -m comment --comment "AWS, outbound connections"',
             iface_in="eni+", listing="/* AWS, outbound connections */", pkts=rng.randint(10**4, 10**6)),
        Rule("PREROUTING", "CONNMARK", '-m comment --comment "AWS, CONNMARK"',
             "--restore-mark --nfmask 0x80 --ctmask 0x80", listing="/* AWS, CONNMARK */ CONNMARK restore mask 0x80",
             pkts=rng.randint(10**5, 10**7)),
        Rule("OUTPUT", "KUBE-SERVICES", '-m comment --comment "kubernetes service portals"',
             listing="/* kubernetes service portals */", pkts=rng.randint(10**5, 10**7)),
        Rule("POSTROUTING", "KUBE-POSTROUTING", '-m comment --comment "kubernetes postrouting rules"',
             listing="/* kubernetes postrouting rules */", pkts=rng.randint(10**5, 10**7)),
        Rule("POSTROUTING", "AWS-SNAT-CHAIN-0", '-m comment --comment "AWS SNAT CHAIN"',
             listing="/* AWS SNAT CHAIN */", pkts=rng.randint(10**5, 10**7)),
        Rule("AWS-CONNMARK-CHAIN-0", "RETURN", f'-d {vpc} -m comment --comment "AWS CONNMARK CHAIN, VPC CIDR"',
             dst=vpc, listing="/* AWS CONNMARK CHAIN, VPC CIDR */", pkts=rng.randint(10**4, 10**6)),
        Rule("AWS-CONNMARK-CHAIN-0", "CONNMARK", '-m comment --comment "AWS, CONNMARK"', "--set-xmark 0x80/0x80",
             listing="/* AWS, CONNMARK */ CONNMARK or 0x80", pkts=rng.randint(10**3, 10**5)),
        Rule("AWS-SNAT-CHAIN-0", "RETURN", f'-d {vpc} -m comment --comment "AWS SNAT CHAIN"', dst=vpc,
             listing="/* AWS SNAT CHAIN */", pkts=rng.randint(10**5, 10**7)),
        Rule("AWS-SNAT-CHAIN-0", "SNAT", '! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL',
             f"--to-source {world.node_ip} --random-fully",
             listing=f"/* AWS, SNAT */ ADDRTYPE match dst-type !LOCAL to:{world.node_ip} random-fully",
             pkts=rng.randint(10**3, 10**5)),
        Rule("KUBE-MARK-MASQ", "MARK", "", "--set-xmark 0x4000/0x4000", listing="MARK or 0x4000"),
        Rule("KUBE-POSTROUTING", "RETURN", "-m mark ! --mark 0x4000/0x4000", listing="mark match ! 0x4000/0x4000",
             pkts=rng.randint(10**5, 10**7)),
        Rule("KUBE-POSTROUTING", "MARK", "", "--set-xmark 0x4000/0x0", listing="MARK xor 0x4000"),
        Rule("KUBE-POSTROUTING", "MASQUERADE", '-m comment --comment "kubernetes service traffic requiring SNAT"',
             "--random-fully", listing="/* kubernetes service traffic requiring SNAT */ random-fully"),
    ]
    svc_rules: list[Rule] = []
    chain_rules: list[Rule] = []
    for port_name, proto, vip, port, backends, target_port in services:
        svc = "KUBE-SVC-" + _hash(port_name + proto)
        nat.chains.append(svc)
        svc_rules.append(Rule("KUBE-SERVICES", svc, f'-d {vip}/32 -p {proto} -m comment --comment "{port_name} cluster '
                              f'IP" -m {proto} --dport {port}', prot=proto, dst=vip,
                              listing=f"/* {port_name} cluster IP */ {proto} dpt:{port}",
                              pkts=rng.randint(10**3, 10**6)))
        for index, backend in enumerate(backends):
            endpoint = f"{backend}:{target_port}"
            sep = "KUBE-SEP-" + _hash(port_name + proto + endpoint)
            nat.chains.append(sep)
            left = len(backends) - index
            stat = f" -m statistic --mode random --probability {1 / left:.11f}" if left > 1 else ""
            chain_rules.append(Rule(svc, sep, f'-m comment --comment "{port_name} -> {endpoint}"{stat}',
                                    listing=f"/* {port_name} -> {endpoint} */"
                                    + (f" statistic mode random probability {1 / left:.11f}" if stat else "")))
            chain_rules.append(Rule(sep, "KUBE-MARK-MASQ", f'-s {backend}/32 -m comment --comment "{port_name}"',
                                    src=backend, listing=f"/* {port_name} */"))
            chain_rules.append(Rule(sep, "DNAT", f'-p {proto} -m comment --comment "{port_name}" -m {proto}',
                                    f"--to-destination {endpoint}", prot=proto,
                                    listing=f"/* {port_name} */ {proto} to:{endpoint}"))
    svc_rules.append(Rule("KUBE-SERVICES", "KUBE-NODEPORTS", '-m comment --comment "kubernetes service nodeports; NOTE: '
                          'this must be the last rule in this chain" -m addrtype --dst-type LOCAL',
                          listing="/* kubernetes service nodeports; NOTE: this must be the last rule in this chain */ "
                          "ADDRTYPE match dst-type LOCAL", pkts=rng.randint(10**3, 10**5)))
    nat.rules += svc_rules + chain_rules
    return [mangle, filt, nat]


def _counter_pair(rng: random.Random) -> tuple[int, int]:
    pkts = rng.randint(10**4, 10**8)
    return pkts, pkts * rng.randint(60, 900)


def iptables_save(world: World) -> str:
    rng = rng_for(world.spec, "iptables-save")
    stamp = timefmt.ctime(world.collected)
    tool = "iptables-save" if world.kernel.is_al2 else "iptables-nft-save"
    version = world.kernel.iptables_version + ("" if world.kernel.is_al2 else " (nf_tables)")
    out = []
    for table in _tables(world):
        out.append(f"# Generated by {tool} {version} on {stamp}")
        out.append(f"*{table.name}")
        for chain in table.builtin:
            pkts, size = _counter_pair(rng)
            out.append(f":{chain} ACCEPT [{pkts}:{size}]")
        for chain in sorted(set(table.chains)):
            out.append(f":{chain} - [0:0]")
        for rule in table.rules:
            match = f" {rule.save}" if rule.save else ""
            args = f" {rule.target_args}" if rule.target_args else ""
            out.append(f"-A {rule.chain}{match} -j {rule.target}{args}")
        out.append("COMMIT")
        out.append(f"# Completed on {stamp}")
    return lines_text(out)


def _human(n: int) -> str:
    """iptables -v number formatting (K/M/G above 99999)."""
    for unit in ("", "K", "M", "G", "T"):
        if n < 100000:
            return f"{n}{unit}"
        n //= 1000
    return f"{n}P"


def iptables_listing(world: World, only: str | None) -> str:
    rng = rng_for(world.spec, f"iptables-L-{only}")
    tables = {t.name: t for t in _tables(world)}
    table = tables[only or "filter"]
    out = []
    rule_lines = 0
    for chain in [*table.builtin, *sorted(set(table.chains))]:
        rules = [r for r in table.rules if r.chain == chain]
        if chain in table.builtin:
            pkts, size = _counter_pair(rng)
            out.append(f"Chain {chain} (policy ACCEPT {_human(pkts)} packets, {_human(size)} bytes)")
        else:
            refs = sum(1 for r in table.rules if r.target == chain)
            out.append(f"Chain {chain} ({refs} references)")
        out.append(" pkts bytes target     prot opt in     out     source               destination         ")
        for rule in rules:
            pkts = rule.pkts
            size = pkts * 120
            src = rule.src if rule.src == "0.0.0.0/0" or "/" in rule.src else f"{rule.src}"
            out.append(f"{_human(pkts):>5} {_human(size):>5} {rule.target:<10} {rule.prot:<4} --  {rule.iface_in:<6} "
                       f"*       {src:<20} {rule.dst:<20} {rule.listing}".rstrip() + " ")
            rule_lines += 1
        out.append("")
    text = lines_text(out[:-1])
    return text + f"=======\nTotal Number of Rules: {rule_lines}\n"


def ip6tables_save(world: World) -> str:
    stamp = timefmt.ctime(world.collected)
    tool = "ip6tables-save" if world.kernel.is_al2 else "ip6tables-nft-save"
    version = world.kernel.iptables_version + ("" if world.kernel.is_al2 else " (nf_tables)")
    out = []
    for name, builtin in (("mangle", ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]),
                          ("filter", ["INPUT", "FORWARD", "OUTPUT"]), ("nat", ["PREROUTING", "INPUT", "OUTPUT",
                                                                              "POSTROUTING"])):
        out += [f"# Generated by {tool} {version} on {stamp}", f"*{name}"]
        out += [f":{chain} ACCEPT [0:0]" for chain in builtin]
        out += [":KUBE-KUBELET-CANARY - [0:0]", ":KUBE-PROXY-CANARY - [0:0]", "COMMIT", f"# Completed on {stamp}"]
    return lines_text(out)


def ip6tables_listing(table: str) -> str:
    builtin = {"mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
               "filter": ["INPUT", "FORWARD", "OUTPUT"], "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]}[table]
    out = []
    for chain in builtin:
        out += [f"Chain {chain} (policy ACCEPT 0 packets, 0 bytes)",
                " pkts bytes target     prot opt in     out     source               destination         ", ""]
    for chain in ("KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"):
        out += [f"Chain {chain} (0 references)",
                " pkts bytes target     prot opt in     out     source               destination         ", ""]
    return lines_text(out[:-1]) + "=======\nTotal Number of Rules: 0\n"


def routes(world: World) -> str:
    k = world.kernel
    primary, secondary = k.primary_iface, k.secondary_iface
    gw, node = world.gateway_ip, world.node_ip
    sec_ip = next(i.ip for i in world.ena if i.name == secondary)
    subnet = world.subnet_cidr
    a, b, c, _ = subnet.split("/")[0].split(".")
    bcast = f"{a}.{b}.{int(c) + 31}.255"
    # The VPC CNI's table 2 routes traffic of pods on the secondary ENI out of that ENI.
    out = [f"default via {gw} dev {secondary} table 2 ", f"{gw} dev {secondary} table 2 scope link "]
    if k.is_al2:
        out += [f"default via {gw} dev {primary} ", f"{subnet} dev {primary} proto kernel scope link src {node} ",
                f"169.254.169.254 dev {primary} "]
    else:
        out += [f"default via {gw} dev {primary} proto dhcp src {node} metric 512 ",
                f"{subnet} dev {primary} proto kernel scope link src {node} metric 512 ",
                f"{gw} dev {primary} proto dhcp scope link src {node} metric 512 ",
                f"{world.resolver_ip} dev {primary} proto dhcp scope link src {node} metric 512 "]
    out += [f"{pod.ip} dev {pod.veth} scope link " for pod in world.pods if not pod.host_network]
    out += [f"local {node} dev {primary} table local proto kernel scope host src {node} ",
            f"broadcast {bcast} dev {primary} table local proto kernel scope link src {node} ",
            f"local {sec_ip} dev {secondary} table local proto kernel scope host src {sec_ip} ",
            f"broadcast {bcast} dev {secondary} table local proto kernel scope link src {sec_ip} ",
            "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 ",
            "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 ",
            "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 "]
    if not k.is_al2:
        out.append("local 169.254.170.23 dev pod-id-link0 table local proto kernel scope host src 169.254.170.23 ")
    return lines_text(out)


def ip6routes(world: World) -> str:
    k = world.kernel
    out = ["::1 dev lo proto kernel metric 256 pref medium"]
    for iface in sorted(world.interfaces, key=lambda i: i.name):
        if iface.kind in ("ena", "veth"):
            out.append(f"fe80::/64 dev {iface.name} proto kernel metric 256 pref medium")
    out.append("local ::1 dev lo table local proto kernel metric 0 pref medium")
    if not k.is_al2:
        out.append("local fd00:ec2::23 dev pod-id-link0 table local proto kernel metric 0 pref medium")
    out.append("multicast ff00::/8 dev " + k.primary_iface + " table local proto kernel metric 256 pref medium")
    return lines_text(out)


def rules(world: World) -> str:
    out = ["0:\tfrom all lookup local"]
    for pod in world.pods:
        if not pod.host_network:
            out.append(f"512:\tfrom all to {pod.ip} lookup main")
    out.append("1024:\tfrom all fwmark 0x80/0x80 lookup main")
    for pod in world.pods:
        if not pod.host_network and pod.eni == "secondary":
            out.append(f"1536:\tfrom {pod.ip} to {world.vpc_cidr} lookup 2")
    out += ["32766:\tfrom all lookup main", "32767:\tfrom all lookup default"]
    return lines_text(out)


def resolv_conf(world: World) -> str:
    domain = "ec2.internal" if world.spec.region == "us-east-1" else f"{world.spec.region}.compute.internal"
    if world.kernel.is_al2:
        return f"options timeout:2 attempts:5\n; generated by /usr/sbin/dhclient-script\nsearch {domain}\n" \
               f"nameserver {world.resolver_ip}\n"
    return ("# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n"
            "# Do not edit.\n#\n# This file might be symlinked as /etc/resolv.conf. If you're looking at\n"
            "# /etc/resolv.conf and seeing this text, you have followed the symlink.\n#\n"
            "# This is a dynamic resolv.conf file for connecting local clients to the\n"
            "# internal DNS stub resolver of systemd-resolved. This file lists all\n# configured search domains.\n#\n"
            "# Run \"resolvectl status\" to see details about the uplink DNS servers\n# currently in use.\n#\n"
            "# Third party programs should typically not access this file directly, but only\n"
            "# through the symlink at /etc/resolv.conf. To manage man:resolv.conf(5) in a\n"
            "# different way, replace this symlink by a static file or a different symlink.\n#\n"
            "# See man:systemd-resolved.service(8) for details about the supported modes of\n"
            "# operation for /etc/resolv.conf.\n\nnameserver 127.0.0.53\noptions edns0 trust-ad\n"
            f"search {domain}\n")


def _ping(host: str, address: str, reverse: str, replies: int, rng: random.Random) -> str:
    out = [f"PING {host} ({address}) 56(84) bytes of data."]
    times = [rng.uniform(0.9, 2.4) for _ in range(replies)]
    for seq, t in enumerate(times, start=1):
        out.append(f"64 bytes from {reverse} ({address}): icmp_seq={seq} ttl={rng.choice([247, 248, 249])} "
                   f"time={t:.2f} ms")
    out += ["", f"--- {host} ping statistics ---",
            f"10 packets transmitted, {replies} received, {100 - replies * 10}% packet loss, time "
            f"{rng.randint(1800, 9100)}ms"]
    if times:
        avg = sum(times) / len(times)
        out.append(f"rtt min/avg/max/mdev = {min(times):.3f}/{avg:.3f}/{max(times):.3f}/{rng.uniform(0.05, 0.3):.3f} ms, "
                   f"ipg/ewma {rng.uniform(190, 210):.3f}/{avg:.3f} ms")
    return lines_text(out)


def _curl(world: World, rng: random.Random) -> str:
    out = []
    failing = world.spec.kernel_full or world.spec.allowance
    for attempt in range(1, 6):
        at = world.collected - timedelta(seconds=40 - attempt * 6)
        out.append(f"curling {world.api_server} ({attempt} of 5) {at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}UTC")
        out += ["", ""]
        ip = rng.choice(world.api_ips)
        out.append(f"*   Trying {ip}:443...")
        if failing and rng.random() < 0.6:
            out += [f"* Connection timed out after {rng.randint(3000, 3004)} milliseconds", "* Closing connection 0",
                    f"curl: (28) Connection timed out after {rng.randint(3000, 3004)} milliseconds"]
            continue
        out += [f"* Connected to {world.api_host} ({ip}) port 443 (#0)", "* ALPN: offers h2,http/1.1",
                "*  CAfile: /etc/kubernetes/pki/ca.crt", "* SSL connection using TLSv1.3 / TLS_AES_128_GCM_SHA256",
                "* using HTTP/2", "> GET /livez?verbose HTTP/2", f"> Host: {world.api_host}",
                "> user-agent: curl/8.5.0", "> accept: */*", ">", "< HTTP/2 200 ", "< content-type: text/plain; "
                "charset=utf-8", "< x-content-type-options: nosniff", "<",
                "[+]ping ok", "[+]log ok", "[+]etcd ok", "[+]poststarthook/start-apiserver-admission-initializer ok",
                "[+]poststarthook/generic-apiserver-start-informers ok", "livez check passed",
                f"* Connection #0 to host {world.api_host} left intact"]
    return lines_text(out)


def ifconfig(world: World) -> str:
    out = []
    for iface in sorted(world.interfaces, key=lambda i: i.name):
        if iface.kind == "lo":
            out += ["lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536", "        inet 127.0.0.1  netmask 255.0.0.0",
                    "        loop  txqueuelen 1000  (Local Loopback)", ""]
        elif iface.kind == "ena":
            out += [f"{iface.name}: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 9001",
                    f"        inet {iface.ip}  netmask 255.255.224.0", f"        ether {iface.mac}  txqueuelen 1000  "
                    "(Ethernet)", ""]
        elif iface.kind == "veth":
            out += [f"{iface.name}: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 9001",
                    f"        ether {iface.mac}  txqueuelen 0  (Ethernet)", ""]
    return lines_text(out)


def build(world: World, bundle: Bundle) -> None:
    rng = rng_for(world.spec, "net-misc")
    bundle.add("networking/ethtool.txt", ethtool_text(world))
    bundle.add("networking/iptables-save.txt", iptables_save(world))
    bundle.add("networking/ip6tables-save.txt", ip6tables_save(world))
    for table in ("mangle", "filter", "nat"):
        bundle.add(f"networking/iptables-{table}.txt", iptables_listing(world, table))
        bundle.add(f"networking/ip6tables-{table}.txt", ip6tables_listing(table))
    bundle.add("networking/iptables.txt", iptables_listing(world, None))
    bundle.add("networking/ip6tables.txt", ip6tables_listing("filter"))
    bundle.add("networking/iproute.txt", routes(world))
    bundle.add("networking/ip6route.txt", ip6routes(world))
    bundle.add("networking/iprule.txt", rules(world))
    bundle.add("networking/ip6rule.txt", "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n")
    bundle.add("networking/resolv.conf", resolv_conf(world))
    lossy = 7 if world.spec.kernel_full else 10
    bundle.add("networking/ping_amazon.com.txt",
               "PING amazon.com (205.251.242.103) 56(84) bytes of data.\n\n--- amazon.com ping statistics ---\n"
               f"10 packets transmitted, 0 received, 100% packet loss, time {rng.randint(1800, 1900)}ms\n\n")
    bundle.add("networking/ping_public.ecr.aws.txt",
               _ping("public.ecr.aws", "99.83.145.10", "99.83.145.10", lossy, rng))
    bundle.add("networking/curl_api_server.txt", _curl(world, rng))
    bundle.add("networking/ipvsadm.txt",
               "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port                 CPS    InPPS   "
               "OutPPS    InBPS   OutBPS\n  -> RemoteAddress:Port\n\nIP Virtual Server version 1.2.1 (size=4096)\n"
               "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
               "  -> RemoteAddress:Port\n")
    bundle.add("networking/ipset.txt", "\n")
    if world.kernel.is_al2:
        bundle.add("networking/ifconfig.txt", ifconfig(world))
