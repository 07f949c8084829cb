"""Scale-out over Celery workers, side by side in one run: the same fan-out on 1, 2 and 4 workers
(separate `batchsync worker` processes, one unit each), and once in one local process, against the
same sample API, into a fresh PostgreSQL database each time, through one Redis.

    .venv/bin/python bench/scaleout.py [--accounts 40] [--pages 10] [--latency 0.1] [--workers 1,2,4]

Every account's transactions fill exactly `--pages` pages of 10, each page answered after `--latency`
seconds, each child's pages one after another (`concurrency: 1`): the floor is accounts × (pages + 1)
requests (each child's drift check reads its page 1 again) × latency ÷ workers. Each run's table is
checked against the source. Needs the PostgreSQL server binaries and `redis-server` (both started here,
on loopback, and removed at the end) and `pip install -e '.[distributed]'`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import batchsync
from batchsync.models import RunStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from distsupport import Workers, accounts_with_pages, expected_rows, fanout_config, table_rows
from fakeapi import SampleApi
from pgserver import PostgresServer
from redisserver import redis_server


def one_run(
    api: SampleApi, server: PostgresServer, broker: str, accounts: tuple[str, ...], workers: int, local: int
) -> tuple[float, bool]:
    """Seconds of the fan-out on `workers` workers, or (workers 0) in this process with `local`
    entities at once and no Celery; and whether the table came out exact."""
    with server.fresh_database() as url, tempfile.TemporaryDirectory() as directory:
        group = Workers(Path(directory))
        document = fanout_config(url, broker, api, accounts)
        if workers == 0:
            document = {key: value for key, value in document.items() if key != "execution"}
            document["pipelines"]["bank_sync"]["source"]["concurrency"] = local
        config = group.write_config(document)
        try:
            if workers:
                group.start(config, workers)
            began = time.monotonic()
            result = batchsync.run("bank_sync", config)
            seconds = time.monotonic() - began
        finally:
            group.stop_all()
        exact = result.status is RunStatus.SUCCEEDED and table_rows(url) == expected_rows(api, accounts)
        return seconds, exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=40)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    args = parser.parse_args()
    counts = [int(each) for each in args.workers.split(",")]
    accounts = accounts_with_pages(args.accounts, args.pages)
    requests = args.accounts * (args.pages + 1)
    latency_ms = args.latency * 1000
    print(
        f"fan-out: {args.accounts} accounts × {args.pages} pages × {latency_ms:.0f} ms, {requests} requests"
    )
    runs = [("local, 1 at once", 0, 1), ("local, 4 at once", 0, 4)]
    runs += [(f"{count} worker(s)", count, 1) for count in counts]
    figures: dict[str, tuple[float, bool, int]] = {}
    with SampleApi() as api, PostgresServer() as server, redis_server() as broker:
        api.settings.latency_seconds = args.latency
        for label, workers, local in runs:
            seconds, exact = one_run(api, server, broker, accounts, workers, local)
            figures[label] = (seconds, exact, max(workers, local))
            print(f"  measured {label}: {seconds:.1f}s", file=sys.stderr)
    base = figures[f"{counts[0]} worker(s)"][0]
    records = len(expected_rows(api, accounts))
    header = f"{'where':<18}{'seconds':>9}{'records/s':>11}{'× first':>9}{'floor s':>9}{'× floor':>9}"
    print(header + "  exact")
    for label, (seconds, exact, at_once) in figures.items():
        floor = requests * args.latency / at_once
        print(
            f"{label:<18}{seconds:>9.1f}{records / seconds:>11,.0f}{base / seconds:>9.2f}"
            f"{floor:>9.1f}{seconds / floor:>9.2f}  {'yes' if exact else 'NO'}"
        )
    print(f"(× first: speed-up against {counts[0]} worker(s); floor: requests × latency ÷ units at once)")


if __name__ == "__main__":
    main()
