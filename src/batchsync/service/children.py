"""Running one of the service's runs in a process of its own (service/child.py says why), and turning
its answer back into a result or the error it would have raised in process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from batchsync.errors import BatchsyncError, CheckpointError, ConfigError, RunConflictError, SinkError
from batchsync.models import JSONObject

_ERRORS: dict[str, type[BatchsyncError]] = {
    "ConfigError": ConfigError,
    "RunConflictError": RunConflictError,
    "CheckpointError": CheckpointError,
    "SinkError": SinkError,
}


class ChildRunError(BatchsyncError):
    """The run's process ended without an answer (killed, or a bug): its log says why."""


def run_in_child(
    config_file: Path, pipeline: str, run_id: str, request: JSONObject, stop: threading.Event
) -> JSONObject:
    """Run the job in `python -m batchsync.service.child` and answer its `run --json` result. When `stop`
    is set the process gets SIGTERM and stops at its next batch boundary. Raises the run's own error
    (ConfigError, RunConflictError, …) when it could not start."""
    job = {"config": str(config_file), "pipeline": pipeline, "run_id": run_id, "request": request}
    process = subprocess.Popen(
        [sys.executable, "-m", "batchsync.service.child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    output: list[bytes] = []
    reader = threading.Thread(
        target=lambda: output.append(process.communicate(orjson.dumps(job))[0]), daemon=True
    )
    reader.start()
    has_signalled = False
    while reader.is_alive():
        reader.join(0.2)
        if stop.is_set() and not has_signalled and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            has_signalled = True
    answer: dict[str, Any] = orjson.loads(output[0]) if output and output[0] else {}
    if "result" in answer:
        result: JSONObject = answer["result"]
        return result
    if "error" in answer:
        error = answer["error"]
        kind = _ERRORS.get(error["type"], BatchsyncError)
        if kind is ConfigError:
            raise ConfigError(error["message"], problems=error["problems"])
        raise kind(error["message"])
    raise ChildRunError(
        f"the run's process ended (exit code {process.returncode}) without a result; see the log"
    )
