"""`batchsync demo`: the built-in sample inventory API, synced into a local SQLite file.

The pipeline below is an ordinary config — the same one `examples/sample-api.yaml` spells out in YAML —
pointed at the sample API's free port, so the demo exercises exactly what a user's own sync does.
"""

from __future__ import annotations

import shlex
import threading
from pathlib import Path
from typing import Any

from batchsync.config import parse_config
from batchsync.engine import ProgressCallback, RunOptions, run_pipeline
from batchsync.models import RunResult, RunStatus
from batchsync.sampleapi import Inventory, SampleApi

DEMO_PIPELINE = "products"
# The `batchsync demo` options' defaults, to suggest the same run again without the options left out.
DEFAULT_DATABASE = Path("batchsync-demo.db")
DEFAULT_ITEMS = 3000


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


def demo_command(database: Path, items: int) -> str:
    """The command that runs this demo again, with the options given (shell-quoted), e.g.
    `batchsync demo --database 'my demo.db' --items 200000`."""
    words = ["batchsync", "demo"]
    if database != DEFAULT_DATABASE:
        words += ["--database", shlex.quote(str(database))]
    if items != DEFAULT_ITEMS:
        words += ["--items", str(items)]
    return " ".join(words)


def next_steps(database: Path, items: int, result: RunResult) -> list[tuple[str, str]]:
    """What to try after this demo run: (command, what it does) pairs, each true of this run.

    Running the demo again never resumes (see `run_demo`), so after an interrupted run it says it starts
    over; the items synced so far come back unchanged because every demo serves the same data."""
    if result.status is RunStatus.SUCCEEDED:
        again = "run it again: every item is unchanged"
    else:
        synced = f"{result.total_synced:,}"
        again = f"run it again: it starts over; the {synced} items synced so far count as unchanged"
    return [
        (demo_command(database, items), again),
        (f"sqlite3 {shlex.quote(str(database))} 'select * from products limit 5'", ""),
        ("batchsync sample-api --port 8765", "serve the sample API, then sync it with your own config:"),
        ("batchsync run products -c examples/sample-api.yaml", "(from the repository root)"),
        ("docs/configuration.md", "every setting; docs/vendors.md: configs for real APIs"),
    ]


def prepare_inventory(items: int) -> Inventory:
    """The sample inventory the demo serves: `items` items, the same on every run.

    It is deterministic, and its first N items are the same whatever its size, so a demo run after an
    interrupted one finds the items already synced unchanged. Building it takes seconds for a few hundred
    thousand items, which is why the CLI announces it and keeps it out of the run's duration.
    """
    return Inventory(size=items)


def run_demo(
    database: Path,
    inventory: Inventory,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Serve `inventory` on a free port and sync it into the SQLite file `database`, as one full pass."""
    with SampleApi(inventory) as api:
        config = parse_config(demo_config(api.url, database), environ={})
        # The sample API's port changes every time, and the paging settings a pass resumes with include
        # the URL, so each demo starts a fresh pass from the first page: an interrupted demo does not
        # resume. Items synced before count as unchanged, since the data is the same on every run.
        return run_pipeline(
            config, DEMO_PIPELINE, RunOptions(full_refresh=True), stop=stop, on_progress=on_progress
        )
