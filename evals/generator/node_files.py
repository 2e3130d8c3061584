"""The rest of the bundle: system/, storage/, containerd/, kubelet/ config, ipamd/, cni/, cloud-init
and VPC CNI logs.

These files rarely decide a conntrack diagnosis, but a real bundle has them, tools must cope
with them, and several carry cross-checks (uptime in top.txt, the conntrack-tools package in
pkglist.txt, the cluster endpoint in kubeconfig.yaml, ENI addresses in ipamd/enis.json). The
red herrings (runbook words that are not evidence) live in cloud-init output.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from evals.generator import timefmt
from evals.generator.files import Bundle, Part, lines_text
from evals.generator.filler import FillerPart
from evals.generator.world import World, hexstr, rng_for


def _uptime_text(world: World) -> str:
    up = world.uptime(world.collected)
    days, rest = divmod(int(up.total_seconds()), 86400)
    hours, minutes = rest // 3600, (rest % 3600) // 60
    return f"{days} days, {hours:2d}:{minutes:02d}"


def top(world: World) -> str:
    rng = rng_for(world.spec, "top")
    mem_mib = world.itype.mem_gib * 1024 - 380
    used = mem_mib * rng.uniform(0.35, 0.7)
    load = [rng.uniform(0.1, 1.5) * world.itype.vcpus / 2 for _ in range(3)]
    procs = [("kubelet", 2.1, 1.4), ("containerd", 0.9, 0.7), ("aws-k8s-agent", 0.4, 0.6), ("kube-proxy", 0.3, 0.5),
             ("coredns", 0.6, 0.4), ("orders-api", 5.1, 4.2), ("payments-api", 2.2, 3.1), ("node_exporter", 0.2, 0.2)]
    out = [f"top - {world.collected:%H:%M:%S} up {_uptime_text(world)},  0 users,  load average: "
           f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}",
           f"Tasks: {rng.randint(160, 260)} total,   1 running, {rng.randint(150, 250)} sleeping,   0 stopped,   0 zombie",
           f"%Cpu(s):  {rng.uniform(2, 20):.1f} us,  {rng.uniform(1, 6):.1f} sy,  0.0 ni, {rng.uniform(70, 95):.1f} id,  "
           "0.1 wa,  0.0 hi,  0.3 si,  0.1 st",
           f"MiB Mem : {mem_mib:8.1f} total, {mem_mib - used - 900:8.1f} free, {used:8.1f} used, {900.0:8.1f} buff/cache",
           f"MiB Swap:      0.0 total,      0.0 free,      0.0 used. {mem_mib - used:8.1f} avail Mem", "",
           "    PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND"]
    for pid, (name, cpu, mem) in enumerate(procs, start=2000):
        out.append(f"{pid + rng.randint(0, 6000):7d} root      20   0 {rng.randint(700000, 2900000):7d} "
                   f"{rng.randint(40000, 300000):6d} {rng.randint(20000, 70000):6d} S {cpu:5.1f} {mem:5.1f} "
                   f"{rng.randint(1, 900):5d}:{rng.randint(0, 59):02d}.{rng.randint(0, 99):02d} {name}")
    return lines_text(out)


def ps(world: World) -> str:
    """`ps fauxwww --headers`: kernel threads under kthreadd, container processes under their shims."""
    rng = rng_for(world.spec, "ps")
    start = f"{world.boot:%b%d}"
    kubelet_args = ("/usr/bin/kubelet --config /etc/kubernetes/kubelet/config.json --kubeconfig /var/lib/kubelet/kubeconfig "
                    "--container-runtime-endpoint unix:///run/containerd/containerd.sock "
                    f"--hostname-override={world.hostname} --node-ip={world.node_ip} --v=2")
    kernel_threads = [("root", 2, "S", "[kthreadd]"), ("root", 3, "I<", " \\_ [rcu_gp]"),
                      ("root", 4, "I<", " \\_ [rcu_par_gp]"), ("root", 12, "S", " \\_ [ksoftirqd/0]"),
                      ("root", 13, "I", " \\_ [rcu_preempt]")]
    user_procs = [("root", 1, "Ss", "/usr/lib/systemd/systemd --switched-root --system --deserialize 21"),
                  ("root", 1123, "Ss", "/usr/lib/systemd/systemd-journald"),
                  ("root", 1540, "S<sl", "/sbin/auditd"),
                  ("chrony", 1561, "S", "/usr/sbin/chronyd -F 2"),
                  ("root", 1790, "Ssl", "/usr/bin/amazon-ssm-agent"),
                  ("root", 2790, "Ssl", "/usr/bin/containerd"),
                  ("root", 3300, "Ssl", kubelet_args)]
    shims = [("kube-proxy --v=2 --config=/var/lib/kube-proxy-config/config "
              f"--hostname-override={world.hostname}", "root"),
             ("/app/aws-k8s-agent", "root"),
             ("/app/aws-eks-nodeagent --enable-ipv6=false --enable-network-policy=false", "root"),
             ("/coredns -conf /etc/coredns/Corefile", "65532"),
             ("/bin/aws-ebs-csi-driver node --endpoint=unix:/csi/csi.sock --logging-format=text --v=2", "root"),
             ("/app/orders-api --port 8080", "1000"), ("/app/payments-api --port 8080", "1000"),
             ("/bin/node_exporter --path.procfs=/host/proc --path.sysfs=/host/sys", "65534")]
    out = ["USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND"]
    for user, pid, stat, cmd in kernel_threads:
        out.append(f"{user:<8} {pid:7d}  0.0  0.0      0     0 ?        {stat:<4} {start}   0:0{rng.randint(0, 9)} {cmd}")
    for user, pid, stat, cmd in user_procs:
        out.append(f"{user:<8} {pid:7d} {rng.uniform(0, 3):4.1f} {rng.uniform(0, 3):4.1f} {rng.randint(20000, 2500000):6d} "
                   f"{rng.randint(5000, 200000):5d} ?        {stat:<4} {start}  {rng.randint(0, 300):3d}:{rng.randint(0, 59):02d} "
                   f"{cmd}")
    pid = 3600
    for cmd, user in shims:
        pid += rng.randint(70, 140)
        out.append(f"root     {pid:7d}  0.0  0.1 1238516 {rng.randint(9000, 16000):5d} ?        Sl   {start}   "
                   f"0:{rng.randint(10, 59)} /usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id {hexstr(rng, 64)} "
                   "-address /run/containerd/containerd.sock")
        out.append(f"65535    {pid + 21:7d}  0.0  0.0   1020     4 ?        Ss   {start}   0:00  \\_ /pause")
        out.append(f"{user:<8} {pid + 40:7d} {rng.uniform(0, 6):4.1f} {rng.uniform(0, 5):4.1f} {rng.randint(700000, 2500000):6d} "
                   f"{rng.randint(20000, 300000):5d} ?        Ssl  {start}  {rng.randint(0, 300):3d}:{rng.randint(0, 59):02d}  "
                   f"\\_ {cmd}")
    return lines_text(out)


def pkglist(world: World) -> str:
    k = world.kernel
    if k.is_al2:
        suffix = "amzn2"
        pkgs = [f"kernel-{k.release.removesuffix('.x86_64')}.x86_64", "conntrack-tools-1.4.4-5.amzn2.2.x86_64",
                "ethtool-4.8-10.amzn2.x86_64", "iptables-1.8.4-10.amzn2.1.2.x86_64", "ipvsadm-1.27-8.amzn2.x86_64",
                f"containerd-{k.containerd_version}-1.amzn2.0.1.x86_64", "runc-1.1.14-1.amzn2.x86_64",
                "rsyslog-8.24.0-57.amzn2.2.0.1.x86_64", "systemd-219-78.amzn2.0.22.x86_64",
                "cloud-init-19.3-46.amzn2.0.4.noarch", "amazon-ssm-agent-3.3.1611.0-1.amzn2.x86_64",
                "net-tools-2.0-0.22.20131004git.amzn2.0.2.x86_64"]
    else:
        suffix = "amzn2023"
        pkgs = [f"kernel{'6.12' if k.key.endswith('6.12') else ''}-{k.release.removesuffix('.x86_64')}.x86_64",
                "conntrack-tools-1.4.6-2.amzn2023.0.2.x86_64", "ethtool-6.7-1.amzn2023.0.1.x86_64",
                "iptables-nft-1.8.8-3.amzn2023.0.2.x86_64", "ipvsadm-1.31-7.amzn2023.0.2.x86_64",
                f"containerd-{k.containerd_version}-1.amzn2023.0.1.x86_64", "runc-1.2.4-1.amzn2023.0.1.x86_64",
                "systemd-252.23-2.amzn2023.x86_64", "cloud-init-22.2.2-1.amzn2023.1.12.noarch",
                "amazon-ssm-agent-3.3.1611.0-1.amzn2023.x86_64", "nodeadm-0.1.0-1.amzn2023.x86_64"]
    base = [f"bash-5.2.15-1.{suffix}.0.2.x86_64", f"coreutils-8.32-30.{suffix}.0.1.x86_64",
            f"curl-8.5.0-1.{suffix}.0.2.x86_64", f"glibc-2.34-117.{suffix}.0.1.x86_64",
            f"iproute-5.10.0-2.{suffix}.0.3.x86_64", f"openssl-3.0.8-1.{suffix}.0.18.x86_64",
            f"xfsprogs-5.18.0-2.{suffix}.0.4.x86_64", f"audit-3.0.6-1.{suffix}.0.5.x86_64"]
    return lines_text(sorted(pkgs + base))


def services(world: World) -> str:
    units = [("amazon-ssm-agent.service", "amazon-ssm-agent"), ("auditd.service", "Security Auditing Service"),
             ("chronyd.service", "NTP client/server"), ("containerd.service", "containerd container runtime"),
             ("kubelet.service", "Kubernetes Kubelet"), ("sshd.service", "OpenSSH server daemon"),
             ("systemd-journald.service", "Journal Service"), ("systemd-logind.service", "User Login Management")]
    if world.kernel.is_al2:
        units += [("rsyslog.service", "System Logging Service"),
                  ("sandbox-image.service", "pull sandbox image defined in containerd config.toml")]
    else:
        units += [("systemd-networkd.service", "Network Configuration"),
                  ("systemd-resolved.service", "Network Name Resolution")]
    out = ["  UNIT                                    LOAD   ACTIVE SUB       DESCRIPTION"]
    out += [f"  {u:<39} loaded active {'exited' if 'sandbox' in u else 'running':<9} {d}" for u, d in sorted(units)]
    out += ["", "LOAD   = Reflects whether the unit definition was properly loaded.",
            "ACTIVE = The high-level unit activation state, i.e. generalization of SUB.",
            "SUB    = The low-level unit activation state, values depend on unit type.", "",
            f"{len(units)} loaded units listed. Pass --all to see loaded but inactive units, too."]
    return lines_text(out)


def kubeconfig(world: World) -> str:
    spec = world.spec
    if world.kernel.is_al2:
        return (f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: /etc/kubernetes/pki/ca.crt\n"
                f"    server: {world.api_server}\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n"
                "    user: kubelet\n  name: kubelet\ncurrent-context: kubelet\nusers:\n- name: kubelet\n  user:\n"
                "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                "      command: /usr/bin/aws-iam-authenticator\n      args:\n        - \"token\"\n        - \"-i\"\n"
                f"        - \"{spec.cluster}\"\n        - --region\n        - \"{spec.region}\"\n")
    return ("---\napiVersion: v1\nkind: Config\nclusters:\n  - name: kubernetes\n    cluster:\n"
            f"      certificate-authority: /etc/kubernetes/pki/ca.crt\n      server: {world.api_server}\n"
            "current-context: kubelet\ncontexts:\n  - name: kubelet\n    context:\n      cluster: kubernetes\n"
            "      user: kubelet\nusers:\n  - name: kubelet\n    user:\n      exec:\n"
            "        apiVersion: client.authentication.k8s.io/v1beta1\n        command: aws\n        args:\n"
            f"          - \"eks\"\n          - \"get-token\"\n          - \"--cluster-name\"\n          - \"{spec.cluster}\"\n"
            f"          - \"--region\"\n          - \"{spec.region}\"\n")


def kubelet_config(world: World) -> str:
    config = {
        "kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1", "address": "0.0.0.0",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"cacheTTL": "2m0s", "enabled": True},
                           "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
        "authorization": {"mode": "Webhook"}, "clusterDomain": "cluster.local", "clusterDNS": [world.kube_dns_ip],
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock", "cgroupDriver": "systemd",
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"},
        "featureGates": {"RotateKubeletServerCertificate": True}, "hairpinMode": "hairpin-veth",
        "kubeReserved": {"cpu": "70m", "ephemeral-storage": "1Gi", "memory": "442Mi"},
        "maxPods": world.itype.max_enis * (world.itype.ips_per_eni - 1) + 2, "protectKernelDefaults": True,
        "readOnlyPort": 0, "serverTLSBootstrap": True, "tlsCipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
    }
    if not world.kernel.is_al2:
        config["providerID"] = f"aws:///{world.spec.az}/{world.spec.instance_id}"
    return json.dumps(config, indent=4) + "\n"


def kubelet_service(world: World) -> str:
    if world.kernel.is_al2:
        return ("# /etc/systemd/system/kubelet.service\n[Unit]\nDescription=Kubernetes Kubelet\n"
                "Documentation=https://github.com/kubernetes/kubernetes\nAfter=containerd.service sandbox-image.service\n"
                "Requires=containerd.service sandbox-image.service\n\n[Service]\nSlice=runtime.slice\n"
                "ExecStartPre=/sbin/iptables -P FORWARD ACCEPT -w 5\nExecStart=/usr/bin/kubelet \\\n"
                "    --config /etc/kubernetes/kubelet/kubelet-config.json \\\n    --kubeconfig /var/lib/kubelet/kubeconfig \\\n"
                "    --container-runtime-endpoint unix:///run/containerd/containerd.sock \\\n"
                "    --image-credential-provider-config /etc/eks/image-credential-provider/config.json \\\n"
                "    --image-credential-provider-bin-dir /etc/eks/image-credential-provider \\\n"
                "    $KUBELET_ARGS \\\n    $KUBELET_EXTRA_ARGS\n\nRestart=on-failure\nRestartForceExitStatus=SIGPIPE\n"
                "RestartSec=5\nKillMode=process\nCPUAccounting=true\nMemoryAccounting=true\n\n[Install]\n"
                "WantedBy=multi-user.target\n")
    return ("# /etc/systemd/system/kubelet.service\n[Unit]\nDescription=Kubernetes Kubelet\n"
            "Documentation=https://github.com/kubernetes/kubernetes\nAfter=containerd.service\nWants=containerd.service\n\n"
            "[Service]\nSlice=runtime.slice\nEnvironmentFile=/etc/eks/kubelet/environment\n"
            "ExecStartPre=/sbin/iptables -P FORWARD ACCEPT -w 5\nExecStart=/usr/bin/kubelet $NODEADM_KUBELET_ARGS\n\n"
            "Restart=on-failure\nRestartForceExitStatus=SIGPIPE\nRestartSec=5\nKillMode=process\nCPUAccounting=true\n"
            "MemoryAccounting=true\n\n[Install]\nWantedBy=multi-user.target\n")


def storage(world: World, bundle: Bundle) -> None:
    rng = rng_for(world.spec, "storage")
    used = rng.randint(18, 61)
    bundle.add("storage/mounts.txt", lines_text([
        "/dev/nvme0n1p1 on / type xfs (rw,noatime,seclabel,attr2,inode64,logbufs=8,logbsize=32k,sunit=1024,swidth=1024,noquota)",
        "proc on /proc type proc (rw,nosuid,nodev,noexec,relatime)",
        "sysfs on /sys type sysfs (rw,nosuid,nodev,noexec,relatime,seclabel)",
        "cgroup2 on /sys/fs/cgroup type cgroup2 (rw,nosuid,nodev,noexec,relatime,seclabel,nsdelegate,memory_recursiveprot)",
        "tmpfs on /run type tmpfs (rw,nosuid,nodev,seclabel,size=1567624k,nr_inodes=819200,mode=755)",
        "overlay on /run/containerd/io.containerd.runtime.v2.task/k8s.io/" + hexstr(rng, 64)
        + "/rootfs type overlay (rw,relatime,seclabel,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/"
        "snapshots/41/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/52/fs,"
        "workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/52/work)", "",
        "Filesystem      Size  Used Avail Use% Mounted on", "devtmpfs        4.0M     0  4.0M   0% /dev",
        "tmpfs           3.8G     0  3.8G   0% /dev/shm", "tmpfs           1.5G  1.1M  1.5G   1% /run",
        f"/dev/nvme0n1p1   80G   {used}G   {80 - used}G  {used * 100 // 80:2d}% /"]))
    bundle.add("storage/inodes.txt", lines_text([
        "Filesystem       Inodes IUsed    IFree IUse% Mounted on", "devtmpfs          981565   312   981253    1% /dev",
        f"/dev/nvme0n1p1  41942512 {rng.randint(150000, 400000)} 41700000    1% /"]))
    bundle.add("storage/lsblk.txt", lines_text([
        "NAME          MAJ:MIN RM SIZE RO TYPE MOUNTPOINTS", "nvme0n1       259:0    0  80G  0 disk ",
        "├─nvme0n1p1   259:1    0  80G  0 part /", "└─nvme0n1p128 259:2    0  10M  0 part /boot/efi"]))
    bundle.add("storage/fstab.txt", "UUID=" + hexstr(rng, 8) + "-" + hexstr(rng, 4) + "-4" + hexstr(rng, 3) + "-a"
               + hexstr(rng, 3) + "-" + hexstr(rng, 12) + "     /           xfs    defaults,noatime  1   1\n")
    bundle.add("storage/xfs.txt", lines_text([
        "meta-data=/dev/nvme0n1p1         isize=512    agcount=41, agsize=524159 blks",
        "         =                       sectsz=4096  attr=2, projid32bit=1",
        "data     =                       bsize=4096   blocks=20970491, imaxpct=25",
        "naming   =version 2              bsize=16384  ascii-ci=0, ftype=1",
        "log      =internal log           bsize=4096   blocks=2560, version=2",
        "   from      to extents  blocks    pct", "      1       1     512     512   0.01",
        f"total free extents {rng.randint(900, 3000)}", f"total free blocks {rng.randint(7_000_000, 15_000_000)}"]))
    bundle.add("storage/pod_local_storage.txt", "".join(f"{rng.randint(1, 900)}M\t/var/lib/containerd/io.containerd."
                                                         f"snapshotter.v1.overlayfs/snapshots/{n}/fs\n"
                                                         for n in range(40, 52)))


def system(world: World, bundle: Bundle) -> None:
    spec = world.spec
    rng = rng_for(spec, "system")
    bundle.add("system/script-params.txt", "ignore_introspection: false\nignore_metrics: false\n")
    bundle.add("system/instance-id.txt", spec.instance_id + "\n")
    bundle.add("system/region.txt", spec.region + "\n")
    bundle.add("system/availability-zone.txt", spec.az + "\n")
    bundle.add("system/selinux.txt", "SELinux mode:\n\t " + ("Permissive" if not world.kernel.is_al2 else "Disabled") + "\n")
    bundle.add("system/pkglist.txt", pkglist(world))
    bundle.add("system/services.txt", services(world))
    bundle.add("system/systemd-analyze.svg", '<?xml version="1.0" standalone="no"?>\n<svg width="1210" height="2770" '
               'xmlns="http://www.w3.org/2000/svg">\n<text x="20" y="50">Startup finished in 1.102s (kernel) + '
               f'{rng.uniform(2, 4):.3f}s (initrd) + {rng.uniform(20, 40):.3f}s (userspace)</text>\n</svg>\n')
    bundle.add("system/top.txt", top(world))
    bundle.add("system/ps.txt", ps(world))
    bundle.add("system/ps-threads.txt", "UID          PID    PPID     LWP  C NLWP    SZ   RSS PSR STIME TTY          TIME CMD\n"
               f"root           1       0       1  0    1 43821 14208   0 {world.boot:%b%d} ?        00:00:41 "
               "/usr/lib/systemd/systemd --switched-root --system --deserialize 21\n")
    bundle.add("system/netstat.txt", lines_text([
        "Active Internet connections (servers and established)",
        "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name",
        "tcp        0      0 127.0.0.1:10248         0.0.0.0:*               LISTEN      3300/kubelet",
        "tcp        0      0 127.0.0.1:10249         0.0.0.0:*               LISTEN      3890/kube-proxy",
        "tcp        0      0 127.0.0.1:61679         0.0.0.0:*               LISTEN      3911/aws-k8s-agent",
        "tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      1620/sshd",
        f"tcp        0      0 {world.node_ip}:{rng.randint(32768, 60999)}     {world.api_ips[0]}:443        "
        "ESTABLISHED 3300/kubelet",
        "tcp6       0      0 :::10250                :::*                    LISTEN      3300/kubelet",
        "tcp6       0      0 :::10256                :::*                    LISTEN      3890/kube-proxy",
        "tcp6       0      0 :::61678                :::*                    LISTEN      3911/aws-k8s-agent"]))
    ticks = int(world.uptime(world.collected).total_seconds() * 100)
    cpus = [f"cpu{n} {ticks // 9} 120 {ticks // 30} {ticks // 2} 512 0 {ticks // 200} {ticks // 900} 0 0"
            for n in range(world.itype.vcpus)]
    bundle.add("system/procstat.txt", lines_text([f"cpu  {ticks // 9 * world.itype.vcpus} 0 0 0 0 0 0 0 0 0", *cpus,
                                                  f"btime {int(world.boot.timestamp())}",
                                                  f"processes {rng.randint(200000, 900000)}", "procs_running 2",
                                                  "procs_blocked 0"]))
    bundle.add("system/allprocstat.txt", "1 (systemd) S 0 1 1 0 -1 4194560 52873 1201313 103 4018 1071 2043 4311 5024 "
               "20 0 1 0 2 180002816 3552 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 17 0 0 0 "
               "3 0 0 0 0 0 0 0 0 0 0\n")
    bundle.add("system/large_environments.txt", "PID\tCount\n")
    bundle.add("system/cpu_throttling.txt", "No CPU Throttling Found\n")
    bundle.add("system/io_throttling.txt", "PID Name Block IO Delay (centisconds)\n")
    bundle.add("system/last_reboot.txt",
               f"reboot   system boot  {world.kernel.release[:16]} {world.boot:%a %b} {world.boot.day:2d} "
               f"{world.boot:%H:%M}   still running\n\nwtmp begins {timefmt.ctime(world.boot)}\n")


def containerd_misc(world: World, bundle: Bundle) -> None:
    k = world.kernel
    rng = rng_for(world.spec, "containerd-misc")
    pause = ("localhost/kubernetes/pause:latest" if not k.is_al2
             else f"602401143452.dkr.ecr.{world.spec.region}.amazonaws.com/eks/pause:3.5")
    bundle.add("containerd/containerd-config.txt", lines_text([
        "disabled_plugins = []", "imports = [\"/etc/containerd/config.d/*.toml\"]", "oom_score = 0",
        "plugin_dir = \"\"", "required_plugins = []", "root = \"/var/lib/containerd\"", "state = \"/run/containerd\"",
        "temp = \"\"", "version = 2", "", "[grpc]", "  address = \"/run/containerd/containerd.sock\"", "",
        "[plugins]", "  [plugins.\"io.containerd.grpc.v1.cri\"]", f"    sandbox_image = \"{pause}\"",
        "    enable_cdi = true", "    max_container_log_line_size = 16384",
        "    [plugins.\"io.containerd.grpc.v1.cri\".cni]", "      bin_dir = \"/opt/cni/bin\"",
        "      conf_dir = \"/etc/cni/net.d\"", "    [plugins.\"io.containerd.grpc.v1.cri\".containerd]",
        "      default_runtime_name = \"runc\"", "      discard_unpacked_layers = true",
        "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]",
        "        SystemdCgroup = true", "    [plugins.\"io.containerd.grpc.v1.cri\".registry]",
        "      config_path = \"/etc/containerd/certs.d:/etc/docker/certs.d\""]))
    bundle.add("containerd/containerd-version.txt", lines_text([
        "Client:", f"  Version:  {k.containerd_version}", f"  Revision: {hexstr(rng, 40)}", "  Go version: go1.23.8", "",
        "Server:", f"  Version:  {k.containerd_version}", f"  Revision: {hexstr(rng, 40)}",
        f"  UUID: {hexstr(rng, 8)}-{hexstr(rng, 4)}-{hexstr(rng, 4)}-{hexstr(rng, 4)}-{hexstr(rng, 12)}"]))
    bundle.add("containerd/containerd-namespaces.txt", "NAME   LABELS \nk8s.io        \n")
    images = ["602401143452.dkr.ecr.{r}.amazonaws.com/amazon-k8s-cni:" + k.cni_version,
              "602401143452.dkr.ecr.{r}.amazonaws.com/eks/kube-proxy:" + k.k8s_version.split("-")[0] + "-minimal-eksbuild.2",
              "602401143452.dkr.ecr.{r}.amazonaws.com/eks/coredns:v" + k.coredns_version + "-eksbuild.2",
              "602401143452.dkr.ecr.{r}.amazonaws.com/eks/aws-ebs-csi-driver:v1.45.0"]
    bundle.add("containerd/containerd-images.txt", "REF TYPE DIGEST SIZE PLATFORMS LABELS\n" + "".join(
        f"{i.format(r=world.spec.region)} application/vnd.docker.distribution.manifest.list.v2+json "
        f"sha256:{hexstr(rng, 64)} {rng.randint(10, 90)}.{rng.randint(0, 9)} MiB linux/amd64,linux/arm64 "
        "io.cri-containerd.image=managed\n" for i in images))
    bundle.add("containerd/containerd-containers.txt", "CONTAINER    IMAGE    RUNTIME                  \n" + "".join(
        f"{c.container_id}    -    io.containerd.runc.v2    \n" for p in world.pods for c in p.containers))
    bundle.add("containerd/containerd-tasks.txt", "TASK    PID    STATUS    \n" + "".join(
        f"{c.container_id}    {rng.randint(3500, 9000)}    RUNNING    \n" for p in world.pods for c in p.containers))
    bundle.add("containerd/containerd-plugins.txt", lines_text([
        "TYPE                                   ID                       PLATFORMS      STATUS    ",
        "io.containerd.content.v1               content                  -              ok        ",
        "io.containerd.snapshotter.v1           overlayfs                linux/amd64    ok        ",
        "io.containerd.metadata.v1              bolt                     -              ok        ",
        "io.containerd.grpc.v1                  cri                      linux/amd64    ok        "]))


def ipamd(world: World, bundle: Bundle, filler_bytes: int) -> None:
    spec, k = world.spec, world.kernel
    rng = rng_for(spec, "ipamd")
    enis = []
    for index, iface in enumerate(world.ena):
        eni_id = f"eni-0{hexstr(rng, 16)}"
        ips = {iface.ip: {"Address": iface.ip, "IPAMKey": {"networkName": "", "containerID": "", "ifName": ""},
                          "IPAMMetadata": {}, "AssignedTime": "0001-01-01T00:00:00Z",
                          "UnassignedTime": "0001-01-01T00:00:00Z"}}
        for pod in world.pods:
            if pod.host_network or pod.eni != ("primary" if index == 0 else "secondary"):
                continue
            ips[pod.ip] = {"Address": pod.ip, "IPAMKey": {"networkName": "aws-cni", "containerID": hexstr(rng, 64),
                                                          "ifName": "eth0"},
                           "IPAMMetadata": {"k8sPodNamespace": pod.namespace, "k8sPodName": pod.name},
                           "AssignedTime": timefmt.rfc3339nano(world.boot + timedelta(seconds=110)),
                           "UnassignedTime": "0001-01-01T00:00:00Z"}
        enis.append({"ID": eni_id, "IsPrimary": index == 0, "IsTrunk": False, "IsEFA": False,
                     "DeviceNumber": index, "AvailableIPv4Cidrs": {f"{ip}/32": {"Cidr": {"IP": ip, "Mask": "/////w=="},
                                                                                 "IPAddresses": {ip: v},
                                                                                 "IsPrefix": False}
                                                                   for ip, v in ips.items()}})
    bundle.add("ipamd/enis.json", json.dumps({"TotalIPs": 2 * (world.itype.ips_per_eni - 1),
                                              "AssignedIPs": sum(1 for p in world.pods if not p.host_network),
                                              "ENIs": {e["ID"]: e for e in enis}}))
    bundle.add("ipamd/pods.json", json.dumps({f"{p.name}_{p.namespace}_{hexstr(rng, 64)}": {"IP": p.ip, "DeviceNumber": 0}
                                              for p in world.pods if not p.host_network}))
    bundle.add("ipamd/networkutils-env-settings.json", json.dumps({
        "AWS_VPC_CNI_NODE_PORT_SUPPORT": True, "AWS_VPC_K8S_CNI_CONNMARK": 128, "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": None,
        "AWS_VPC_K8S_CNI_EXTERNALSNAT": False, "AWS_VPC_K8S_CNI_RANDOMIZESNAT": "prng", "AWS_VPC_K8S_CNI_VETHPREFIX": "eni",
        "AWS_VPC_ENI_MTU": 9001}))
    bundle.add("ipamd/ipamd-env-settings.json", json.dumps({
        "AWS_VPC_CNI_NODE_PORT_SUPPORT": "true", "AWS_VPC_ENI_MTU": "9001", "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
        "AWS_VPC_K8S_CNI_LOG_FILE": "/host/var/log/aws-routed-eni/ipamd.log", "WARM_ENI_TARGET": "1",
        "WARM_PREFIX_TARGET": "1", "ENABLE_PREFIX_DELEGATION": "false", "MINIMUM_IP_TARGET": "", "WARM_IP_TARGET": ""}))
    bundle.add("ipamd/eni-configs.json", "{}")
    assigned = sum(1 for p in world.pods if not p.host_network)
    total = 2 * (world.itype.ips_per_eni - 1)
    bundle.add("ipamd/metrics.json", lines_text([
        "# HELP awscni_assigned_ip_addresses The number of IP addresses assigned to pods",
        "# TYPE awscni_assigned_ip_addresses gauge", f"awscni_assigned_ip_addresses {assigned}",
        "# HELP awscni_eni_allocated The number of ENIs allocated", "# TYPE awscni_eni_allocated gauge",
        "awscni_eni_allocated 2", "# HELP awscni_eni_max The maximum number of ENIs that can be attached to the instance",
        "# TYPE awscni_eni_max gauge", f"awscni_eni_max {world.itype.max_enis}",
        "# HELP awscni_ip_max The maximum number of IP addresses that can be allocated to the instance",
        "# TYPE awscni_ip_max gauge", f"awscni_ip_max {world.itype.max_enis * (world.itype.ips_per_eni - 1)}",
        "# HELP awscni_total_ip_addresses The total number of IP addresses", "# TYPE awscni_total_ip_addresses gauge",
        f"awscni_total_ip_addresses {total}"]))
    bundle.add("ipamd/ipam.json", json.dumps({"version": "vpc-cni-ipam/1", "allocations": [
        {"containerID": hexstr(rng, 64), "ipv4": p.ip, "metadata": {"k8sPodNamespace": p.namespace,
                                                                    "k8sPodName": p.name}}
        for p in world.pods if not p.host_network]}))
    bundle.add("cni/10-aws.conflist", json.dumps({
        "cniVersion": "0.4.0", "name": "aws-cni", "disableCheck": True, "plugins": [
            {"name": "aws-cni", "type": "aws-cni", "vethPrefix": "eni", "mtu": "9001", "podSGEnforcingMode": "strict",
             "pluginLogFile": "/var/log/aws-routed-eni/plugin.log", "pluginLogLevel": "DEBUG", "capabilities": {"io.kubernetes.cri.pod-annotations": True}},
            {"name": "egress-cni", "type": "egress-cni", "mtu": "9001", "enabled": "false", "randomizeSNAT": "prng",
             "nodeIP": "", "ipam": {"type": "host-local", "ranges": [[{"subnet": "fd00::ac:00/118"}]],
                                    "routes": [{"dst": "::/0"}], "dataDir": "/run/cni/v4pd/egress-v6-ipam"},
             "pluginLogFile": "/var/log/aws-routed-eni/egress-v6-plugin.log", "pluginLogLevel": "DEBUG"},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}]}, indent=2) + "\n")

    # var_log/aws-routed-eni/ipamd.log: start-up, quiet days (filler), then the detailed recent window.
    start = world.boot + timedelta(seconds=rng.uniform(96, 100))
    head_msgs = [("logger/logger.go:52", "Constructed new logger instance"),
                 ("aws-k8s-agent/main.go:28", f"Starting L-IPAMD {k.cni_version}  ..."),
                 ("aws-k8s-agent/main.go:42", "Testing communication with server"),
                 ("aws-k8s-agent/main.go:42", f"Successful communication with the Cluster! Cluster Version is: "
                                              f"v{k.k8s_minor}. git version: {k.k8s_version}. git tree state: clean. "
                                              "commit: " + hexstr(rng, 40) + ". platform: linux/amd64"),
                 ("ipamd/ipamd.go:463", "Setting up host network... "),
                 ("networkutils/network.go:352", f"Using primary ENI interface {k.primary_iface}"),
                 ("ipamd/ipamd.go:1034", f"Successfully created and attached a new ENI {enis[-1]['ID']} to instance"),
                 ("ipamd/ipamd.go:1117", f"Added ENI({enis[-1]['ID']})'s IP/Prefix {world.ena[-1].ip}/32 to datastore")]
    head = []
    at = start
    for caller, msg in head_msgs:
        at += timedelta(milliseconds=rng.randint(3, 900))
        head.append(f'{{"level":"info","ts":"{timefmt.rfc3339milli(at)}","caller":"{caller}","msg":"{msg}"}}')
    tail = []
    at = world.recent_start
    per_eni = world.itype.ips_per_eni - 1
    events: list[tuple[datetime, str]] = []
    while at < world.collected - timedelta(seconds=20):
        at += timedelta(seconds=rng.uniform(25, 70))
        events.append((at, f'{{"level":"debug","ts":"{timefmt.rfc3339milli(at)}","caller":"ipamd/ipamd.go:669",'
                           f'"msg":"IP pool stats for network card 0: Total IPs/Prefixes = {2 * per_eni}/0, '
                           f'AssignedIPs/CooldownIPs: {assigned}/0, c.maxIPsPerENI = {per_eni}"}}'))
    for at in world.failure_times[2::5]:
        events.append((at, f'{{"level":"error","ts":"{timefmt.rfc3339milli(at)}","caller":"ipamd/ipamd.go:1569",'
                           f'"msg":"Failed to get pod ENI config: Get \\"https://{world.kubernetes_svc_ip}:443/api/v1/'
                           f'nodes/{world.hostname}\\": dial tcp {world.kubernetes_svc_ip}:443: i/o timeout"}}'))
    events.sort(key=lambda e: e[0])
    tail = [line for _, line in events]
    parts: list[Part] = [lines_text(head).encode()]
    if filler_bytes:
        parts.append(FillerPart("ipamd", filler_bytes, world, world.quiet_start, world.recent_start,
                                f"{spec.seed}:filler:ipamd"))
    parts.append(lines_text(tail).encode())
    bundle.add_parts("var_log/aws-routed-eni/ipamd.log", parts)
    plugin = []
    at = world.boot + timedelta(seconds=104)
    for pod in world.pods:
        if pod.host_network:
            continue
        at += timedelta(seconds=rng.uniform(0.4, 3))
        plugin.append(f'{{"level":"info","ts":"{timefmt.rfc3339milli(at)}","caller":"routed-eni-cni-plugin/cni.go:'
                      f'125","msg":"Received CNI add request: ContainerID({hexstr(rng, 64)}) Netns(/var/run/netns/cni-'
                      f'{hexstr(rng, 8)}-{hexstr(rng, 4)}) IfName(eth0) Args(K8S_POD_INFRA_CONTAINER_ID={hexstr(rng, 64)};'
                      f'K8S_POD_UID={pod.uid};IgnoreUnknown=1;K8S_POD_NAMESPACE={pod.namespace};K8S_POD_NAME={pod.name}) '
                      'Path(/opt/cni/bin) argsStdinData({\\"cniVersion\\":\\"0.4.0\\",\\"mtu\\":\\"9001\\",\\"name\\":'
                      '\\"aws-cni\\",\\"type\\":\\"aws-cni\\",\\"vethPrefix\\":\\"eni\\"})"}')
        plugin.append(f'{{"level":"info","ts":"{timefmt.rfc3339milli(at)}","caller":"routed-eni-cni-plugin/cni.go:'
                      f'283","msg":"Received add network response from ipamd for container {hexstr(rng, 64)} '
                      f'interface eth0: Success:true  IPAllocationMetadata:{{IPv4Addr:\\"{pod.ip}\\"  '
                      f'DeviceNumber:{0 if pod.eni == "primary" else 1}  RouteTableId:{254 if pod.eni == "primary" else 2}}}  '
                      f'VPCv4CIDRs:\\"{world.vpc_cidr}\\""}}')
    bundle.add("var_log/aws-routed-eni/plugin.log", lines_text(plugin))
    bundle.add("var_log/aws-routed-eni/network-policy-agent.log", lines_text([
        f'{{"level":"info","ts":"{timefmt.rfc3339milli(start)}","logger":"setup","caller":"runtime/proc.go:272",'
        '"msg":"version","GitVersion":"","GitCommit":"","BuildDate":""}',
        f'{{"level":"info","ts":"{timefmt.rfc3339milli(start)}","logger":"setup","caller":"runtime/proc.go:272",'
        '"msg":"Network Policy is disabled, skipping startup"}']))


def cloud_init(world: World, bundle: Bundle) -> None:
    """cloud-init logs; with red herrings, the user-data echoes runbook text and a sysctl drop-in."""
    spec, k = world.spec, world.kernel
    rng = rng_for(spec, "cloud-init")
    boot = world.boot
    version = "19.3-46.amzn2.0.4" if k.is_al2 else "22.2.2"

    def stamp(seconds: float) -> str:
        at = boot + timedelta(seconds=seconds)
        return f"{at:%a, %d %b %Y %H:%M:%S} +0000"

    out = [f"Cloud-init v. {version} running 'init-local' at {stamp(6.2)}. Up 6.21 seconds.",
           f"Cloud-init v. {version} running 'init' at {stamp(7.9)}. Up 7.91 seconds.",
           "ci-info: ++++++++++++++++++++++++++++++++++++++Net device info+++++++++++++++++++++++++++++++++++++++",
           "ci-info: +--------+------+-----------------------------+---------------+--------+-------------------+",
           "ci-info: | Device |  Up  |           Address           |      Mask     | Scope  |     Hw-Address    |",
           "ci-info: +--------+------+-----------------------------+---------------+--------+-------------------+",
           f"ci-info: | {k.primary_iface:<6} | True | {world.node_ip:<27} | 255.255.224.0 | global | "
           f"{world.ena[0].mac} |",
           "ci-info: |   lo   | True |          127.0.0.1          |   255.0.0.0   |  host  |         .         |",
           "ci-info: +--------+------+-----------------------------+---------------+--------+-------------------+",
           f"Cloud-init v. {version} running 'modules:config' at {stamp(12.4)}. Up 12.40 seconds.",
           f"Cloud-init v. {version} running 'modules:final' at {stamp(13.1)}. Up 13.10 seconds."]
    if k.is_al2:
        out += [f"+ /etc/eks/bootstrap.sh {spec.cluster} --kubelet-extra-args '--node-labels=eks.amazonaws.com/"
                "nodegroup=general,eks.amazonaws.com/capacityType=ON_DEMAND'",
                f"Using kubelet version {k.k8s_version.split('-')[0].lstrip('v')}", "true",
                "Using containerd as the container runtime", "true", "‘/etc/eks/containerd/containerd-config.toml’ -> "
                "‘/etc/containerd/config.toml’",
                "‘/etc/eks/containerd/sandbox-image.service’ -> ‘/etc/systemd/system/sandbox-image.service’",
                "Created symlink from /etc/systemd/system/multi-user.target.wants/kubelet.service to "
                "/etc/systemd/system/kubelet.service."]
    if spec.with_red_herrings:
        # Words of the runbook that are not evidence: an echoed how-to, a grep that matched nothing,
        # an unapplied sysctl drop-in and a metrics config naming the ENA counters.
        out += ["+ echo 'Runbook D3: if dmesg shows \"nf_conntrack: table full, dropping packet\", raise "
                "net.netfilter.nf_conntrack_max'",
                "Runbook D3: if dmesg shows \"nf_conntrack: table full, dropping packet\", raise "
                "net.netfilter.nf_conntrack_max",
                "+ grep -c 'nf_conntrack: table full' /var/log/messages", "0",
                "+ cat /etc/sysctl.d/99-conntrack.conf", "net.netfilter.nf_conntrack_max = 1048576",
                "net.netfilter.nf_conntrack_buckets = 262144",
                "+ cat /opt/aws/amazon-cloudwatch-agent/etc/ethtool.json",
                '{"metrics":{"metrics_collected":{"ethtool":{"interface_include":["' + k.primary_iface + '"],'
                '"metrics_include":["conntrack_allowance_exceeded","conntrack_allowance_available",'
                '"linklocal_allowance_exceeded","pps_allowance_exceeded"]}}}}']
    out.append(f"Cloud-init v. {version} finished at {stamp(41.5)}. Datasource DataSourceEc2.  Up 41.52 seconds")
    bundle.add("var_log/cloud-init-output.log", lines_text(out))
    log = [f"{boot + timedelta(seconds=6.2):%Y-%m-%d %H:%M:%S},{rng.randint(100, 999)} - util.py[DEBUG]: Cloud-init "
           f"v. {version} running 'init-local' at {stamp(6.2)}. Up 6.21 seconds.",
           f"{boot + timedelta(seconds=7.1):%Y-%m-%d %H:%M:%S},{rng.randint(100, 999)} - DataSourceEc2.py[DEBUG]: "
           "Fetching Ec2 IMDSv2 API Token",
           f"{boot + timedelta(seconds=7.2):%Y-%m-%d %H:%M:%S},{rng.randint(100, 999)} - url_helper.py[DEBUG]: [0/1] "
           "open 'http://169.254.169.254/latest/meta-data/instance-id' with {'url': "
           "'http://169.254.169.254/latest/meta-data/instance-id', 'allow_redirects': True, 'method': 'GET'} configuration",
           f"{boot + timedelta(seconds=7.3):%Y-%m-%d %H:%M:%S},{rng.randint(100, 999)} - util.py[DEBUG]: Read "
           f"{len(spec.instance_id)} bytes from /var/lib/cloud/data/instance-id",
           f"{boot + timedelta(seconds=41.5):%Y-%m-%d %H:%M:%S},{rng.randint(100, 999)} - util.py[DEBUG]: cloud-init "
           f"mode 'modules' took {rng.uniform(20, 30):.3f} seconds ({rng.uniform(20, 30):.2f})"]
    if spec.with_red_herrings:
        log.insert(4, f"{boot + timedelta(seconds=13.4):%Y-%m-%d %H:%M:%S},{rng.randint(100, 999)} - util.py[DEBUG]: "
                      "Writing to /etc/sysctl.d/99-conntrack.conf - wb: [644] 84 bytes")
    bundle.add("var_log/cloud-init.log", lines_text(log))
    if k.is_al2:
        bundle.add("var_log/cron", lines_text(
            f"{timefmt.syslog(world.recent_start + timedelta(minutes=m))} {world.short_hostname} CROND[{rng.randint(9000, 30000)}]: "
            "(root) CMD (run-parts /etc/cron.hourly)" for m in (7, 67, 127)))


def kubelet_misc(world: World, bundle: Bundle) -> None:
    bundle.add("kubelet/kubeconfig.yaml", kubeconfig(world))
    bundle.add("kubelet/kubelet_service.txt", kubelet_service(world))
    bundle.add("kubelet/svc.log", "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\n"
                                  f"kubernetes   ClusterIP   {world.kubernetes_svc_ip}   <none>        443/TCP   "
                                  f"{max(3, (world.collected - world.boot).days + 40)}d\n")
    name = "kubelet-config.json" if world.kernel.is_al2 else "config.json"
    bundle.add(f"kubelet/{name}", kubelet_config(world))


def build(world: World, bundle: Bundle, fillers: dict[str, int]) -> None:
    storage(world, bundle)
    system(world, bundle)
    containerd_misc(world, bundle)
    ipamd(world, bundle, fillers.get("ipamd", 0))
    cloud_init(world, bundle)
    kubelet_misc(world, bundle)
