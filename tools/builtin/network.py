"""network_diagnostics: parsed networking state of one node, section by section.

Every number carries the file and line it was read from, because the report may only state a
count or a limit that the bundle states. Sections that lack their files say so in `gaps` rather
than guessing; that is what lets the report conclude "inconclusive" honestly.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from fnmatch import fnmatch
from typing import Any

from pydantic import Field, field_validator

from tools.builtin.common import InstanceArgs, Result, Source
from tools.bundle.store import BundleRecord
from tools.bundle.textio import iter_lines, read_text
from tools.context import ToolContext
from tools.findings.model import FindingsIndex
from tools.parsers.conntrack import parse_conntrack_file
from tools.parsers.dns import parse_dns_error
from tools.parsers.ethtool import ALLOWANCE_EXCEEDED, parse_ethtool
from tools.parsers.kubeproxy import parse_kube_proxy_conntrack
from tools.parsers.sysctl import conntrack_sysctls
from tools.registry import ToolError, tool

SECTIONS = ("kube_proxy", "ena", "dns", "iptables", "routes", "cni", "ipamd")
_ALIASES = {"eni": "ena", "conntrack": "kube_proxy", "kubeproxy": "kube_proxy"}
LINK_LOCAL_RESOLVERS = ("169.254.169.253",)
_NO_TIME = datetime.min.replace(tzinfo=UTC)


class NetworkArgs(InstanceArgs):
    sections: list[str] = Field(default_factory=lambda: ["all"], description="comma list of " + ", ".join(SECTIONS) + " or all")

    @field_validator("sections", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v


class Issue(Result):
    section: str
    severity: str
    message: str
    sources: list[Source] = Field(default_factory=list)


class NetworkResult(Result):
    instanceId: str
    # The headline numbers as flat scalars, so they survive when a model's view of the result is
    # shortened (nested sections are the first thing a bounded summary drops).
    summary: dict[str, Any]
    sections: list[str]
    diagnostics: dict[str, Any]
    issues: list[Issue]
    finding_ids: list[str]
    gaps: list[str]


def _files(record: BundleRecord, *globs: str) -> list[str]:
    out = [f for f in record.manifest.files if any(fnmatch(f.path, g) or fnmatch(f.logical, g) for g in globs)]
    # Live file first, then older generations: the newest value wins.
    return [f.path for f in sorted(out, key=lambda f: (f.rotation, f.path))]


def _lines(record: BundleRecord, rel: str):
    return iter_lines(record.root / rel)


# Sections are pure functions of a bundle's content, and one diagnosis reads the same ones several
# times (the tool, the evidence rules, the fleet views). A real `conntrack -L` listing has as many
# lines as the table has entries, so parsing it once per bundle rather than once per reader matters.
_SECTION_CACHE: OrderedDict[tuple[str, str, str], tuple[dict[str, Any], list[Issue], list[str]]] = OrderedDict()
_SECTION_CACHE_SIZE = 64
_SECTION_LOCK = threading.Lock()

SectionFunc = Callable[[BundleRecord, list[Issue], list[str]], dict[str, Any]]


def _memoized(name: str, compute: SectionFunc, record: BundleRecord, issues: list[Issue],
              gaps: list[str]) -> dict[str, Any]:
    """`compute`'s result for this bundle content (digest) and location, computed once; callers get
    copies, so none of them can alter what the next one reads."""
    key = (name, record.digest, str(record.root))
    with _SECTION_LOCK:
        hit = _SECTION_CACHE.get(key)
        if hit is not None:
            _SECTION_CACHE.move_to_end(key)
    if hit is None:
        own_issues: list[Issue] = []
        own_gaps: list[str] = []
        hit = (compute(record, own_issues, own_gaps), own_issues, own_gaps)
        with _SECTION_LOCK:
            _SECTION_CACHE[key] = hit
            while len(_SECTION_CACHE) > _SECTION_CACHE_SIZE:
                _SECTION_CACHE.popitem(last=False)
    out, own_issues, own_gaps = hit
    issues.extend(i.model_copy(deep=True) for i in own_issues)
    gaps.extend(own_gaps)
    return copy.deepcopy(out)


def kube_proxy_section(record: BundleRecord, issues: list[Issue], gaps: list[str]) -> dict[str, Any]:
    """conntrack count/max/buckets (sysctl), `conntrack -S` sums and `-L` summary, kube-proxy's setting."""
    return _memoized("kube_proxy", _kube_proxy_section, record, issues, gaps)


