"""Kubernetes node name → EC2 instance id, from the bundles in the store.

A store record's manifest does not carry the node name, but the bundle does: `kernel/uname.txt`
is `uname -a`, whose second field is the hostname the kubelet registers as the node name on EKS
(ip-10-0-1-2.ec2.internal, or the short form with hostname-override). When uname.txt is missing,
the kubelet's "Successfully registered node" line in kubelet/kubelet.log says it directly.
Results are cached per bundle digest; the store is listed again only when a name is not known.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from tools.bundle.store import BundleRecord, BundleStore

_REGISTERED = re.compile(r'Successfully registered node" node="([A-Za-z0-9.\-]+)"')
_MAX_SCAN = 4 * 1024 * 1024


def hostname_of(root: Path) -> str | None:
    uname = root / "kernel" / "uname.txt"
    try:
        fields = uname.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        fields = []
    if len(fields) >= 2 and fields[0] == "Linux":
        return fields[1].strip().lower()
    kubelet = root / "kubelet" / "kubelet.log"
    try:
        with open(kubelet, encoding="utf-8", errors="replace") as fh:
            m = _REGISTERED.search(fh.read(_MAX_SCAN))
    except OSError:
        return None
    return m.group(1).lower() if m else None


def _same_node(wanted: str, hostname: str) -> bool:
    """Full names must agree; a short name matches the full one (hostname-override forms)."""
    short = hostname.split(".", 1)[0]
    return wanted in (hostname, short) or wanted.split(".", 1)[0] == hostname


class NodeIndex:
    def __init__(self, store: BundleStore):
        self.store = store
        self._by_digest: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def _hostname(self, record: BundleRecord) -> str | None:
        if record.digest not in self._by_digest:
            self._by_digest[record.digest] = hostname_of(record.root)
        return self._by_digest[record.digest]

    def resolve(self, node_name: str) -> list[str]:
        """The instance whose bundle names this node, newest bundle first: EC2 reuses private IPs, and so
        hostnames, after an instance is gone, and the most recent collection is the live node."""
        wanted = node_name.strip().lower()
        if not wanted:
            return []
        with self._lock:
            newest: dict[str, BundleRecord] = {}
            for record in self.store.list():  # newest first
                newest.setdefault(record.instance_id, record)
            for iid, record in newest.items():  # still newest first
                host = self._hostname(record)
                if host and _same_node(wanted, host):
                    return [iid]
            return []
