"""Journal-backed host logs: kubelet, containerd, nodeadm, sandbox-image, and AL2's var_log/messages.

Host services log to the journal; the collector exports single units with journalctl
(`kubelet/kubelet.log`, `containerd/containerd-log.txt`, ...) and, on AL2, rsyslog copies the
same lines, kernel lines included, into /var/log/messages. Symptoms of dropped connections show up
here as probe failures and API-server timeouts (`dial tcp …: i/o timeout`) after the incident.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from evals.generator import timefmt
from evals.generator.files import Bundle, Part
from evals.generator.filler import FillerPart
from evals.generator.records import KernelRecord, Record, journal_line, rsyslog_kernel_line
from evals.generator.world import World, hexstr, rng_for

NO_ENTRIES = "-- No entries --\n"


def _klog(level: str, at: datetime, pid: int, source: str, message: str) -> str:
    return f"{level}{timefmt.klog(at)} {pid:7d} {source}] {message}"


class HostPids:
    def __init__(self, rng: random.Random) -> None:
        self.kubelet = rng.randint(2900, 3600)
        self.containerd = rng.randint(2700, 2899)
        self.rsyslog = rng.randint(1700, 1800)


def kubelet_records(world: World, pids: HostPids) -> list[Record]:
    spec, k = world.spec, world.kernel
    rng = rng_for(spec, "kubelet")
    pid = pids.kubelet
    start = world.boot + timedelta(seconds=rng.uniform(31, 38))
    out: list[Record] = []

    def add(at: datetime, text: str, ident: str = "kubelet", who: int | None = None) -> None:
        out.append(Record(at, ident, pid if who is None and ident == "kubelet" else who, text))

    unit = "Kubernetes Kubelet"
    add(start - timedelta(milliseconds=40), f"Starting {unit}...", "systemd", 1)
    add(start, f"Started {unit}.", "systemd", 1)
    version = k.k8s_version
    boot_lines = [
        ("I", "server.go:484", f'"Kubelet version" kubeletVersion="{version}"'),
        ("I", "server.go:486", '"Golang settings" GOGC="" GOMAXPROCS="" GOTRACEBACK=""'),
        ("I", "dynamic_cafile_content.go:157", '"Starting controller" name="client-ca-bundle::/etc/kubernetes/pki/ca.crt"'),
        ("I", "server.go:745", '"--cgroups-per-qos enabled, but --cgroup-root was not specified.  defaulting to /"'),
        ("I", "container_manager_linux.go:265", '"Container manager verified user specified cgroup-root exists" cgroupRoot=[]'),
        ("I", "kubelet.go:396", '"Attempting to sync node with API server"'),
        ("I", "kuberuntime_manager.go:262", f'"Container runtime initialized" containerRuntime="containerd" '
                                            f'version="{k.containerd_version}" apiVersion="v1"'),
        ("I", "kubelet_node_status.go:73", f'"Attempting to register node" node="{world.hostname}"'),
        ("I", "kubelet_node_status.go:76", f'"Successfully registered node" node="{world.hostname}"'),
        ("I", "kubelet.go:2435", '"SyncLoop ADD" source="api" pods=[' +
         ",".join(f'"{p.namespace}/{p.name}"' for p in world.pods) + "]"),
    ]
    at = start + timedelta(milliseconds=300)
    for level, source, message in boot_lines:
        at += timedelta(microseconds=rng.randint(5_000, 400_000))
        add(at, _klog(level, at, pid, source, message))
    for pod in world.pods:
        at += timedelta(microseconds=rng.randint(500_000, 6_000_000))
        add(at, _klog("I", at, pid, "pod_startup_latency_tracker.go:104",
                      f'"Observed pod startup duration" pod="{pod.namespace}/{pod.name}" '
                      f'podStartSLOduration={rng.uniform(2, 30):.9f} podStartE2EDuration="{rng.uniform(2, 40):.9f}s"'))

    # The recent, detailed window: routine lines, then the incident's symptoms.
    at = world.recent_start
    while at < world.collected - timedelta(seconds=30):
        at += timedelta(seconds=rng.uniform(60, 400))
        pod = rng.choice(world.pods)
        routine = rng.choice([
            _klog("I", at, pid, "container_gc.go:88", '"Attempting to delete unused containers"'),
            _klog("I", at, pid, "image_gc_manager.go:391", '"Attempting to delete unused images"'),
            _klog("I", at, pid, "kubelet.go:2469", f'"SyncLoop UPDATE" source="api" pods=["{pod.namespace}/{pod.name}"]'),
        ])
        add(at, routine)
    app_pods = [p for p in world.pods if p.namespace == "shop"]
    for at in world.failure_times:
        kind = rng.random()
        if kind < 0.55:
            pod = rng.choice(app_pods)
            probe = rng.choice(["Readiness", "Liveness"])
            path = "/ready" if probe == "Readiness" else "/healthz"
            add(at, _klog("I", at, pid, "prober.go:107",
                          f'"Probe failed" probeType="{probe}" pod="{pod.namespace}/{pod.name}" podUID="{pod.uid}" '
                          f'containerName="{pod.containers[0].name}" probeResult="failure" '
                          f'output="Get \\"http://{pod.ip}:8080{path}\\": dial tcp {pod.ip}:8080: i/o timeout '
                          f'(Client.Timeout exceeded while awaiting headers)"'))
        elif kind < 0.8:
            ip = rng.choice(world.api_ips)
            add(at, _klog("E", at, pid, "kubelet_node_status.go:549",
                          f'"Error updating node status, will retry" err="error getting node \\"{world.hostname}\\": '
                          f'Get \\"{world.api_server}/api/v1/nodes/{world.hostname}?resourceVersion=0&timeout=10s\\": '
                          f'dial tcp {ip}:443: i/o timeout"'))
        else:
            ip = rng.choice(world.api_ips)
            add(at, _klog("E", at, pid, "controller.go:195",
                          f'"Failed to update lease" err="Put \\"{world.api_server}/apis/coordination.k8s.io/v1/'
                          f'namespaces/kube-node-lease/leases/{world.hostname}?timeout=10s\\": dial tcp {ip}:443: '
                          f'i/o timeout"'))
    if spec.with_red_herrings:
        pod = next(p for p in world.pods if p.app == "cart-worker")
        for _ in range(rng.randint(2, 4)):
            at = world.recent_start + timedelta(seconds=rng.uniform(600, 9000))
            # An exec probe whose script prints the app's own message: words, not kernel evidence.
            add(at, _klog("I", at, pid, "prober.go:107",
                          f'"Probe failed" probeType="Readiness" pod="{pod.namespace}/{pod.name}" podUID="{pod.uid}" '
                          f'containerName="{pod.containers[0].name}" probeResult="failure" '
                          f'output="routing table full, retrying\\n"'))
    out.sort(key=lambda r: r.at)
    return out


def containerd_records(world: World, pids: HostPids) -> list[Record]:
    k = world.kernel
    rng = rng_for(world.spec, "containerd")
    pid = pids.containerd
    start = world.boot + timedelta(seconds=rng.uniform(20, 28))
    out = [Record(start - timedelta(milliseconds=15), "systemd", 1, "Starting containerd container runtime..."),
           Record(start, "containerd", pid,
                  f'time="{timefmt.iso_micro(start)}" level=info msg="starting containerd" '
                  f'revision={hexstr(rng, 40)} version={k.containerd_version}')]
    at = start
    for plugin in ("io.containerd.content.v1.content", "io.containerd.snapshotter.v1.overlayfs",
                   "io.containerd.metadata.v1.bolt", "io.containerd.grpc.v1.cri"):
        at += timedelta(milliseconds=rng.randint(1, 9))
        out.append(Record(at, "containerd", pid, f'time="{timefmt.iso_micro(at)}" level=info msg="loading plugin '
                                                  f'\\"{plugin}\\"..." type={plugin.rsplit(".", 1)[0]}'))
    at += timedelta(milliseconds=rng.randint(30, 90))
    out.append(Record(at, "containerd", pid, f'time="{timefmt.iso_micro(at)}" level=info msg=serving... '
                                              'address=/run/containerd/containerd.sock'))
    out.append(Record(at, "containerd", pid, f'time="{timefmt.iso_micro(at)}" level=info msg="containerd '
                                              f'successfully booted in 0.0{rng.randint(31, 89)}s"'))
    out.append(Record(at, "systemd", 1, "Started containerd container runtime."))
    at = world.boot + timedelta(seconds=100)
    for pod in world.pods:
        at += timedelta(seconds=rng.uniform(0.3, 3))
        out.append(Record(at, "containerd", pid,
                          f'time="{timefmt.iso_micro(at)}" level=info msg="RunPodSandbox for '
                          f'&PodSandboxMetadata{{Name:{pod.name},Uid:{pod.uid},Namespace:{pod.namespace},Attempt:0,}} '
                          f'returns sandbox id \\"{hexstr(rng, 64)}\\""'))
        for container in pod.containers:
            at += timedelta(milliseconds=rng.randint(100, 900))
            out.append(Record(at, "containerd", pid, f'time="{timefmt.iso_micro(at)}" level=info '
                                                      f'msg="StartContainer for \\"{container.container_id}\\" '
                                                      'returns successfully"'))
    at = world.recent_start
    while at < world.collected - timedelta(seconds=60):
        at += timedelta(seconds=rng.uniform(300, 1500))
        out.append(Record(at, "containerd", pid, f'time="{timefmt.iso_micro(at)}" level=info msg="ImageCreate event '
                                                  f'name:\\"sha256:{hexstr(rng, 64)}\\" labels:{{key:\\"io.cri-containerd.'
                                                  'image\\" value:\\"managed\\"}}"'))
    out.sort(key=lambda r: r.at)
    return out


def system_records(world: World) -> list[Record]:
    """Other host daemons that only reach var_log/messages."""
    rng = rng_for(world.spec, "syslog-misc")
    out = []
    at = world.boot + timedelta(seconds=5)
    for text, ident, pid in (("Started Journal Service.", "systemd", 1),
                             (f"Listening on {world.kernel.primary_iface}", "dhclient", rng.randint(2000, 2100)),
                             ("chronyd version 4.2 starting (+CMDMON +NTP +REFCLOCK +RTC +PRIVDROP +SCFILTER "
                              "+SIGND +ASYNCDNS +SECHASH +IPV6 +DEBUG)", "chronyd", rng.randint(1500, 1600)),
                             ("Started Amazon SSM Agent.", "systemd", 1),
                             ("Reached target Multi-User System.", "systemd", 1)):
        at += timedelta(seconds=rng.uniform(0.5, 4))
        out.append(Record(at, ident, pid, text))
    at = world.recent_start
    while at < world.collected - timedelta(minutes=2):
        at += timedelta(seconds=rng.uniform(300, 1800))
        out.append(Record(at, "systemd", 1, f"Started Session {rng.randint(100, 9000)} of user root."))
    if world.spec.with_red_herrings:
        pid = rng.randint(2200, 2300)
        at = world.recent_start + timedelta(seconds=rng.uniform(300, 5000))
        out.append(Record(at, "node-doctor", pid,
                          "check conntrack: running 'dmesg | grep -c \"nf_conntrack: table full\"' -> 0 matches"))
        out.append(Record(at + timedelta(seconds=1), "order-router", rng.randint(5000, 6000),
                          "WARN routing table full, retrying in 5s (routes=4096)"))
    return out


def _split(records: list[Record], boundary: datetime) -> tuple[list[Record], list[Record]]:
    return [r for r in records if r.at < boundary], [r for r in records if r.at >= boundary]


def _journal_header(world: World, first: datetime) -> str:
    if not world.kernel.is_al2:
        return ""
    return (f"-- Logs begin at {timefmt.journal_day(first)}, end at "
            f"{timefmt.journal_day(world.collected - timedelta(seconds=3))}. --\n")


def _journal_parts(world: World, records: list[Record], filler: FillerPart | None) -> list[Part]:
    head, tail = _split(records, world.quiet_start)
    first = records[0].at if records else world.boot
    parts: list[Part] = [(_journal_header(world, first) + "".join(
        journal_line(r, world.hostname) + "\n" for r in head)).encode()]
    if filler is not None and filler.size:
        parts.append(filler)
    parts.append("".join(journal_line(r, world.hostname) + "\n" for r in tail).encode())
    return parts


def build(world: World, bundle: Bundle, kernel: list[KernelRecord], fillers: dict[str, int]) -> None:
    spec, k = world.spec, world.kernel
    pids = HostPids(rng_for(spec, "pids"))
    kubelet = kubelet_records(world, pids)
    containerd = containerd_records(world, pids)

    def filler(style: str, key: str, pid: int = 0) -> FillerPart | None:
        size = fillers.get(key, 0)
        if not size:
            return None
        return FillerPart(style, size, world, world.quiet_start, world.recent_start, f"{spec.seed}:filler:{key}", pid)

    bundle.add_parts("kubelet/kubelet.log", _journal_parts(world, kubelet, filler("kubelet", "kubelet", pids.kubelet)))
    bundle.add_parts("containerd/containerd-log.txt",
                     _journal_parts(world, containerd, filler("containerd", "containerd", pids.containerd)))
    bundle.add("docker/docker.log", NO_ENTRIES)
    bundle.add("networking/configure-multicard-interfaces.txt", NO_ENTRIES)
    if k.is_al2:
        bundle.add("sandbox-image/sandbox-image-log.txt", "".join(
            journal_line(r, world.hostname) + "\n" for r in (
                Record(world.boot + timedelta(seconds=19), "systemd", 1, "Starting pull sandbox image defined in "
                                                                         "containerd config.toml..."),
                Record(world.boot + timedelta(seconds=24), "systemd", 1, "Started pull sandbox image defined in "
                                                                         "containerd config.toml."))))
        for name in ("nodeadm-config.log", "nodeadm-run.log"):
            bundle.add(f"nodeadm/{name}", NO_ENTRIES)
    else:
        bundle.add("sandbox-image/sandbox-image-log.txt", NO_ENTRIES)
        at = world.boot + timedelta(seconds=9)
        config = [Record(at, "systemd", 1, "Starting nodeadm-config.service - EKS Nodeadm Config..."),
                  Record(at, "nodeadm", 1811, '{"level":"info","ts":' + f"{at.timestamp():.9f}"
                         + ',"caller":"init/init.go:60","msg":"Checking user is root.."}'),
                  Record(at, "nodeadm", 1811, '{"level":"info","ts":' + f"{at.timestamp() + 0.41:.9f}"
                         + ',"caller":"init/init.go:93","msg":"Configuring daemon...","name":"containerd"}'),
                  Record(at + timedelta(seconds=1), "systemd", 1, "Finished nodeadm-config.service - EKS Nodeadm "
                                                                  "Config.")]
        run_at = world.boot + timedelta(seconds=29)
        run = [Record(run_at, "systemd", 1, "Starting nodeadm-run.service - EKS Nodeadm Run..."),
               Record(run_at, "nodeadm", 2611, '{"level":"info","ts":' + f"{run_at.timestamp():.9f}"
                      + ',"caller":"init/init.go:140","msg":"Starting daemon...","name":"kubelet"}'),
               Record(run_at + timedelta(seconds=2), "systemd", 1, "Finished nodeadm-run.service - EKS Nodeadm Run.")]
        bundle.add("nodeadm/nodeadm-config.log", "".join(journal_line(r, world.hostname) + "\n" for r in config))
        bundle.add("nodeadm/nodeadm-run.log", "".join(journal_line(r, world.hostname) + "\n" for r in run))

    if not messages_written(world):
        return
    # rsyslog: every journal line, kernel ones included, in one file, short host name.
    merged: list[tuple[datetime, str]] = []
    short = world.short_hostname
    for record in kernel:
        merged.append((record.at, rsyslog_kernel_line(record, short)))
    for record in (*kubelet, *containerd, *system_records(world)):
        merged.append((record.at, journal_line(record, short)))
    merged.sort(key=lambda item: item[0])
    rotation = None
    if spec.rotated:
        # logrotate's weekly run, between the boot and the quiet stretch.
        rotation = world.boot + timedelta(minutes=rng_for(spec, "logrotate").uniform(3, 9))
        old = [line for at, line in merged if at < rotation]
        merged = [(at, line) for at, line in merged if at >= rotation]
        bundle.add("var_log/messages.1", "".join(line + "\n" for line in old), mtime=rotation)
    head = "".join(line + "\n" for at, line in merged if at < world.quiet_start).encode()
    tail = "".join(line + "\n" for at, line in merged if at >= world.quiet_start).encode()
    size = fillers.get("messages", 0)
    parts: list[Part] = [head]
    if size:
        parts.append(FillerPart("messages", size, world, world.quiet_start, world.recent_start,
                                f"{spec.seed}:filler:messages"))
    parts.append(tail)
    bundle.add_parts("var_log/messages", parts)


def messages_written(world: World) -> bool:
    """AL2 runs rsyslog; AL2023 does not, unless the bundle is the messages-only variant."""
    mode = world.spec.kernel_log
    if mode == "messages_only":
        return True
    return mode == "both" and world.kernel.is_al2