def ena_section(record: BundleRecord, issues: list[Issue], gaps: list[str]) -> dict[str, Any]:
    """The ENA allowance counters of every interface that has them."""
    return _memoized("ena", _ena_section, record, issues, gaps)


def _kube_proxy_section(record: BundleRecord, issues: list[Issue], gaps: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"conntrack": None, "stats": None, "table": None, "kube_proxy": None}
    sysctl_files = _files(record, "sysctls/sysctl_all.txt")
    if sysctl_files:
        rel = sysctl_files[0]
        s = conntrack_sysctls(_lines(record, rel))
        util = round(100.0 * s.count / s.max, 2) if s.count is not None and s.max else None
        out["conntrack"] = {
            "count": s.count,
            "max": s.max,
            "utilization_pct": util,
            "buckets": s.buckets,
            "count_source": Source(file=rel, line=s.count_line).model_dump() if s.count is not None else None,
            "max_source": Source(file=rel, line=s.max_line).model_dump() if s.max is not None else None,
            "timeouts": s.timeouts,
        }
        if s.count is None or s.max is None:
            gaps.append(f"{rel} lacks net.netfilter.nf_conntrack_count or _max (truncated?)")
        elif util is not None and util >= 90:
            issues.append(Issue(section="kube_proxy", severity="warning",
                                message=f"conntrack table {util}% full ({s.count}/{s.max})",
                                sources=[Source(file=rel, line=s.count_line), Source(file=rel, line=s.max_line)]))
    else:
        gaps.append("sysctls/sysctl_all.txt is missing: conntrack count and max are unknown")
    ct_files = _files(record, "networking/conntrack.txt")
    if ct_files:
        parsed = parse_conntrack_file(_lines(record, ct_files[0]))
        sums = parsed.stats.sums
        out["stats"] = {
            "file": ct_files[0],
            "form": parsed.stats.form,
            "cpus": parsed.stats.cpus,
            "drop": sums.get("drop"),
            "early_drop": sums.get("early_drop"),
            "insert_failed": sums.get("insert_failed"),
            "invalid": sums.get("invalid"),
            "search_restart": sums.get("search_restart"),
            "clash_resolve": sums.get("clash_resolve"),
        }
        out["table"] = {
            "listed_entries": parsed.table.entries,
            "by_state": dict(Counter(parsed.table.by_state).most_common(8)),
            "by_protocol": parsed.table.by_protocol,
            "top_dports": dict(Counter(parsed.table.by_dport).most_common(8)),
            "unreplied": parsed.table.unreplied,
        }
        if (sums.get("drop") or 0) > 0:
            issues.append(Issue(section="kube_proxy", severity="critical",
                                message=f"conntrack -S drop={sums['drop']} (packets dropped: no conntrack entry could be created)",
                                sources=[Source(file=ct_files[0])]))
    else:
        gaps.append("networking/conntrack.txt is missing: no conntrack -S counters")
    kp_files = _files(record, "var_log/*kube-proxy*", "var_log/**/*kube-proxy*", "var_log/kube-system_kube-proxy*/**")
    settings = []
    # (time, -generation, line) of each setting: kube-proxy may have restarted with another max, and
    # the value in force is the latest one, whichever rotated generation of the log holds it.
    order: list[tuple[datetime, int, int]] = []
    rotation = {m.path: m.rotation for m in record.manifest.files}
    year = record.manifest.collected_at.year if record.manifest.collected_at else None
    for rel in kp_files[:6]:
        for s in parse_kube_proxy_conntrack(_lines(record, rel), year=year):
            settings.append({"key": s.key, "value": s.value, "file": rel, "line": s.line,
                             "ts": s.timestamp.isoformat() if s.timestamp else None})
            order.append((s.timestamp or _NO_TIME, -rotation.get(rel, 0), s.line))
    if kp_files:
        maxes = [i for i, s in enumerate(settings) if s["key"] == "nf_conntrack_max"]
        latest = settings[max(maxes, key=order.__getitem__)] if maxes else None
        out["kube_proxy"] = {
            "files": kp_files[:6],
            "set_nf_conntrack_max": latest["value"] if latest else None,
            "set_source": {"file": latest["file"], "line": latest["line"]} if latest else None,
            "settings": settings[-10:],
        }
    else:
        gaps.append("no kube-proxy log in the bundle")
    mod = _files(record, "modinfo/ip_vs")
    if mod:
        text = read_text(record.root / mod[0], 65536)
        out["modules"] = sorted({w.split()[0] for w in text.splitlines() if w.strip()})[:20]
    return out


