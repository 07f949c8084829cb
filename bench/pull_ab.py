"""A pull with this working tree against the same pull at another commit, interleaved in one run: the
way to check that a change to the pull's path made it faster (or did not make it slower).

    .venv/bin/python bench/pull_ab.py --base HEAD~1 [--records 200000] [--rounds 5] [--database sqlite]

The commit is checked out into a temporary git worktree; each round runs the base and then this tree,
each in a fresh process (`PYTHONPATH` pointing at its `src/`) with the sample API in a process of its own
and a fresh database: a new SQLite file, or a new database on one throwaway PostgreSQL server
(tests/pgserver.py) with `--database postgres`. Each run prints its seconds and the CPU seconds of the
run's process and of its writer process; the summary gives the medians and their ratios (this tree ÷
base). The machine's speed drifts: trust a difference that holds in most rounds, not one median.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ONE_RUN = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[3] + "/bench")
from common import start_api
import batchsync
from batchsync.demo import demo_config

records, database = int(sys.argv[1]), sys.argv[2]
process, url = start_api(records)
try:
    with tempfile.TemporaryDirectory() as workdir:
        config = demo_config(url, Path(workdir) / "ab.db")
        config["pipelines"]["products"]["source"]["paginator"]["page_size"] = 200
        if database != "sqlite":
            config["database"] = database
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started, cpu = time.perf_counter(), time.process_time()
        result = batchsync.run("products", config, full_refresh=True)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert result.total_synced == records, result.error
        writer = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        run_cpu = time.process_time() - cpu
        print(json.dumps({"seconds": seconds, "run cpu": run_cpu, "writer cpu": writer}))
finally:
    process.terminate()
    process.wait()
"""


def one_run(tree: Path, records: int, database: str) -> dict[str, float]:
    """The pull with `tree`'s batchsync, in a fresh process: its seconds and CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    done = subprocess.run(
        [sys.executable, "-c", ONE_RUN, str(records), database, str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the run with {tree} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def compare(
    base: Path, records: int, rounds: int, databases: Callable[[], AbstractContextManager[str]]
) -> None:
    """`databases()`: a fresh database for one run ("sqlite": a new file in the run's own directory)."""
    trees = {"base": base, "this tree": ROOT}
    seen: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for number in range(1, rounds + 1):
        for name, tree in trees.items():
            with databases() as database:
                figures = one_run(tree, records, database)
            seen[name].append(figures)
            shown = "  ".join(f"{key} {value:6.2f}" for key, value in figures.items())
            print(f"round {number}  {name:9}  {shown}", flush=True)
    medians = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in seen.items()
    }
    print(f"\nmedians of {rounds} rounds, {records:,} records, 200 per page")
    for key in medians["base"]:
        base_value, this_value = medians["base"][key], medians["this tree"][key]
        ratio = this_value / base_value
        print(f"  {key:11} base {base_value:7.2f}  this tree {this_value:7.2f}  ({ratio:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the commit to compare with, e.g. HEAD~1")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batchsync-ab-") as scratch:
        base = Path(scratch) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.base], check=True
        )
        try:
            if args.database == "sqlite":
                compare(base, args.records, args.rounds, lambda: contextlib.nullcontext("sqlite"))
            else:
                sys.path.insert(0, str(ROOT / "tests"))
                from pgserver import PostgresServer

                with PostgresServer() as server:
                    compare(base, args.records, args.rounds, server.fresh_database)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)


if __name__ == "__main__":
    main()
