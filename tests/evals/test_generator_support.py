"""Plain-Python readers of a written bundle, independent of the generator's own truth parser.

The tests check the generator's ground truth against what these simple readers find in the files,
so a bug in either side shows up as a disagreement.
"""

from __future__ import annotations

import gzip
from pathlib import Path


def read(root: Path, rel: str) -> str:
    path = root / rel
    data = path.read_bytes()
    if rel.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode()


def complete_lines(text: str) -> list[str]:
    return text.split("\n")[:-1]


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def sysctl(root: Path) -> dict[str, int]:
    out = {}
    for line in complete_lines(read(root, "sysctls/sysctl_all.txt")):
        key, _, value = line.partition(" = ")
        if key.startswith("net.netfilter.nf_conntrack_") and value.isdigit():
            out[key.removeprefix("net.netfilter.nf_conntrack_")] = int(value)
    return out


def kernel_files(root: Path) -> list[str]:
    return [f for f in files(root) if f.startswith("kernel/dmesg") or f.startswith("var_log/messages")]


def table_full_lines(root: Path) -> int:
    count = 0
    for rel in kernel_files(root):
        for line in complete_lines(read(root, rel)):
            if line.endswith(", dropping packet") and "nf_conntrack: table full" in line and (
                    line.startswith("[") or " kernel: " in line):
                count += 1
    return count


def ethtool(root: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    current = None
    for line in complete_lines(read(root, "networking/ethtool.txt")):
        if line.startswith("Interface "):
            current = out.setdefault(line.split(" ", 1)[1], {})
        elif current is not None and line.startswith("     ") and ": " in line:
            name, value = line.strip().split(": ")
            current[name] = int(value)
    return out


def conntrack_stats(root: Path) -> list[dict[str, int]]:
    rows = []
    for line in complete_lines(read(root, "networking/conntrack.txt")):
        if line.startswith("cpu="):
            fields = line.split("\t", 1)[1].split()
            rows.append({k: int(v) for k, v in (f.split("=") for f in fields)})
    return rows


def dns_error_lines(root: Path) -> int:
    count = 0
    for rel in files(root):
        if not rel.startswith(("var_log/", "kubelet/")):
            continue
        for line in complete_lines(read(root, rel)):
            if ("[ERROR] plugin/errors:" in line and ":53: i/o timeout" in line) or (
                    "lookup " in line and ":53: " in line and (" i/o timeout" in line or "server misbehaving" in line)):
                count += 1
    return count


def kube_proxy_max(root: Path) -> set[int]:
    values = set()
    for rel in files(root):
        if rel.startswith("var_log/") and "kube-proxy" in rel:
            for line in complete_lines(read(root, rel)):
                if '"Setting nf_conntrack_max" nfConntrackMax=' in line:
                    values.add(int(line.rsplit("=", 1)[1]))
    return values
