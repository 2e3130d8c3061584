"""The CLI must start without importing the heavy libraries (anthropic, boto3, langgraph)."""

import subprocess
import sys

HEAVY = ("anthropic", "boto3", "botocore", "langgraph", "langchain_core", "vcr")


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from graphs.cli import main; rc = main(['--help']);"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert "Usage" in out.stdout
    assert not loaded.startswith(HEAVY), f"heavy modules imported at start-up: {loaded}"
