"""What a tool call can see: the bundle store, the incident's nodes and the run's search memory.

The context is rebuilt for every graph step from JSON-primitive state, which is why the search
memory is a plain dict: S-NNN IDs must survive a checkpoint and a resume in another process so
that `summarize` can still resolve them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.bundle.store import BundleRecord, BundleStore
from tools.findings.index import load_or_build
from tools.findings.model import FindingsIndex
from tools.registry import ToolError


@dataclass
class ToolContext:
    store: BundleStore
    # Instance ids that make up this incident, in the order the user gave them.
    instance_ids: list[str] = field(default_factory=list)
    # S-NNN → the hit group it names; filled by `search`, read by `summarize`.
    search_memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    runbook_paths: list[Path] = field(default_factory=list)
    cluster: str | None = None
    # Set by the AWS backend; None means local bundles only.
    backend: Any = None
    _indexes: dict[str, FindingsIndex] = field(default_factory=dict, repr=False)

    def resolve_instance(self, instance_id: str | None) -> str:
        """An explicit id wins; with none, a single-node incident's node is implied."""
        if instance_id:
            return instance_id
        if len(self.instance_ids) == 1:
            return self.instance_ids[0]
        if not self.instance_ids:
            raise ToolError("instanceId is required", hint="pass instanceId=i-… or ingest a bundle first")
        raise ToolError(
            "instanceId is required when the incident has several nodes",
            hint="one of: " + ", ".join(self.instance_ids),
        )

    def record(self, instance_id: str | None) -> BundleRecord:
        iid = self.resolve_instance(instance_id)
        # BundleError is a ToolError: its own message (missing, files gone, …) reaches the caller.
        return self.store.get(iid)

    def index(self, record: BundleRecord) -> FindingsIndex:
        idx = self._indexes.get(record.digest)
        if idx is None:
            year = record.manifest.collected_at.year if record.manifest.collected_at else None
            idx = load_or_build(record.root, record.cache_dir, record.digest, year_hint=year)
            self._indexes[record.digest] = idx
        return idx

    def next_search_id(self) -> str:
        return f"S-{len(self.search_memory) + 1:03d}"
