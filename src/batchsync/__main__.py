"""`python -m batchsync` runs the CLI (used by tests that kill a sync from outside)."""

from batchsync.cli import main

main()
