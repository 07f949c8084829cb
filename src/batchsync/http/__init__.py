"""The HTTP layer: one keep-alive client per run, retries, and authentication."""
