"""The built-in tools. Importing this package registers each of them once."""

from tools.builtin import collection, files, findings_tools, fleet, network, runbook_tools

__all__ = ["collection", "files", "findings_tools", "fleet", "network", "runbook_tools"]
