"""`make demo`: an offline diagnosis of a generated kernel table-full node, then its approval.

Everything happens under `.demo/` in the working tree (bundle, store, state, audit log), so the
demo never touches ~/.sopgraph and can be re-run at will.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from evals.generator import BundleSpec, write_bundle


def main() -> int:
    root = Path(os.environ.get("SOPGRAPH_DEMO_DIR", ".demo")).resolve()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    os.environ["SOPGRAPH_HOME"] = str(root / "home")
    os.environ.pop("SOPGRAPH_MODEL", None)
    gen = write_bundle(BundleSpec(scenario="kernel_table_full", kernel="al2023-6.1", instance_type="m5.large"),
                       root / "bundles", form="tar.gz")
    print(f"# bundle: {gen.path} ({gen.bytes // 1024} KiB, kernel {gen.truth.kernel_release})", file=sys.stderr)
    print("# sopgraph diagnose --bundle BUNDLE --alert 'nf_conntrack: table full, dropping packet' --format yaml",
          file=sys.stderr)
    from graphs.cli import main as cli

    thread = "demo"  # .demo/ is recreated every time, so a fixed thread id never collides
    rc = cli(["diagnose", "--bundle", str(gen.path), "--alert", "nf_conntrack: table full, dropping packet",
              "--format", "yaml", "--thread", thread])
    if rc != 3:
        print(f"demo: expected the run to wait for approval (exit 3), got {rc}", file=sys.stderr)
        return 1
    print(f"\n# the sysctl change is YELLOW: a person approves it\n# sopgraph approvals approve {thread} --by demo",
          file=sys.stderr)
    rc = cli(["approvals", "approve", thread, "--by", "demo", "--reason", "make demo", "--format", "yaml"])
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
