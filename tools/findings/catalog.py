"""The reviewed catalog of what the findings index recognises.

Every regex here is ours, written in the syntax RE2 and ripgrep share (no look-around, no
backreferences), so the index runs them on a linear-time engine like any other query. Patterns
that stand for a kernel event are anchored to kernel log sources *and* to the position where the
kernel's message starts (after the dmesg bracket prefix, or after `kernel: ` in syslog), so an
application that logs or quotes "nf_conntrack: table full" does not become a kernel finding.

ENA allowance counters and conntrack utilisation are not text matches at all: they come from the
parsed `ethtool -S` / `sysctl` / `conntrack -S` output, and a counter is a finding only when its
parsed value crosses the threshold — `conntrack_allowance_exceeded: 0` never is.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Literal

import re2
from pydantic import BaseModel, ConfigDict, Field

from runbooks.model import Severity
from tools.findings.model import CATEGORIES
from tools.search_engine import glob_matches

PatternKind = Literal["line", "ethtool_counter", "sysctl_ratio", "conntrack_stat"]

# Bump when the index's own logic changes in a way that alters findings (the catalog's content
# is hashed into CATALOG_VERSION automatically).
INDEX_LOGIC_VERSION = 1


class Pattern(BaseModel):
    """One thing the index recognises.

    `files`: globs (ripgrep semantics: `*` stays in a path segment, `**` crosses segments, a glob
    without `/` matches the file name at any depth) of the bundle files this pattern applies to;
    None means every line-scanned file. `exclude`: globs of files it never applies to.
    `kind` "line" matches `regex` against each line; the other kinds read a parsed `counter`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    regex: str | None = None
    severity: Severity
    category: str
    title: str
    files: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    kind: PatternKind = "line"
    counter: str | None = None
    threshold: float = 0
    # A cheaper regex that every line matching `regex` also matches (the kernel-message anchor
    # removed): the index searches files with it and confirms candidates with `regex`.
    prefilter: str | None = None

    @property
    def search_regex(self) -> str | None:
        return self.prefilter or self.regex

    def applies_to(self, rel: str) -> bool:
        if any(glob_matches(g, rel) for g in self.exclude):
            return False
        return self.files is None or any(glob_matches(g, rel) for g in self.files)


# Where kernel messages live in a bundle (dmesg snapshots, rsyslog/Ubuntu syslog, kern.log),
# rotated generations included.
KERNEL_SOURCES = ["kernel/dmesg*", "var_log/messages*", "var_log/syslog*", "**/kern.log*"]
NMA_LOGS = ["var_log/**eks-node-monitoring-agent**"]
KUBE_PROXY_LOGS = ["var_log/**kube-proxy**"]
ETHTOOL_FILE = "networking/ethtool.txt"
SYSCTL_FILE = "sysctls/sysctl_all.txt"
CONNTRACK_FILE = "networking/conntrack.txt"

# Start of a kernel message: after one or two dmesg brackets (`[104235.156774] `,
# `[   32.298491][  T896] `, `[Wed Jul 30 14:02:11 2026] `) at the start of the line, or after
# `kernel: ` (plus Ubuntu's kept uptime bracket) in a syslog line.
_K = r"(?:^(?:\[[^\]\n]{1,40}\]){1,2} ?|\bkernel: (?:\[[^\]\n]{1,40}\](?:\[[^\]\n]{1,12}\])? ?)?)"


def _line(
    id: str,
    regex: str,
    severity: Severity,
    category: str,
    title: str,
    files: list[str] | None = None,
    exclude: list[str] | None = None,
) -> Pattern:
    return Pattern(
        id=id, regex=regex, severity=severity, category=category, title=title, files=files, exclude=exclude or []
    )


def _kernel(id: str, message: str, severity: Severity, category: str, title: str) -> Pattern:
    """A kernel message: only in kernel log sources, only where the kernel's message starts."""
    return Pattern(
        id=id, regex=_K + f"(?:{message})", prefilter=message, severity=severity, category=category,
        title=title, files=KERNEL_SOURCES,
    )  # fmt: skip


def _ena(counter: str, severity: Severity, title: str) -> Pattern:
    return Pattern(
        id=f"ena-{counter.replace('_', '-')}",
        kind="ethtool_counter",
        counter=counter,
        threshold=0,
        severity=severity,
        category="ena_allowance",
        title=title,
        files=[ETHTOOL_FILE],
    )