def _ena_section(record: BundleRecord, issues: list[Issue], gaps: list[str]) -> dict[str, Any]:
    files = _files(record, "networking/ethtool.txt")
    if not files:
        gaps.append("networking/ethtool.txt is missing: ENA allowance counters are unknown")
        return {"interfaces": [], "file": None}
    rel = files[0]
    interfaces = []
    for iface in parse_ethtool(_lines(record, rel)):
        if iface.no_stats or not any(k in iface.counters for k in (*ALLOWANCE_EXCEEDED, "conntrack_allowance_available")):
            continue
        exceeded = {k: iface.counters[k] for k in ALLOWANCE_EXCEEDED if k in iface.counters}
        row = {
            "interface": iface.name,
            "allowance_exceeded": exceeded,
            "conntrack_allowance_available": iface.counters.get("conntrack_allowance_available"),
            "ena_ge_2_8_1": "conntrack_allowance_available" in iface.counters,
            "sources": {k: iface.lines.get(k) for k in exceeded},
        }
        interfaces.append(row)
        for k, v in exceeded.items():
            if v > 0:
                sev = "critical" if k == "conntrack_allowance_exceeded" else "warning"
                issues.append(Issue(section="ena", severity=sev, message=f"{iface.name}: {k}={v}",
                                    sources=[Source(file=rel, line=iface.lines.get(k))]))
    if not interfaces:
        gaps.append(f"{rel} has no ENA allowance counters (driver < 2.2.10 or not ENA)")
    return {"file": rel, "interfaces": interfaces}


def _dns_log_files(record: BundleRecord, index: FindingsIndex | None) -> list[str]:
    """CoreDNS's logs, plus every log in which the findings index saw a DNS failure.

    Application pods report DNS failures in their own logs (`lookup x on 10.0.0.2:53: …`), wherever
    the collector put them; the index has already scanned every file once, so it names them
    without a second pass over gigabytes of kubelet and ipamd history.
    """
    named = [rel for rel in _files(record, "var_log/**", "var_log/*")
             if any(k in rel for k in ("coredns", "containers/", "pods/")) and "kube-proxy" not in rel]
    indexed = {f.file for f in index.findings if f.category == "dns"} if index is not None else set()
    return [*named, *sorted(indexed - set(named))]


def dns_section(
    record: BundleRecord, issues: list[Issue], gaps: list[str], index: FindingsIndex | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"nameservers": [], "search": [], "options": [], "errors_by_upstream": {}, "errors_by_kind": {}}
    resolv = _files(record, "networking/resolv.conf")
    if resolv:
        for line in read_text(record.root / resolv[0], 65536).splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                out["nameservers"].append(parts[1])
            elif parts and parts[0] == "search":
                out["search"] = parts[1:]
            elif parts and parts[0] == "options":
                out["options"] = parts[1:]
    else:
        gaps.append("networking/resolv.conf is missing")
    by_up: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    samples: list[dict[str, Any]] = []
    for rel in _dns_log_files(record, index):
        for n, line in enumerate(_lines(record, rel), start=1):
            if ":53" not in line and "EAI_AGAIN" not in line and "no such host" not in line and "name resolution" not in line:
                continue
            err = parse_dns_error(line)
            if err is None:
                continue
            by_kind[err.kind] += 1
            by_up[err.upstream or "unknown"] += 1
            if len(samples) < 5:
                samples.append({"file": rel, "line": n, "kind": err.kind, "upstream": err.upstream})
    out["errors_by_upstream"] = dict(by_up.most_common(10))
    out["errors_by_kind"] = dict(by_kind)
    out["samples"] = samples
    eth = _files(record, "networking/ethtool.txt")
    linklocal: dict[str, int] = {}
    linklocal_lines: dict[str, int | None] = {}
    if eth:
        for iface in parse_ethtool(_lines(record, eth[0])):
            v = iface.counters.get("linklocal_allowance_exceeded")
            if v is not None:
                linklocal[iface.name] = v
                linklocal_lines[iface.name] = iface.lines.get("linklocal_allowance_exceeded")
    out["linklocal_allowance_exceeded"] = linklocal
    if any(v > 0 for v in linklocal.values()):
        issues.append(Issue(section="dns", severity="warning",
                            message="linklocal_allowance_exceeded > 0: DNS/IMDS packets to link-local services were "
                            "dropped (1024 pps per ENI limit to the Route 53 Resolver)",
                            sources=[Source(file=eth[0], line=linklocal_lines[name])
                                     for name, v in linklocal.items() if v > 0]))
    if sum(by_kind.values()):
        issues.append(Issue(section="dns", severity="warning",
                            message=f"{sum(by_kind.values())} DNS error line(s) in pod logs"))
    return out


