"""Model providers (offline policy, Anthropic, Bedrock) and the phase agents' prompts."""
