"""A fan-out's many short child syncs, side by side in one run: every HTTP client with a TLS context of
its own (as before 2026-12-03: each one read the CA bundle again, about 30 ms) against one context shared
by the whole process (what batchsync does now), on the test suite's fan-out of 56 users (35 synced, 5
refused, 21 skipped) against the sample API on 127.0.0.1, into SQLite.

    .venv/bin/python bench/fanout_tls.py [--repeat 3]

The two are interleaved, `--repeat` times each; medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

import batchsync
import batchsync.http.client as client_module
import batchsync.http.wiring as wiring_module

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakeapi import SampleApi
from test_fanout import fanout_config, make_tables


def one_run(api: SampleApi, tls_context: Callable[[], object]) -> float:
    client_module.shared_tls_context = tls_context  # type: ignore[assignment]
    wiring_module.shared_tls_context = tls_context  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/sync.db"
        make_tables(url, api)
        began = time.monotonic()
        batchsync.run("bank_sync", fanout_config(url, api))
        return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    contenders: dict[str, Callable[[], object]] = {
        "a context per client": lambda: httpx.create_ssl_context(),
        "one shared context": client_module.shared_tls_context,
    }
    seconds: dict[str, list[float]] = {label: [] for label in contenders}
    with SampleApi() as api:
        for _ in range(args.repeat):
            for label, context in contenders.items():
                seconds[label].append(one_run(api, context))
    shared = statistics.median(seconds["one shared context"])
    for label, values in seconds.items():
        median = statistics.median(values)
        runs = ", ".join(f"{value:.2f}" for value in values)
        print(f"{label:<22} median {median:5.2f}s  ({runs})  × shared {median / shared:.2f}")


if __name__ == "__main__":
    main()
