"""The test fake API (tests/fakeapi) served from a process of its own, steered over its standard input.

A benchmark must not share a process (or its GIL) with the API it syncs from, and some benchmarks need
the fake API's switches (latency, rate limit) and its request log, which only exist inside the serving
process. So `ApiProcess` starts this file as a child, which prints its URL, then answers one command per
line on stdin with one JSON line on stdout:

    pages PATH          {"requests": N, "pages": {"<page key>": count, ...}}   (status 200 only)
    count PATH          {"requests": N}                                         (any status)
    faults              {"faults": {"rate_limited_enforced": N, ...}}
    clear               {"ok": true}                                            (forget the log)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Self

import orjson

TESTS = Path(__file__).resolve().parents[1] / "tests"
PAGE_KEYS = ("offset", "page")  # the query parameter that names a page, per paging shape


def fanout_accounts(count: int, pages: int, per_page: int) -> list[str]:
    """The first `count` account ids (acc-1, acc-2, …) whose transactions fill exactly `pages` pages."""
    sys.path.insert(0, str(TESTS))
    from fakeapi import Accounts

    return Accounts().filling(count, pages, per_page)


def transactions_of(accounts: list[str]) -> int:
    """How many transactions these accounts hold in all: what a fan-out over them must sync."""
    sys.path.insert(0, str(TESTS))
    from fakeapi import Accounts

    ledgers = Accounts()
    return sum(len(ledgers.transaction_json(account)) for account in accounts)


class ApiProcess:
    """The fake API in a child process: `url`, the request log through `pages()`, `stop()`."""

    def __init__(
        self,
        items: int,
        *,
        keys: int = 0,
        latency: float = 0.0,
        rate: float | None = None,
        accounts: list[str] | None = None,
    ) -> None:
        command = [
            sys.executable,
            __file__,
            "--items",
            str(items),
            "--keys",
            str(keys),
            "--latency",
            str(latency),
        ]
        if rate is not None:
            command += ["--rate", str(rate)]
        if accounts:
            command += ["--accounts", ",".join(accounts)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._lock = threading.Lock()
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self._process.kill()
            raise RuntimeError(f"the fake API did not start: {line!r}")
        self.url = line

    def ask(self, command: str) -> dict[str, Any]:
        with self._lock:
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
            answer: dict[str, Any] = orjson.loads(self._process.stdout.readline())
            return answer

    def pages(self, path: str) -> Counter[str]:
        """How often each page of `path` was answered 200 since the last `clear()`."""
        return Counter(self.ask(f"pages {path}")["pages"])

    def count(self, path: str) -> int:
        return int(self.ask(f"count {path}")["requests"])

    def faults(self) -> dict[str, int]:
        return dict(self.ask("faults")["faults"])

    def clear(self) -> None:
        self.ask("clear")

    def stop(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()  # end of input: the child stops serving and exits
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _answer(api: Any, line: str) -> dict[str, Any]:
    command, _, argument = line.partition(" ")
    if command == "clear":
        api.clear_log()
        return {"ok": True}
    if command == "faults":
        return {"faults": dict(api.faults_injected)}
    requests = [entry for entry in api.requests if not argument or entry.path.startswith(argument)]
    if command == "count":
        return {"requests": len(requests)}
    if command == "pages":
        pages: Counter[str] = Counter()
        for entry in requests:
            if entry.status == 200:
                named = [f"{name}={entry.query[name]}" for name in PAGE_KEYS if name in entry.query]
                pages[f"{entry.path}?{'&'.join(named)}"] += 1
        return {"requests": len(requests), "pages": pages}
    return {"error": f"unknown command {command!r}"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--accounts", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))
    from fakeapi import Accounts, Inventory, KeyService, SampleApi, SampleApiSettings

    settings = SampleApiSettings(latency_seconds=args.latency, rate_limit_per_second=args.rate)
    accounts = Accounts()
    if args.accounts:  # the directory lists each account with its own token, for a fan-out from the API
        ids = args.accounts.split(",")
        accounts.set_directory([{"account_id": i, "token": accounts.token_for(i)} for i in ids])
    with SampleApi(Inventory(args.items), settings, keys=KeyService(args.keys), accounts=accounts) as api:
        print(api.url, flush=True)
        for line in sys.stdin:
            print(orjson.dumps(_answer(api, line.strip())).decode(), flush=True)


if __name__ == "__main__":
    main()
