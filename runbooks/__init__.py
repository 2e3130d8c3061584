"""Runbook markdown → pydantic model → compiled plan. Imports nothing above it (tools, agents, graphs)."""