def iptables_section(record: BundleRecord, issues: list[Issue], gaps: list[str]) -> dict[str, Any]:
    files = _files(record, "networking/iptables-save.txt") or _files(record, "networking/iptables*.txt")
    if not files:
        gaps.append("no iptables dump in the bundle")
        return {}
    rules = chains = svc = 0
    kube_services = False
    tables = []
    for line in _lines(record, files[0]):
        if line.startswith("*"):
            tables.append(line[1:].strip())
        elif line.startswith(":"):
            chains += 1
            kube_services |= line.startswith(":KUBE-SERVICES")
        elif line.startswith("-A"):
            rules += 1
            svc += "KUBE-SVC-" in line
            kube_services |= line.startswith("-A KUBE-SERVICES")
    if not kube_services:
        issues.append(Issue(section="iptables", severity="warning", message="KUBE-SERVICES chain missing",
                            sources=[Source(file=files[0])]))
    return {"file": files[0], "tables": tables, "rules": rules, "chains": chains,
            "kube_services_present": kube_services, "kube_svc_rules": svc}


def routes_section(record: BundleRecord, issues: list[Issue], gaps: list[str]) -> dict[str, Any]:
    files = _files(record, "networking/iproute.txt")
    if not files:
        gaps.append("networking/iproute.txt is missing")
        return {}
    count = 0
    default = None
    for line in _lines(record, files[0]):
        if line.strip():
            count += 1
            if line.startswith("default") and default is None:
                default = line.strip()
    if default is None:
        issues.append(Issue(section="routes", severity="warning", message="no default route",
                            sources=[Source(file=files[0])]))
    return {"file": files[0], "routes": count, "default": default}


