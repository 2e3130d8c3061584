"""Container logs the collector copies: kube-proxy, CoreDNS, aws-node, EBS CSI, Pod Identity.

Each container log exists twice, as on a node: the flat `/var/log/containers/<pod>_<ns>_<ctr>-<id>.log`
symlink target (current file only) and the `/var/log/pods/<ns>_<pod>_<uid>/<ctr>/0.log` directory
with kubelet's rotated files (`0.log.<stamp>` and older `0.log.<stamp>.gz`). Lines are CRI-wrapped
(`<RFC3339Nano> stdout|stderr F <line>`).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from evals.generator import timefmt
from evals.generator.files import Bundle
from evals.generator.world import Container, Pod, World, hexstr, rng_for

Line = tuple[datetime, str, str]  # time, stream, text


def cri(line: Line, nanos: int) -> str:
    at, stream, text = line
    return f"{timefmt.rfc3339nano(at, nanos)} {stream} F {text}\n"


def _klog(level: str, at: datetime, source: str, message: str, pid: int = 1) -> Line:
    return at, "stderr", f"{level}{timefmt.klog(at)} {pid:7d} {source}] {message}"


def _zap(at: datetime, level: str, caller: str, msg: str) -> Line:
    return at, "stdout", f'{{"level":"{level}","ts":"{timefmt.rfc3339milli(at)}","caller":"{caller}","msg":"{msg}"}}'


def kube_proxy_lines(world: World) -> list[Line]:
    rng = rng_for(world.spec, "kube-proxy")
    sizing, k = world.sizing, world.kernel
    start = world.boot + timedelta(seconds=rng.uniform(92, 99))
    flags = {
        "--bind-address": "0.0.0.0", "--cluster-cidr": "", "--config": "/var/lib/kube-proxy-config/config",
        "--conntrack-max-per-core": "32768", "--conntrack-min": "131072",
        "--conntrack-tcp-timeout-close-wait": "1h0m0s", "--conntrack-tcp-timeout-established": "24h0m0s",
        "--hostname-override": world.hostname, "--iptables-min-sync-period": "1s",
        "--iptables-sync-period": "30s", "--masquerade-all": "false", "--metrics-bind-address": "127.0.0.1:10249",
        "--proxy-mode": "", "--v": "2",
    }
    lines: list[Line] = []
    at = start
    for name, value in flags.items():
        at += timedelta(microseconds=rng.randint(5, 60))
        lines.append(_klog("I", at, "flags.go:64", f'FLAG: {name}="{value}"'))
    steps = [
        ("server_linux.go:66", '"Using iptables proxy"'),
        ("server.go:677", f'"Successfully retrieved node IP(s)" IPs=["{world.node_ip}"]'),
        ("conntrack.go:60", f'"Setting nf_conntrack_max" nfConntrackMax={sizing.kube_proxy_max}'),
    ]
    if sizing.max_changed:
        steps.append(("conntrack.go:121", f'"Set sysctl" entry="net/netfilter/nf_conntrack_max" value={sizing.max}'))
    if sizing.hashsize_raised:
        steps.append(("conntrack.go:89", f'"Setting conntrack hashsize" conntrackHashsize={sizing.buckets}'))
    steps += [
        ("conntrack.go:121", '"Set sysctl" entry="net/netfilter/nf_conntrack_tcp_timeout_established" value=86400'),
        ("conntrack.go:121", '"Set sysctl" entry="net/netfilter/nf_conntrack_tcp_timeout_close_wait" value=3600'),
        ("server.go:234", f'"Kube-proxy version" version="{k.k8s_version}"'),
        ("server.go:236", '"Golang settings" GOGC="" GOMAXPROCS="" GOTRACEBACK=""'),
        ("config.go:199", '"Starting service config controller"'),
        ("shared_informer.go:313", "Waiting for caches to sync for service config"),
        ("config.go:105", '"Starting endpoint slice config controller"'),
        ("shared_informer.go:313", "Waiting for caches to sync for endpoint slice config"),
        ("shared_informer.go:320", "Caches are synced for service config"),
        ("shared_informer.go:320", "Caches are synced for endpoint slice config"),
    ]
    for source, message in steps:
        at += timedelta(microseconds=rng.randint(80, 9000))
        lines.append(_klog("I", at, source, message))
    services = rng.randint(12, 20)
    while at < world.collected - timedelta(minutes=2):
        at += timedelta(seconds=rng.uniform(600, 2400))
        if at >= world.collected:
            break
        endpoints = rng.randint(services, services * 3)
        lines.append(_klog("I", at, "proxier.go:805", '"Syncing iptables rules"'))
        lines.append(_klog("I", at + timedelta(milliseconds=rng.randint(8, 30)), "proxier.go:1494",
                           f'"Reloading service iptables data" numServices={services} numEndpoints={endpoints} '
                           f'numFilterChains=5 numFilterRules=6 numNATChains={services * 2 + 8} '
                           f'numNATRules={endpoints * 3 + services}'))
        lines.append(_klog("I", at + timedelta(milliseconds=rng.randint(31, 90)), "proxier.go:799",
                           f'"SyncProxyRules complete" elapsed="{rng.uniform(20, 90):.6f}ms"'))
    for at in world.failure_times[::4]:
        ip = rng.choice(world.api_ips)
        kind = rng.choice(["*v1.Service", "*v1.EndpointSlice", "*v1.Node"])
        path = {"*v1.Service": "api/v1/services", "*v1.EndpointSlice": "apis/discovery.k8s.io/v1/endpointslices",
                "*v1.Node": "api/v1/nodes"}[kind]
        lines.append(_klog("W", at, "reflector.go:561",
                           f'k8s.io/client-go/informers/factory.go:160: failed to list {kind}: Get '
                           f'"{world.api_server}/{path}?resourceVersion={rng.randint(10**7, 10**8)}": '
                           f'dial tcp {ip}:443: i/o timeout'))
    lines.sort(key=lambda line: line[0])
    return lines


def coredns_lines(world: World) -> list[Line]:
    rng = rng_for(world.spec, "coredns")
    pod = world.pod("coredns")
    start = world.boot + timedelta(seconds=rng.uniform(120, 140))
    version = world.kernel.coredns_version
    lines: list[Line] = [
        (start, "stdout", ".:53"),
        (start + timedelta(microseconds=310), "stdout",
         f"[INFO] plugin/reload: Running configuration SHA512 = {hexstr(rng, 128)}"),
        (start + timedelta(microseconds=402), "stdout", f"CoreDNS-{version}"),
        (start + timedelta(microseconds=451), "stdout", f"linux/amd64, go1.2{rng.randint(2, 4)}.{rng.randint(1, 9)}, "
                                                         f"{hexstr(rng, 7)}"),
    ]
    names = ["sqs.us-east-1.amazonaws.com.", "api.stripe.com.", "orders-db.cluster-c9xk2lq.us-east-1.rds.amazonaws.com.",
             "dynamodb.us-east-1.amazonaws.com.", "registry-1.docker.io.", "sts.amazonaws.com.", "hooks.slack.com."]
    names = [n.replace("us-east-1", world.spec.region) for n in names]
    for at in dns_split(world)[0]:
        name = rng.choice(names)
        qtype = rng.choice(["A", "A", "AAAA"])
        lines.append((at, "stdout", f"[ERROR] plugin/errors: 2 {name} {qtype}: read udp "
                                    f"{pod.ip}:{rng.randint(32768, 60999)}->{world.resolver_ip}:53: i/o timeout"))
    return lines


def dns_split(world: World) -> tuple[list[datetime], list[datetime]]:
    """Which DNS failures CoreDNS logs (upstream timeouts) and which only the application sees."""
    rng = rng_for(world.spec, "dns-split")
    coredns: list[datetime] = []
    app: list[datetime] = []
    for at in world.dns_times:
        (app if rng.random() < 0.3 else coredns).append(at)
    return coredns, app


def ebs_controller_lines(world: World) -> list[Line]:
    rng = rng_for(world.spec, "ebs-controller")
    pod = world.pod("ebs-csi-controller")
    start = world.boot + timedelta(seconds=rng.uniform(125, 150))
    lines = [
        _klog("I", start, "driver.go:83", '"Driver Information" Driver="ebs.csi.aws.com" Version="v1.45.0"'),
        _klog("I", start + timedelta(milliseconds=2), "metadata.go:85", '"retrieving instance data from ec2 metadata"'),
        _klog("I", start + timedelta(milliseconds=9), "metadata.go:92", '"ec2 metadata is available"'),
        _klog("I", start + timedelta(milliseconds=40), "driver.go:151", '"Listening for connections" address="/var/lib/csi/sockets/pluginproxy/csi.sock"'),
    ]
    region = world.spec.region
    ec2_ips = [f"52.46.{rng.randint(128, 159)}.{rng.randint(2, 250)}", f"67.220.{rng.randint(224, 255)}.{rng.randint(2, 250)}"]
    volume = f"vol-0{hexstr(rng, 16)}"
    prefix = (f'"GRPC error" err="rpc error: code = Internal desc = Could not attach volume \\"{volume}\\" to node '
              f'\\"{world.spec.instance_id}\\": operation error EC2: AttachVolume, exceeded maximum number of attempts, '
              f'3, https response error StatusCode: 0, RequestID: , request send failed, Post '
              f'\\"https://ec2.{region}.amazonaws.com/\\": ')
    for at in world.failure_times[1::3]:
        lines.append(_klog("E", at, "driver.go:108", prefix + f'dial tcp {rng.choice(ec2_ips)}:443: i/o timeout"'))
    for at in dns_split(world)[1]:
        if world.spec.scenario == "linklocal_dns":
            error = f"lookup ec2.{region}.amazonaws.com on {world.kube_dns_ip}:53: server misbehaving"
        else:
            error = (f"lookup ec2.{region}.amazonaws.com on {world.kube_dns_ip}:53: read udp "
                     f"{pod.ip}:{rng.randint(32768, 60999)}->{world.kube_dns_ip}:53: i/o timeout")
        lines.append(_klog("E", at, "driver.go:108", prefix + f'dial tcp: {error}"'))
    lines.sort(key=lambda line: line[0])
    return lines


def _simple_lines(world: World, pod: Pod, container: Container, rng: random.Random) -> list[Line]:
    start = world.boot + timedelta(seconds=rng.uniform(95, 140))
    name = container.name
    if name == "aws-node":
        msgs = ["Validating env variables ...", "Install CNI binaries..", "Starting IPAM daemon in the background ... ",
                "Checking for IPAM connectivity ... ", "Retrying waiting for IPAM-D", "Copying config file ... ",
                "Successfully copied CNI plugin binary and config file."]
        return [_zap(start + timedelta(milliseconds=i * rng.randint(40, 900)), "info", "entrypoint.sh", m)
                for i, m in enumerate(msgs)]
    if name == "aws-vpc-cni-init":
        texts = ["Copying CNI plugin binaries ... ", "Configure rp_filter loose... ",
                 f"net.ipv4.conf.{world.kernel.primary_iface}.rp_filter = 2", "CNI init container done"]
        return [(start - timedelta(seconds=20) + timedelta(milliseconds=i * 30), "stdout", t) for i, t in enumerate(texts)]
    if name == "aws-eks-nodeagent":
        return [(start, "stdout", f'{{"level":"info","ts":"{timefmt.rfc3339milli(start)}","logger":"setup",'
                                  '"msg":"Starting controllers"}'),
                (start + timedelta(milliseconds=12), "stdout",
                 f'{{"level":"info","ts":"{timefmt.rfc3339milli(start)}","logger":"setup","msg":"starting manager"}}')]
    if name == "eks-pod-identity-agent":
        return [(start, "stderr", f'{{"level":"info","msg":"Starting EKS Pod Identity Agent",'
                                  f'"time":"{timefmt.rfc3339milli(start)}"}}'),
                (start + timedelta(milliseconds=5), "stderr",
                 f'{{"bind-addr":"169.254.170.23:80","level":"info","msg":"Starting server...",'
                 f'"time":"{timefmt.rfc3339milli(start)}"}}')]
    if name == "node-driver-registrar":
        return [_klog("I", start, "main.go:135", "Version: v2.13.0-eksbuild.3"),
                _klog("I", start + timedelta(milliseconds=3), "main.go:136", "Running node-driver-registrar in mode="),
                _klog("I", start + timedelta(seconds=1), "node_register.go:53",
                      '"Starting Registration Server" socketPath="/registration/ebs.csi.aws.com-reg.sock"'),
                _klog("I", start + timedelta(seconds=2), "main.go:90",
                      '"Received NotifyRegistrationStatus call" status="&RegistrationStatus{PluginRegistered:true,Error:,}"')]
    if name == "liveness-probe":
        return [_klog("I", start, "main.go:133", '"Calling CSI driver to discover driver name"'),
                _klog("I", start + timedelta(milliseconds=4), "main.go:141", '"CSI driver name" driver="ebs.csi.aws.com"'),
                _klog("I", start + timedelta(milliseconds=5), "main.go:170",
                      '"ServeMux listening" address="0.0.0.0:9808"')]
    if name in ("csi-attacher", "csi-provisioner"):
        version = "v4.8.1-eksbuild.3" if name == "csi-attacher" else "v5.2.0-eksbuild.2"
        lease = "external-attacher-leader-ebs-csi-aws-com" if name == "csi-attacher" else "ebs-csi-aws-com"
        return [_klog("I", start, "main.go:121", f"Version: {version}"),
                _klog("I", start + timedelta(milliseconds=40), "common.go:143", '"Probing CSI driver for readiness"'),
                _klog("I", start + timedelta(milliseconds=52), "leaderelection.go:257",
                      f"attempting to acquire leader lease kube-system/{lease}...")]
    # ebs-csi-node's ebs-plugin
    return [_klog("I", start, "driver.go:83", '"Driver Information" Driver="ebs.csi.aws.com" Version="v1.45.0"'),
            _klog("I", start + timedelta(milliseconds=7), "node.go:97", f'"regionFromSession Node service" '
                                                                       f'region="{world.spec.region}"')]


def _write_container(world: World, bundle: Bundle, pod: Pod, container: Container, lines: list[Line],
                     rng: random.Random) -> None:
    nanos = [rng.randrange(1000) for _ in lines]
    rendered = [cri(line, n) for line, n in zip(lines, nanos, strict=True)]
    flat = f"var_log/{pod.name}_{pod.namespace}_{container.name}-{container.container_id}.log"
    folder = f"var_log/{pod.namespace}_{pod.name}_{pod.uid}/{container.name}"
    current = rendered
    if world.spec.rotated and len(rendered) >= 6:
        # kubelet rotated twice: the oldest file compressed, the newer one kept plain.
        first, second = len(rendered) // 3, 2 * len(rendered) // 3
        t1 = lines[first][0] + timedelta(seconds=1)
        t2 = lines[second][0] + timedelta(seconds=1)
        bundle.add(f"{folder}/0.log.{timefmt.rotate_stamp(t1)}.gz", "".join(rendered[:first]), gzip=True, mtime=t1)
        bundle.add(f"{folder}/0.log.{timefmt.rotate_stamp(t2)}", "".join(rendered[first:second]), mtime=t2)
        current = rendered[second:]
    text = "".join(current)
    bundle.add(f"{folder}/0.log", text)
    bundle.add(flat, text)


def build(world: World, bundle: Bundle) -> None:
    rng = rng_for(world.spec, "container-files")
    special = {
        ("kube-proxy", "kube-proxy"): kube_proxy_lines,
        ("coredns", "coredns"): coredns_lines,
        ("ebs-csi-controller", "ebs-plugin"): ebs_controller_lines,
    }
    for pod in world.pods:
        if pod.app not in ("aws-node", "kube-proxy", "coredns", "ebs-csi-node", "ebs-csi-controller", "pod-identity"):
            continue  # the collector only copies kube-system add-on logs
        for container in pod.containers:
            builder = special.get((pod.app, container.name))
            lines = builder(world) if builder else _simple_lines(world, pod, container, rng)
            _write_container(world, bundle, pod, container, lines, rng)
