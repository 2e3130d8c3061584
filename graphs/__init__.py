"""The LangGraph app compiled from a runbook, its guardrails and approvals, the CLI and the service."""