def cni_section(record: BundleRecord, issues: list[Issue], gaps: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    conf = _files(record, "cni/*.conflist", "cni/*.conf")
    if conf:
        try:
            data = json.loads(read_text(record.root / conf[0], 262144))
            out["config"] = {"file": conf[0], "name": data.get("name"), "plugins": [p.get("type") for p in data.get("plugins", [])]}
        except (ValueError, AttributeError):
            out["config"] = {"file": conf[0], "error": "not valid JSON"}
    env = _files(record, "ipamd/ipamd-env-settings.json")
    if env:
        try:
            settings = json.loads(read_text(record.root / env[0], 262144))
            if isinstance(settings, dict):
                keep = ("WARM_IP_TARGET", "MINIMUM_IP_TARGET", "WARM_ENI_TARGET", "ENABLE_PREFIX_DELEGATION",
                        "AWS_VPC_K8S_CNI_EXTERNALSNAT", "WARM_PREFIX_TARGET")
                out["env"] = {k: settings[k] for k in keep if k in settings}
        except ValueError:
            out["env"] = {"error": f"{env[0]} is not valid JSON"}
    if not out:
        gaps.append("no CNI configuration in the bundle")
    return out


def ipamd_section(record: BundleRecord, issues: list[Issue], gaps: list[str]) -> dict[str, Any]:
    files = _files(record, "var_log/aws-routed-eni/ipamd.log*")
    if not files:
        gaps.append("var_log/aws-routed-eni/ipamd.log is missing")
        return {}
    errors = 0
    exhaustion: list[dict[str, Any]] = []
    for rel in files[:3]:
        for n, line in enumerate(_lines(record, rel), start=1):
            low = line.lower()
            if '"level":"error"' in low or "error" in low.split('"msg"')[0]:
                errors += 1
            exhausted = any(k in low for k in ("insufficientfreeaddressesinsubnet", "no available ip",
                                                "failed to assign an ip"))
            if exhausted and len(exhaustion) < 10:
                exhaustion.append({"file": rel, "line": n})
    if exhaustion:
        issues.append(Issue(section="ipamd", severity="critical", message="IP allocation failures in ipamd.log",
                            sources=[Source(**e) for e in exhaustion[:3]]))
    return {"files": files[:3], "error_lines": errors, "ip_allocation_failures": exhaustion}


SECTION_FUNCS = {
    "kube_proxy": kube_proxy_section,
    "ena": ena_section,
    "dns": dns_section,
    "iptables": iptables_section,
    "routes": routes_section,
    "cni": cni_section,
    "ipamd": ipamd_section,
}
_SECTION_CATEGORIES = {"kube_proxy": ("conntrack_table_full", "kube_proxy"), "ena": ("ena_allowance",),
                       "dns": ("dns",), "ipamd": ("ip_exhaustion",)}


def resolve_sections(requested: list[str]) -> list[str]:
    out: list[str] = []
    for raw in requested:
        name = _ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name == "all":
            return list(SECTIONS)
        if name not in SECTIONS:
            raise ToolError(f"unknown section {raw!r}", hint="valid: all, " + ", ".join(SECTIONS))
        if name not in out:
            out.append(name)
    return out or list(SECTIONS)


@tool("network_diagnostics", summary="Parsed networking state by section: kube_proxy (conntrack count/max), ena, dns, …",
      args=NetworkArgs, result=NetworkResult)
def network_diagnostics(ctx: ToolContext, args: NetworkArgs) -> NetworkResult:
    record = ctx.record(args.instanceId)
    sections = resolve_sections(args.sections)
    issues: list[Issue] = []
    gaps: list[str] = []
    index = ctx.index(record)
    diagnostics = {
        name: dns_section(record, issues, gaps, index) if name == "dns" else SECTION_FUNCS[name](record, issues, gaps)
        for name in sections
    }
    cats = {c for s in sections for c in _SECTION_CATEGORIES.get(s, ())}
    ids = [f.id for f in index.findings if f.category in cats]
    return NetworkResult(
        instanceId=record.instance_id, summary=headline(diagnostics), sections=sections, diagnostics=diagnostics,
        issues=issues, finding_ids=ids[:50], gaps=gaps,
    )


def headline(diagnostics: dict[str, Any]) -> dict[str, Any]:
    """count, max, drops, kube-proxy's max, non-zero allowance counters and DNS errors, flattened."""
    out: dict[str, Any] = {}
    kp = diagnostics.get("kube_proxy") or {}
    for key, value in (kp.get("conntrack") or {}).items():
        if key in ("count", "max", "utilization_pct", "buckets"):
            out[f"conntrack_{key}"] = value
    for key in ("drop", "early_drop", "insert_failed"):
        if (kp.get("stats") or {}).get(key) is not None:
            out[f"conntrack_stats_{key}"] = kp["stats"][key]
    if (kp.get("kube_proxy") or {}).get("set_nf_conntrack_max") is not None:
        out["kube_proxy_set_nf_conntrack_max"] = kp["kube_proxy"]["set_nf_conntrack_max"]
    for row in (diagnostics.get("ena") or {}).get("interfaces", []):
        for counter, value in row["allowance_exceeded"].items():
            if value > 0:
                out[f"{row['interface']}.{counter}"] = value
        if row.get("conntrack_allowance_available") is not None:
            out[f"{row['interface']}.conntrack_allowance_available"] = row["conntrack_allowance_available"]
    dns = diagnostics.get("dns") or {}
    if dns:
        out["dns_error_lines"] = sum((dns.get("errors_by_kind") or {}).values())
        for iface, value in (dns.get("linklocal_allowance_exceeded") or {}).items():
            if value > 0:
                out[f"{iface}.linklocal_allowance_exceeded"] = value
    return out


def conntrack_numbers(record: BundleRecord) -> dict[str, Any] | None:
    """count/max/utilization as read from sysctl_all.txt, for reports and fleet views."""
    issues: list[Issue] = []
    gaps: list[str] = []
    return kube_proxy_section(record, issues, gaps).get("conntrack")



