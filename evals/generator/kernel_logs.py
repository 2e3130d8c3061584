"""The kernel's log: boot, ENI hot-plug, pod veths, the conntrack warnings (section 2.1).

The `table full` warning comes from softirq context (`C<cpu>` caller id), in bursts limited by
net_warn_ratelimit with `net_ratelimit: N callbacks suppressed` between bursts, and carries the
doubled `nf_conntrack: nf_conntrack:` prefix on every AL2/AL2023 kernel (pr_fmt + literal).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from evals.generator.files import Bundle, lines_text
from evals.generator.records import KernelRecord, dmesg_human, dmesg_raw
from evals.generator.world import World, hexstr, rng_for, rng_uuid

TABLE_FULL = "nf_conntrack: nf_conntrack: table full, dropping packet"


def table_full_text(netns: int | None) -> str:
    if netns is None:
        return TABLE_FULL
    return f"nf_conntrack: nf_conntrack: table full in netns {netns}, dropping packet"


def _boot(world: World) -> list[tuple[float, str, str]]:
    """(uptime seconds, text, caller) of a Nitro instance boot, per AMI family."""
    k, itype = world.kernel, world.itype
    rng = rng_for(world.spec, "boot")
    primary = next(i for i in world.ena if i.name == k.primary_iface)
    mem_kib = int(itype.mem_gib * 1024 * 1024)
    end = 0x100000000 + int(itype.mem_gib * 1024**3) - 0xC0000000 - 1
    root_uuid = rng_uuid(rng)
    if k.is_al2:
        gcc = ("gcc version 7.3.1 20180712 (Red Hat 7.3.1-17) (GCC)" if k.key == "al2-4.14" else
               "gcc10-gcc (GCC) 10.5.0 20230707 (Red Hat 10.5.0-1), GNU ld version 2.35.2-9.amzn2.0.1")
        cmdline = (f"BOOT_IMAGE=/boot/vmlinuz-{k.release} root=UUID={root_uuid} ro console=tty0 "
                   "console=ttyS0,115200n8 net.ifnames=0 biosdevname=0 nvme_core.io_timeout=4294967295 "
                   "rd.emergency=poweroff rd.shell=0")
        systemd = ("systemd 219 running in system mode. (+PAM +AUDIT +SELINUX +IMA -APPARMOR +SMACK +SYSVINIT "
                   "+UTMP +LIBCRYPTSETUP +GCRYPT +GNUTLS +ACL +XZ +LZ4 -SECCOMP +BLKID +ELFUTILS +KMOD +IDN)")
        proto = "NET: Registered protocol family 16"
        inet = "NET: Registered protocol family 2"
        parts = "nvme0n1: p1 p128"
    else:
        gcc = "gcc (GCC) 11.5.0 20240719 (Red Hat 11.5.0-5), GNU ld version 2.41-50.amzn2023.0.2"
        cmdline = (f"BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz-{k.release} root=UUID={root_uuid} ro console=tty0 "
                   "console=ttyS0,115200n8 nvme_core.io_timeout=4294967295 rd.emergency=poweroff rd.shell=0 "
                   "selinux=1 security=selinux quiet numa_cma=1:64M")
        systemd = ("systemd 252.23-2.amzn2023 running in system mode (+PAM +AUDIT +SELINUX -APPARMOR +IMA "
                   "+SMACK +SECCOMP -GCRYPT -GNUTLS +OPENSSL +ACL +BLKID +CURL +ELFUTILS +FIDO2 +IDN2 -IDN "
                   "-IPTC +KMOD +LIBCRYPTSETUP +LIBFDISK +PCRE2 -PWQUALITY +P11KIT -QRENCODE +TPM2 +BZIP2 +LZ4 "
                   "+XZ +ZLIB +ZSTD -BPF_FRAMEWORK +XKBCOMMON +UTMP +SYSVINIT default-hierarchy=unified)")
        proto = "NET: Registered PF_NETLINK/PF_ROUTE protocol family"
        inet = "NET: Registered PF_INET protocol family"
        parts = "nvme0n1: p1 p127 p128"
    cpu = ("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz (family: 0x6, model: 0x55, stepping: 0x7)"
           if itype.name.startswith(("m5", "c5", "r5", "t3")) else
           "Intel(R) Xeon(R) Platinum 8488C (family: 0x6, model: 0x8f, stepping: 0x8)")
    lines: list[tuple[float, str]] = [
        (0.0, f"Linux version {k.release} (mockbuild@ip-10-0-{rng.randint(1, 60)}-{rng.randint(2, 250)}) "
              f"({gcc}) {k.build}"),
        (0.0, f"Command line: {cmdline}"),
        (0.0, "BIOS-provided physical RAM map:"),
        (0.0, "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"),
        (0.0, "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved"),
        (0.0, "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved"),
        (0.0, "BIOS-e820: [mem 0x0000000000100000-0x00000000bffe9fff] usable"),
        (0.0, "BIOS-e820: [mem 0x00000000bffea000-0x00000000bfffffff] reserved"),
        (0.0, "BIOS-e820: [mem 0x00000000e0000000-0x00000000e03fffff] reserved"),
        (0.0, "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved"),
        (0.0, f"BIOS-e820: [mem 0x0000000100000000-0x{max(end, 0x100000000):016x}] usable"),
        (0.0, "NX (Execute Disable) protection: active"),
        (0.0, "SMBIOS 2.7 present."),
        (0.0, f"DMI: Amazon EC2 {itype.name}/, BIOS 1.0 10/16/2017"),
        (0.0, "Hypervisor detected: KVM"),
        (0.0, "kvm-clock: Using msrs 4b564d01 and 4b564d00"),
        (0.0, f"kvm-clock: using sched offset of {rng.randint(4_000_000_000, 9_000_000_000)} cycles"),
        (0.000002, "clocksource: kvm-clock: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, "
                   "max_idle_ns: 881590591483 ns"),
        (0.000005, "tsc: Detected 2500.000 MHz processor"),
        (0.001254, "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved"),
        (0.004731, "Using GB pages for direct mapping"),
        (0.005811, f"RAMDISK: [mem 0x{rng.randrange(0x30000, 0x37000):05x}000-0x37d3efff]"),
        (0.006002, "ACPI: Early table checksum verification disabled"),
        (0.006010, "ACPI: RSDP 0x00000000000F8F00 000014 (v00 AMAZON)"),
        (0.012114, "No NUMA configuration found"),
        (0.031802, f"Memory: {mem_kib - rng.randint(180_000, 260_000)}K/{mem_kib}K available"),
        (0.032117, f"SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs={itype.vcpus}, Nodes=1"),
        (0.034010, "rcu: Hierarchical RCU implementation."),
        (0.041511, "Console: colour VGA+ 80x25"),
        (0.042012, "printk: console [tty0] enabled" if not k.is_al2 else "console [tty0] enabled"),
        (0.043120, "ACPI: Core revision 20220331" if not k.is_al2 else "ACPI: Core revision 20170728"),
        (0.051234, "APIC: Switch to symmetric I/O mode setup"),
        (0.062345, f"Calibrating delay loop (skipped) preset value.. 5000.00 BogoMIPS (lpj={2500000 * 4})"),
        (0.171002, f"smpboot: CPU0: {cpu}"),
        (0.180231, "smp: Bringing up secondary CPUs ..."),
        (0.196500, f"smp: Brought up 1 node, {itype.vcpus} CPUs"),
        (0.201117, "devtmpfs: initialized"),
        (0.210345, proto),
        (0.281110, "PCI: Using configuration type 1 for base access"),
        (0.402210, "pci 0000:00:05.0: [1d0f:ec20] type 00 class 0x020000"),
        (0.455120, "clocksource: Switched to clocksource kvm-clock"),
        (0.468231, inet),
        (0.470002, "TCP established hash table entries: 65536 (order: 7, 524288 bytes, linear)"),
        (0.612345, f"Freeing initrd memory: {rng.randint(15000, 21000)}K"),
        (1.101234, "Run /init as init process"),
        (1.391020, f"systemd[1]: {systemd}"),
        (1.391210, "systemd[1]: Detected virtualization amazon."),
        (1.391230, "systemd[1]: Detected architecture x86-64."),
        (1.512345, "nvme nvme0: pci function 0000:00:04.0"),
        (1.538120, f"nvme nvme0: {itype.vcpus}/0/0 default/read/poll queues"),
        (1.540511, f" {parts}"),
        (1.801234, f"ena 0000:00:05.0: Elastic Network Adapter (ENA) v{k.ena_version}"),
        (1.812340, "ena 0000:00:05.0: ENA device version: 0.10"),
        (1.812351, "ena 0000:00:05.0: ENA controller version: 0.0.1 implementation version 1"),
        (1.901234, f"ena 0000:00:05.0: Elastic Network Adapter (ENA) found at mem febf4000, mac addr {primary.mac}"),
    ]
    if not k.is_al2:
        lines.append((2.213456, f"ena 0000:00:05.0 {k.primary_iface}: renamed from eth0"))
    lines += [
        (2.801234, "XFS (nvme0n1p1): Mounting V5 Filesystem"),
        (2.911234, "XFS (nvme0n1p1): Ending clean mount"),
        (3.411002, "systemd-journald[1123]: Received SIGTERM from PID 1 (systemd)."),
        (4.120034, "RPC: Registered named UNIX socket transport module."),
        (4.901234, "NET: Registered PF_VSOCK protocol family" if not k.is_al2 else "NET: Registered protocol family 40"),
    ]
    if k.key == "al2-4.14":
        lines.append((5.102345, f"IPv6: ADDRCONF(NETDEV_UP): {k.primary_iface}: link is not ready"))
    return [(t, text, f"T{1 if t < 1.2 else 200 + int(t * 37)}") for t, text in lines]


def kernel_records(world: World) -> list[KernelRecord]:
    """Every kernel line of this boot, in time order."""
    k, boot = world.kernel, world.boot
    rng = rng_for(world.spec, "kmsg")
    records = [KernelRecord(boot + timedelta(seconds=t), text, caller) for t, text, caller in _boot(world)]
    secondary = next(i for i in world.ena if i.name == k.secondary_iface)
    attach = boot + timedelta(seconds=rng.uniform(68, 80))
    hotplug = [
        "pci 0000:00:06.0: [1d0f:ec20] type 00 class 0x020000",
        "pci 0000:00:06.0: reg 0x10: [mem 0x00000000-0x00003fff]",
        "pci 0000:00:06.0: BAR 0: assigned [mem 0xc0000000-0xc0003fff]",
        "ena 0000:00:06.0: enabling device (0000 -> 0002)",
        "ena 0000:00:06.0: ENA device version: 0.10",
        "ena 0000:00:06.0: ENA controller version: 0.0.1 implementation version 1",
        f"ena 0000:00:06.0: Elastic Network Adapter (ENA) found at mem c0000000, mac addr {secondary.mac}",
    ]
    if not k.is_al2:
        hotplug.append(f"ena 0000:00:06.0 {k.secondary_iface}: renamed from eth0")
    for offset, text in enumerate(hotplug):
        records.append(KernelRecord(attach + timedelta(milliseconds=offset * 7 + rng.randint(0, 5)), text, "T48"))
    # kube-proxy's first conntrack flush loads the netlink modules.
    proxy_start = boot + timedelta(seconds=rng.uniform(92, 99))
    records.append(KernelRecord(proxy_start, "Netfilter messages via NETLINK v0.30.", f"T{rng.randint(3000, 3999)}"))
    records.append(KernelRecord(proxy_start + timedelta(microseconds=2311), "ctnetlink v0.93: registering with nfnetlink.",
                                f"T{rng.randint(3000, 3999)}"))
    pod_start = boot + timedelta(seconds=rng.uniform(105, 115))
    veths = [i for i in world.interfaces if i.kind == "veth"]
    for index, veth in enumerate(veths):
        at = pod_start + timedelta(seconds=index * rng.uniform(0.5, 4.0))
        caller = f"T{rng.randint(4000, 9999)}"
        if k.key == "al2-4.14":
            records.append(KernelRecord(at, f"IPv6: ADDRCONF(NETDEV_UP): {veth.name}: link is not ready", caller))
        if k.key != "al2023-6.12":  # the "link becomes ready" message is gone in 6.3+
            records.append(KernelRecord(at + timedelta(microseconds=rng.randint(900, 5000)),
                                        f"IPv6: ADDRCONF(NETDEV_CHANGE): {veth.name}: link becomes ready", caller))
    for event in world.events:
        if event.suppressed:
            records.append(KernelRecord(event.at - timedelta(microseconds=rng.randint(20, 400)),
                                        f"net_ratelimit: {event.suppressed} callbacks suppressed", f"C{event.cpu}"))
        records.append(KernelRecord(event.at, table_full_text(event.netns), f"C{event.cpu}"))
    records.sort(key=lambda r: r.at)
    return records


def dmesg_cleared_at(world: World) -> datetime:
    """In the messages-only variant the ring buffer was read-and-cleared (`dmesg -c`) after the incident."""
    last = world.events[-1].at if world.events else world.incident
    return last + (world.collected - last) / 3


def build(world: World, bundle: Bundle, records: list[KernelRecord]) -> None:
    spec, k = world.spec, world.kernel
    caller = spec.printk_caller
    visible = records
    if spec.kernel_log == "messages_only":
        cleared = dmesg_cleared_at(world)
        visible = [r for r in records if r.at > cleared]
        rng = rng_for(spec, "after-clear")
        # A pod restarted after the clear; its veth is the only news in the ring buffer.
        veth = "eni" + hexstr(rng, 11)
        at = cleared + timedelta(seconds=rng.uniform(5, 30))
        if k.key != "al2023-6.12":
            visible = [*visible, KernelRecord(at, f"IPv6: ADDRCONF(NETDEV_CHANGE): {veth}: link becomes ready",
                                              f"T{rng.randint(4000, 9999)}")]
    bundle.add("kernel/dmesg.current", lines_text(dmesg_raw(r, world.boot, caller) for r in visible))
    bundle.add("kernel/dmesg.human.current", lines_text(dmesg_human(r, caller) for r in visible))
    if k.is_al2:
        # /var/log/dmesg is written once at boot: only the first seconds of the log.
        early = [r for r in records if r.at - world.boot < timedelta(seconds=6)]
        bundle.add("kernel/dmesg.boot", lines_text(dmesg_raw(r, world.boot, caller) for r in early))
    bundle.add("kernel/uname.txt",
               f"Linux {world.hostname} {k.release} {k.build} x86_64 x86_64 x86_64 GNU/Linux\n")