PATTERNS: tuple[Pattern, ...] = (
    # --- conntrack: kernel table ---------------------------------------------------------------
    _kernel(
        "conntrack-table-full",
        r"(?:ip|nf)_conntrack: (?:nf_conntrack: )?table full(?: in netns \d+)?, dropping packet",
        "CRITICAL", "conntrack_table_full", "kernel conntrack table full, dropping packet",
    ),
    _kernel(
        "net-ratelimit", r"net_ratelimit: \d+ callbacks suppressed",
        "INFO", "kernel", "kernel rate-limited repeated messages (net_ratelimit)",
    ),
    _line(
        "nma-conntrack-exceeded-kernel", r"\bConntrackExceededKernel\b",
        "CRITICAL", "conntrack_table_full", "node monitoring agent: ConntrackExceededKernel", files=NMA_LOGS,
    ),
    Pattern(
        id="conntrack-near-capacity", kind="sysctl_ratio", counter="nf_conntrack_count", threshold=0.9,
        severity="WARNING", category="kernel", title="conntrack table near capacity (count/max)",
        files=[SYSCTL_FILE],
    ),
    Pattern(
        id="conntrack-stats-drop", kind="conntrack_stat", counter="drop", threshold=0,
        severity="WARNING", category="kernel",
        title="conntrack -S: packets dropped because no conntrack entry could be created", files=[CONNTRACK_FILE],
    ),
    Pattern(
        id="conntrack-stats-early-drop", kind="conntrack_stat", counter="early_drop", threshold=0,
        severity="WARNING", category="kernel",
        title="conntrack -S: entries evicted early to make room (table at max)", files=[CONNTRACK_FILE],
    ),
    # --- EC2 / ENA allowances (parsed ethtool -S counters; > 0 only) ----------------------------
    _ena("conntrack_allowance_exceeded", "CRITICAL", "EC2 connection-tracking allowance exceeded (ENA counter)"),
    _ena("linklocal_allowance_exceeded", "HIGH", "link-local (DNS/IMDS/NTP) packet allowance exceeded (ENA counter)"),
    _ena("pps_allowance_exceeded", "HIGH", "packets-per-second allowance exceeded (ENA counter)"),
    _ena("bw_in_allowance_exceeded", "HIGH", "inbound bandwidth allowance exceeded (ENA counter)"),
    _ena("bw_out_allowance_exceeded", "HIGH", "outbound bandwidth allowance exceeded (ENA counter)"),
    _line(
        "nma-conntrack-exceeded",
        r"\bConntrackExceeded\b|conntrack_allowance_exceeded increased on interface",
        "CRITICAL", "ena_allowance", "node monitoring agent: ConntrackExceeded (EC2 allowance)", files=NMA_LOGS,
    ),
    _line(
        "nma-allowance-exceeded",
        r"\b(?:BandwidthInExceeded|BandwidthOutExceeded|PPSExceeded|LinkLocalExceeded)\b",
        "HIGH", "ena_allowance", "node monitoring agent: ENA allowance exceeded event", files=NMA_LOGS,
    ),
    # --- DNS ----------------------------------------------------------------------------------
    _line(
        "dns-io-timeout", r"\b(?:read|write|dial) (?:udp|tcp)[46]? \S*:53: i/o timeout",
        "HIGH", "dns", "DNS query timed out (i/o timeout to :53)",
    ),
    _line(
        "dns-eai-again", r"\bEAI_AGAIN\b|Temporary failure in name resolution",
        "HIGH", "dns", "DNS temporary resolution failure (EAI_AGAIN)",
    ),
    _line("dns-no-such-host", r"\bno such host\b", "WARNING", "dns", "DNS name not found (no such host)"),
    _line(
        "dns-servfail", r"\bSERVFAIL\b|\bserver misbehaving\b", "WARNING", "dns", "DNS upstream SERVFAIL",
    ),
    # --- memory -------------------------------------------------------------------------------
    _kernel(
        "oom-kill", r"(?:(?:Memory cgroup out of memory|Out of memory): )?Kill(?:ed)? process \d+",
        "CRITICAL", "oom", "kernel OOM killer killed a process",
    ),
    _kernel("oom-invoked", r"\S+ invoked oom-killer:", "HIGH", "oom", "kernel OOM killer invoked"),
    _line("container-oomkilled", r"\bOOMKilled\b", "WARNING", "oom", "container terminated: OOMKilled"),
    # --- VPC CNI / IPAMD ----------------------------------------------------------------------
    _line(
        "ipamd-insufficient-addresses", r"\bInsufficientFreeAddressesInSubnet\b",
        "CRITICAL", "ip_exhaustion", "subnet has no free IP addresses (InsufficientFreeAddressesInSubnet)",
    ),
    _line(
        "ipamd-no-available-ip", r"(?i:no available IP/Prefix addresses)",
        "HIGH", "ip_exhaustion", "IPAMD has no available IP/prefix addresses",
    ),
    _line(
        "ipamd-assign-failed", r"(?i:failed to assign an IP address)",
        "HIGH", "ip_exhaustion", "failed to assign an IP address to a pod",
    ),
    _line(
        "cni-network-not-ready", r"\bContainer runtime network not ready\b|\bcni config uninitialized\b",
        "HIGH", "cni", "container runtime network not ready (CNI)",
    ),
    # --- kube-proxy ---------------------------------------------------------------------------
    _line(
        "kube-proxy-iptables-restore",
        r"(?i:failed to execute iptables-restore|iptables-restore(?:: line \d+)? failed)",
        "HIGH", "kube_proxy", "kube-proxy rule sync failed (iptables-restore)", files=KUBE_PROXY_LOGS,
    ),
    # --- kubelet ------------------------------------------------------------------------------
    _line("pleg-unhealthy", r"\bPLEG is not healthy\b", "HIGH", "pleg", "kubelet PLEG is not healthy"),
    _line(
        "kubelet-not-ready", r"\bNode became not ready\b|\bstatus is now: NodeNotReady\b",
        "HIGH", "kubelet", "node became NotReady",
    ),
    # --- disk ---------------------------------------------------------------------------------
    _line(
        "disk-pressure",
        r"\bNodeHasDiskPressure\b|\bnode\.kubernetes\.io/disk-pressure\b|\bDiskPressure\W{1,4}True\b",
        "HIGH", "disk_pressure", "node under disk pressure (DiskPressure)",
    ),
    _line(
        "eviction-reclaim-disk",
        r"(?i:eviction manager: attempting to reclaim)\W{0,4}(?:resourceName\W{1,3})?"
        r"(?:ephemeral-storage|nodefs|imagefs|inodes)",
        "HIGH", "disk_pressure", "kubelet evicting pods to reclaim disk or inodes",
    ),
    _line("no-space-left", r"(?i:no space left on device)", "HIGH", "disk_pressure", "no space left on device"),
    # --- certificates -------------------------------------------------------------------------
    _line(
        "x509-expired", r"(?i:x509: certificate has expired|certificate has expired or is not yet valid)",
        "CRITICAL", "certificate", "certificate has expired or is not yet valid",
    ),
    _line(
        "x509-unknown-authority", r"\bx509: certificate signed by unknown authority\b",
        "HIGH", "certificate", "certificate signed by unknown authority",
    ),
    # --- kernel -------------------------------------------------------------------------------
    _kernel("kernel-panic", r"Kernel panic - not syncing", "CRITICAL", "kernel", "kernel panic"),
    _kernel(
        "soft-lockup", r"watchdog: BUG: soft lockup - CPU#\d+ stuck", "CRITICAL", "kernel", "kernel soft lockup",
    ),
    _kernel(
        "hung-task", r"INFO: task \S+:\d+ blocked for more than \d+ seconds", "HIGH", "kernel", "kernel hung task",
    ),
)

