"""The control API under test: a real uvicorn server on 127.0.0.1 (a port of its own, bound before it
starts), over a real database, driven with httpx (tests/service/)."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn
import yaml

from batchsync.config import load_config
from batchsync.service.app import create_app
from batchsync.service.auth import Tokens
from batchsync.service.core import Service

ADMIN = "admin-token-for-tests-0123456789"
READER = "read-token-for-tests-0123456789"


class RunningService:
    """`batchsync serve` in a thread of the test process, on its own port, over `document` written to a
    config file of its own (each run's process reads it, as under the real `serve`)."""

    def __init__(self, document: dict[str, Any], *, tokens: Tokens | None = None, max_runs: int = 4) -> None:
        self._files = tempfile.TemporaryDirectory(prefix="batchsync-serve-")
        self.config_file = Path(self._files.name) / "batchsync.yml"
        self.config_file.write_text(yaml.safe_dump(document, sort_keys=False))
        self.config = load_config(self.config_file)
        self.tokens = tokens if tokens is not None else Tokens(admin=ADMIN, read=READER)
        self.max_runs = max_runs
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RunningService:
        self.service = Service(self.config, self.config_file, self.tokens, max_runs=self.max_runs)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = create_app(self.service)
        settings = uvicorn.Config(app, log_level="warning", lifespan="on", loop="asyncio")
        self.server = uvicorn.Server(settings)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.service.close()
        self._files.cleanup()

    def client(self, token: str | None = ADMIN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; that value, or AssertionError at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s")
