"""Read-only diagnostic tools over EKS node log bundles. Never imports LangGraph or an LLM SDK."""
