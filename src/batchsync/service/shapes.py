"""The JSON shapes the service shares between its routes and its webhooks."""

RUN_BRIEF_KEYS = (
    "run_id",
    "pipeline",
    "trigger",
    "status",
    "started_at",
    "finished_at",
    "duration_seconds",
    "created",
    "updated",
    "unchanged",
    "failed",
    "deleted",
    "pages",
    "api_calls",
    "error",
)
"""A run as the history lists it; the webhooks' summary adds the details (service/notifier.py)."""
