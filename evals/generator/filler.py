"""Benign log volume for benchmarks: the quiet days between boot and the incident.

Filler is routine chatter (PLEG events, image GC, ipamd pool reconciles, systemd sessions) with
monotonic timestamps inside a window in which the structured generators write nothing, so files
stay chronological. It never contains anything a diagnosis counts (no conntrack words, no
timeouts, no DNS errors). Lines are produced in blocks from a pre-rendered pool with one
`random.choices` call per block, which is what makes a gigabyte take seconds rather than minutes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from evals.generator.world import World, hexstr, k8s_suffix, rng_for

BLOCK_LINES = 8192
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _kubelet_pool(world: World, rng: random.Random) -> list[str]:
    pods = list(world.pods)
    pool = []
    for _ in range(400):
        pod = rng.choice(pods)
        ref = f"{pod.namespace}/{pod.name}"
        cid = hexstr(rng, 64)
        choice = rng.randrange(9)
        if choice == 0:
            pool.append(f'kubelet.go:2481] "SyncLoop (PLEG): event for pod" pod="{ref}" '
                        f'event={{"ID":"{pod.uid}","Type":"ContainerStarted","Data":"{cid}"}}')
        elif choice == 1:
            pool.append(f'kubelet.go:2469] "SyncLoop UPDATE" source="api" pods=["{ref}"]')
        elif choice == 2:
            pool.append('container_gc.go:88] "Attempting to delete unused containers"')
        elif choice == 3:
            pool.append(f'image_gc_manager.go:{rng.choice([391, 404])}] "Attempting to delete unused images"')
        elif choice == 4:
            pool.append(f'reconciler_common.go:{rng.choice([245, 258])}] "operationExecutor.VerifyControllerAttachedVolume '
                        f'started for volume \\"kube-api-access-{k8s_suffix(rng)}\\" (UniqueName: '
                        f'\\"kubernetes.io/projected/{pod.uid}-kube-api-access-{k8s_suffix(rng)}\\") pod=\\"{pod.name}\\" '
                        f'(UID: \\"{pod.uid}\\") " pod="{ref}"')
        elif choice == 5:
            pool.append(f'pod_startup_latency_tracker.go:104] "Observed pod startup duration" pod="{ref}" '
                        f'podStartSLOduration={rng.uniform(1, 9):.9f} podStartE2EDuration="{rng.uniform(1, 9):.9f}s"')
        elif choice == 6:
            pool.append(f'kubelet_pods.go:{rng.choice([1003, 1017])}] "Clean up pod workers for terminated pods"')
        elif choice == 7:
            pool.append(f'scope.go:117] "RemoveContainer" containerID="{cid}"')
        else:
            pool.append(f'kuberuntime_container.go:{rng.choice([779, 808])}] "Killing container with a grace period" '
                        f'pod="{ref}" podUID="{pod.uid}" containerName="{pod.containers[0].name}" '
                        f'containerID="containerd://{cid}" gracePeriod=30')
    return pool


def _containerd_pool(world: World, rng: random.Random) -> list[str]:
    pool = []
    for _ in range(300):
        pod = rng.choice(world.pods)
        cid = hexstr(rng, 64)
        choice = rng.randrange(5)
        if choice == 0:
            pool.append(f'level=info msg="ImageCreate event name:\\"sha256:{hexstr(rng, 64)}\\" '
                        f'labels:{{key:\\"io.cri-containerd.image\\" value:\\"managed\\"}}"')
        elif choice == 1:
            pool.append(f'level=info msg="StartContainer for \\"{cid}\\" returns successfully"')
        elif choice == 2:
            pool.append(f'level=info msg="CreateContainer within sandbox \\"{hexstr(rng, 64)}\\" for '
                        f'&ContainerMetadata{{Name:{pod.containers[0].name},Attempt:0,}} returns container id '
                        f'\\"{cid}\\""')
        elif choice == 3:
            pool.append(f'level=info msg="shim disconnected" id={cid} namespace=k8s.io')
        else:
            pool.append(f'level=info msg="TearDown network for sandbox \\"{cid}\\" successfully"')
    return pool


def _ipamd_pool(world: World, rng: random.Random) -> list[str]:
    per_eni = world.itype.ips_per_eni - 1
    pool = []
    for _ in range(200):
        assigned = rng.randint(6, 2 * per_eni)
        choice = rng.randrange(4)
        if choice == 0:
            pool.append(f'"caller":"ipamd/ipamd.go:{rng.choice([669, 686])}","msg":"IP pool stats for network card 0: '
                        f'Total IPs/Prefixes = {2 * per_eni}/0, AssignedIPs/CooldownIPs: {assigned}/0, '
                        f'c.maxIPsPerENI = {per_eni}"}}')
        elif choice == 1:
            pool.append('"caller":"ipamd/ipamd.go:1604","msg":"Reconcile existing ENI '
                        f'eni-0{hexstr(rng, 16)} IP pool"}}')
        elif choice == 2:
            pool.append('"caller":"ipamd/ipamd.go:707","msg":"IP pool is too low: available (0) < ENI target (1) * '
                        'addrsPerENI (9)"}' if rng.random() < 0.05 else
                        '"caller":"ipamd/ipamd.go:672","msg":"IP stats - total IPs: 18, assigned IPs: '
                        f'{assigned}, cooldown IPs: 0"}}')
        else:
            pool.append('"caller":"ipamd/ipamd.go:1516","msg":"Successfully Reconcile existing ENI '
                        f'eni-0{hexstr(rng, 16)} IP pool"}}')
    return pool


def _messages_pool(world: World, rng: random.Random) -> list[str]:
    pool = []
    for _ in range(200):
        choice = rng.randrange(6)
        if choice == 0:
            pool.append(f"systemd: Started Session {rng.randint(10, 9000)} of user root.")
        elif choice == 1:
            pool.append(f"dhclient[{rng.randint(2000, 2100)}]: XMT: Solicit on {world.kernel.primary_iface}, "
                        f"interval {rng.randint(100000, 130000)}ms.")
        elif choice == 2:
            pool.append("systemd: Starting Cleanup of Temporary Directories...")
        elif choice == 3:
            pool.append(f"chronyd[{rng.randint(1500, 1600)}]: Selected source 169.254.169.123")
        elif choice == 4:
            pool.append("systemd-logind: New session c1 of user root.")
        else:
            pool.append(f"amazon-ssm-agent: {rng.choice(['INFO', 'DEBUG'])} [MessageService] [MGSInteractor] "
                        f"sending reply for {rng_uuid_like(rng)}")
    return pool


def rng_uuid_like(rng: random.Random) -> str:
    h = hexstr(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class FillerPart:
    """`size` bytes of benign lines of one log family, timestamps spread over [start, end)."""

    style: str  # kubelet | containerd | ipamd | messages
    size: int
    world: World
    start: datetime
    end: datetime
    seed: str
    pid: int = 0

    def chunks(self) -> Iterator[bytes]:
        """Exactly `size` bytes of newline-terminated lines, the same for the same seed."""
        rng = random.Random(self.seed)
        world = self.world
        build = {"kubelet": _kubelet_pool, "containerd": _containerd_pool, "ipamd": _ipamd_pool,
                 "messages": _messages_pool}[self.style]
        pool = build(world, rng_for(world.spec, f"filler-pool-{self.style}"))
        avg = 60 + sum(len(m) for m in pool) // len(pool)
        start_us, end_us = int(self.start.timestamp() * 1_000_000), int(self.end.timestamp() * 1_000_000)
        expected = max(1, self.size // avg)
        step = max(1, (end_us - start_us) // expected)
        host, short = world.hostname, world.short_hostname
        pid = self.pid
        second_cache: dict[int, tuple[str, str, str]] = {}
        remaining = self.size
        index = 0
        while remaining > 0:
            messages = rng.choices(pool, k=BLOCK_LINES)
            out: list[str] = []
            for message in messages:
                t_us = min(start_us + index * step, end_us - 1)
                index += 1
                sec, usec = divmod(t_us, 1_000_000)
                cached = second_cache.get(sec)
                if cached is None:
                    dt = datetime.fromtimestamp(sec, UTC)
                    cached = (f"{_MONTHS[dt.month - 1]} {dt.day:2d} {dt:%H:%M:%S}", f"{dt:%m%d %H:%M:%S}",
                              f"{dt:%Y-%m-%dT%H:%M:%S}")
                    if len(second_cache) > 4096:
                        second_cache.clear()
                    second_cache[sec] = cached
                sys_ts, klog_ts, iso_ts = cached
                if self.style == "kubelet":
                    out.append(f"{sys_ts} {host} kubelet[{pid}]: I{klog_ts}.{usec:06d} {pid:7d} {message}\n")
                elif self.style == "containerd":
                    out.append(f'{sys_ts} {host} containerd[{pid}]: time="{iso_ts}.{usec:06d}{index % 1000:03d}Z" '
                               f"{message}\n")
                elif self.style == "ipamd":
                    out.append(f'{{"level":"debug","ts":"{iso_ts}.{usec // 1000:03d}Z",{message}\n')
                else:
                    out.append(f"{sys_ts} {short} {message}\n")
            data = "".join(out).encode()
            if len(data) >= remaining:
                cut = data.rfind(b"\n", 0, remaining) + 1
                tail = remaining - cut
                yield data[:cut]
                if tail:
                    # Pad to the exact size with one more, shortened, benign line.
                    yield data[cut:cut + tail - 1] + b"\n" if tail > 1 else b"\n"
                return
            remaining -= len(data)
            yield data