PARSED_FILES: tuple[str, ...] = (ETHTOOL_FILE, SYSCTL_FILE, CONNTRACK_FILE)


def _version() -> str:
    body = json.dumps([p.model_dump(mode="json") for p in PATTERNS], sort_keys=True)
    return f"{INDEX_LOGIC_VERSION}-{hashlib.sha256(body.encode()).hexdigest()[:12]}"


CATALOG_VERSION: str = _version()

_BY_ID: dict[str, Pattern] = {p.id: p for p in PATTERNS}


def get_pattern(pattern_id: str) -> Pattern | None:
    return _BY_ID.get(pattern_id)


def line_patterns() -> list[Pattern]:
    return [p for p in PATTERNS if p.kind == "line"]


def is_line_scanned(rel: str) -> bool:
    """Files owned by a parser (ethtool, sysctl, conntrack) are parsed, never line-matched."""
    return rel not in PARSED_FILES


def line_patterns_for(rel: str) -> tuple[Pattern, ...]:
    """The line patterns that apply to one bundle file (empty for parser-owned files)."""
    if not is_line_scanned(rel):
        return ()
    return tuple(p for p in PATTERNS if p.kind == "line" and p.applies_to(rel))


def re2_options() -> re2.Options:
    options = re2.Options()
    options.max_mem = 64 << 20
    options.log_errors = False
    return options


@cache
def compiled(pattern_id: str) -> re2._Regexp:
    p = _BY_ID[pattern_id]
    if p.regex is None:
        raise ValueError(f"pattern {pattern_id!r} is a {p.kind} pattern and has no regex")
    return re2.compile(p.regex, re2_options())


def pattern_matches(pattern_id: str, text: str) -> bool:
    """Whether `text` (one line) is evidence for line pattern `pattern_id`.

    False for unknown ids and for counter patterns: their evidence is a parsed value, not a match.
    """
    p = _BY_ID.get(pattern_id)
    if p is None or p.kind != "line":
        return False
    return compiled(pattern_id).search(text) is not None


def classify_line(rel: str, text: str) -> list[Pattern]:
    """The line patterns for which `text`, read from bundle file `rel`, is evidence."""
    return [p for p in line_patterns_for(rel) if compiled(p.id).search(text) is not None]


def _check() -> None:
    """Fail at import on a malformed catalog: a typo here would silently drop evidence."""
    seen: set[str] = set()
    for p in PATTERNS:
        if p.id in seen:
            raise ValueError(f"duplicate pattern id {p.id!r}")
        seen.add(p.id)
        if p.category not in CATEGORIES:
            raise ValueError(f"pattern {p.id!r}: category {p.category!r} is not in the vocabulary")
        if (p.kind == "line") != (p.regex is not None):
            raise ValueError(f"pattern {p.id!r}: line patterns need a regex, counter patterns a counter")
        if p.kind != "line" and not p.counter:
            raise ValueError(f"pattern {p.id!r}: {p.kind} needs a counter")


_check()
