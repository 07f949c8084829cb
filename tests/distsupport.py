"""Configs for the distributed tests: a fan-out over accounts the fake API lists, on PostgreSQL, with
its units handed to Celery workers through the test's Redis."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from fakeapi import Accounts, SampleApi
from syncsupport import fetch_all, listed_fanout_document

READY_TIMEOUT_SECONDS = 60


@functools.cache
def accounts_with_pages(count: int, pages: int, per_page: int = 10) -> tuple[str, ...]:
    """The first `count` account ids whose transactions fill exactly `pages` pages of `per_page`."""
    return tuple(Accounts().filling(count, pages, per_page))


def execution(redis_url: str, **extra: Any) -> dict[str, Any]:
    return {"backend": "celery", "broker": redis_url, "visibility_timeout": 5, **extra}


def fanout_config(
    database_url: str, redis_url: str, api: SampleApi, accounts: tuple[str, ...], **pipeline: Any
) -> dict[str, Any]:
    """`bank_sync` on the workers: each account's pages one at a time unless `pipeline` says otherwise."""
    document = listed_fanout_document(database_url, api, accounts, **{"concurrency": 1, **pipeline})
    return {**document, "execution": execution(redis_url)}


def table_rows(database_url: str) -> list[tuple[Any, ...]]:
    return sorted(
        tuple(str(value) for value in row)
        for row in fetch_all(database_url, "SELECT transaction_id, account_id, amount FROM transactions")
    )


def expected_rows(api: SampleApi, accounts: tuple[str, ...]) -> list[tuple[Any, ...]]:
    from decimal import Decimal

    return sorted(
        (str(entry["transaction_id"]), account, str(Decimal(str(entry["amount"]))))
        for account in accounts
        for entry in api.accounts.transactions(account)
    )


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
