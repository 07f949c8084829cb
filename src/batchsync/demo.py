"""`batchsync demo`: the built-in sample inventory API, synced into a local SQLite file.

The pipeline below is an ordinary config — the same one `examples/sample-api.yaml` spells out in YAML —
pointed at the sample API's free port, so the demo exercises exactly what a user's own sync does.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from batchsync.config import parse_config
from batchsync.engine import ProgressCallback, RunOptions, run_pipeline
from batchsync.models import RunResult
from batchsync.sampleapi import Inventory, SampleApi

DEMO_PIPELINE = "products"


def demo_config(base_url: str, database: Path) -> dict[str, Any]:
    """The demo's config: a Zoho-Inventory-shaped API paged by page number."""
    return {
        "database": f"sqlite:///{database}",
        "pipelines": {
            DEMO_PIPELINE: {
                "source": {
                    "type": "rest",
                    "base_url": base_url,
                    "path": "/inventory/v1/items",
                    "paginator": {
                        "type": "page_number",
                        "page_param": "page",
                        "size_param": "per_page",
                        "page_size": 200,
                        "has_more_path": "page_context.has_more_page",
                        "total_pages_path": "page_context.total_pages",
                    },
                    "records_path": "items",
                },
                "destination": {
                    "table": "products",
                    "primary_key": "item_id",
                    "columns": {
                        "item_id": {"path": "item_id", "type": "string"},
                        "sku": {"path": "sku", "type": "string"},
                        "name": {"path": "name", "type": "string"},
                        "price": {"path": "rate", "type": "decimal"},
                        "stock_quantity": {"path": "stock_on_hand", "type": "integer"},
                        "is_active": {"path": "status", "type": "boolean", "true_values": ["active"]},
                        "category": {"path": "category", "type": "string"},
                        "updated_at": {"path": "last_modified_time", "type": "datetime"},
                    },
                },
            }
        },
    }


def run_demo(
    database: Path,
    items: int,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    with SampleApi(Inventory(size=items)) as api:
        config = parse_config(demo_config(api.url, database), environ={})
        # The sample API's port changes every time, so each demo starts a fresh pass.
        return run_pipeline(
            config, DEMO_PIPELINE, RunOptions(full_refresh=True), stop=stop, on_progress=on_progress
        )
