"""Real Celery workers on a real Redis and a real PostgreSQL: `redis_url` (one server per session,
emptied for each test), and `workers`, which starts `batchsync worker` processes on a config file and
kills them at the end. Without redis-server these tests skip, unless BATCHSYNC_REQUIRE_REDIS=1 (CI)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from redisserver import RedisUnavailableError, redis_server

READY_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="session")
def redis_session_url() -> Iterator[str]:
    try:
        with redis_server() as url:
            yield url
    except RedisUnavailableError as exc:
        if os.environ.get("BATCHSYNC_REQUIRE_REDIS") == "1":
            pytest.fail(f"BATCHSYNC_REQUIRE_REDIS=1 but {exc}", pytrace=False)
        pytest.skip(f"skipped: {exc}")


@pytest.fixture
def redis_url(redis_session_url: str) -> str:
    redis.Redis.from_url(redis_session_url).flushall()
    return redis_session_url


class Workers:
    """`batchsync worker` processes, each in a session of its own so a test can kill one outright."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []

    def write_config(self, document: dict[str, object]) -> Path:
        path = self._directory / "batchsync.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    def start(self, config: Path, count: int = 1, *, concurrency: int = 1) -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(count):
            number = len(self.processes)
            log = (self._directory / f"worker-{number}.log").open("wb")
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "batchsync",
                    "worker",
                    "--config",
                    str(config),
                    "--concurrency",
                    str(concurrency),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            self.processes.append(process)
            started.append(process)
        for number, process in enumerate(self.processes):
            if process in started:
                self._wait_ready(number, process)
        return started

    def _wait_ready(self, number: int, process: subprocess.Popen[bytes]) -> None:
        log = self._directory / f"worker-{number}.log"
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while b"batchsync worker ready" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {number} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)

    def log(self, number: int) -> str:
        return (self._directory / f"worker-{number}.log").read_text(errors="replace")

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and every process of its pool: a machine lost."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()
