"""`python -m batchsync.service.child`: one run the service started, in a process of its own.

Why a process: a sync against a fast API keeps a CPU busy with parsing and mapping, and in the
service's own interpreter it would hold the GIL that every API request needs, so status requests would
wait behind it (measured: a p99 of seconds under 200 concurrent requests). In a process of its own it
shares nothing with the API but the database, which is how every run already reports: its row in
`batchsync_runs`, updated by each batch, read by the API; a cancel request in that row, read by the run.

It reads its job as JSON on stdin (config file, pipeline, run id and the request's options), runs it
exactly as `batchsync run` would, and writes one JSON object on stdout: `{"result": …}` (the shape of
`run --json`) or `{"error": {"type", "message", "problems"}}` when the run could not start. SIGTERM or
SIGINT stop it at the next batch boundary, checkpoint saved.

It lowers its own scheduling priority (niceness +10, which the writer process it starts inherits): on a
machine whose cores a sync keeps busy, the service's API is answered first and the sync takes the rest,
and on an idle machine the sync runs as fast as ever (tests/service/test_load.py on a 2-core machine:
p99 121–199 ms without it, 74–131 ms with it; docs/service.md).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

import orjson

from batchsync import logs, operations
from batchsync.config import Condition, load_config
from batchsync.errors import BatchsyncError

RUN_NICENESS = 10


def run_job(job: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
    request = job["request"]
    try:
        config = load_config(job["config"], pipelines=[job["pipeline"]])
        result = operations.run(
            job["pipeline"],
            config,
            trigger=request["trigger"],
            full_refresh=request["full_refresh"],
            dry_run=request["dry_run"],
            batch_size=request["batch_size"],
            db_batch_size=request["db_batch_size"],
            concurrency=request["concurrency"],
            only=request["only"],
            params=request["params"],
            conditions={column: Condition.model_validate(test) for column, test in request["filter"].items()},
            run_id=job["run_id"],
            stop=stop,
        )
    except BatchsyncError as exc:
        problems = list(getattr(exc, "problems", []))
        return {"error": {"type": type(exc).__name__, "message": str(exc), "problems": problems}}
    return {"result": result.to_dict()}


def main() -> None:
    os.nice(RUN_NICENESS)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    logs.configure(logging.StreamHandler(sys.stderr), logging.WARNING, json_lines=False)
    answer = run_job(orjson.loads(sys.stdin.buffer.read()), stop)
    sys.stdout.buffer.write(orjson.dumps(answer))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
