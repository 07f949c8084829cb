"""The comparison benchmark: batchsync (defaults, and tuned) against dlt's `rest_api` source, the
hand-written seed loop and the physical limits, all in one run, against the test fake API served from a
process of its own.

    .venv/bin/python bench/compare.py [--quick] [--scenarios S1,S2,...] [--repeat N] [--out DIR]

Needs `pip install '.[bench]'` (dlt, matplotlib); without dlt its column shows "—". PostgreSQL (S1) is a
throwaway server (tests/pgserver.py); without the server binaries that scenario is skipped. Every contender
runs in a fresh process, contenders interleaved within each repeat; each figure is the best of `--repeat`.
Prints the machine and a table; writes results.json and compare.png to `--out` (default: a temp dir).
See docs/benchmarks.md for what each scenario and contender is.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

import common  # noqa: E402  (after the path set-up above)
import report  # noqa: E402
import scenarios  # noqa: E402
from apiproc import ApiProcess  # noqa: E402
from scenarios import DLT, Scenario  # noqa: E402

WORKER = BENCH / "contenders.py"
WORKER_ENV = {"RUNTIME__DLTHUB_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING"}


def has_dlt() -> bool:
    try:
        import dlt  # noqa: F401
    except ImportError:
        return False
    return True


class Databases:
    """A fresh database per contender run: a new SQLite file, or a new PostgreSQL database."""

    def __init__(self, root: Path) -> None:
        self._root, self._server, self._count = root, None, 0

    def postgres(self) -> Any:
        if self._server is None:
            from pgserver import PostgresServer

            self._server = PostgresServer().start()
        return self._server

    def fresh(self, kind: str) -> str:
        self._count += 1
        if kind == "sqlite":
            return f"sqlite:///{self._root / f'run{self._count}.db'}"
        server = self.postgres()
        return str(server.database_url(server.create_database()))

    def drop(self, url: str) -> None:
        if url.startswith("postgres") and self._server is not None:
            self._server.drop_database(url.rsplit("/", 1)[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


def start_worker(spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), orjson.dumps(spec).decode()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **WORKER_ENV},
    )


def finish_worker(process: subprocess.Popen[str], timeout: float = 3600) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=timeout)
    lines = stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"error": (stderr.strip().splitlines() or [f"exit {process.returncode}"])[-1][:300]}
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result


def run_once(
    scenario: Scenario, contender: str, api: ApiProcess, databases: Databases, work: Path
) -> dict[str, Any]:
    """One contender, once, in a fresh process and a fresh database; checks the table it left."""
    database = databases.fresh(scenario.database)
    workdir = Path(tempfile.mkdtemp(dir=work))
    spec = scenario.spec(contender) | {"url": api.url, "database": database, "workdir": str(workdir)}
    try:
        if scenario.kind == "lookup":
            prepared = finish_worker(start_worker(spec | {"job": "prepare_keys"}))
            if "error" in prepared:
                return prepared
        api.clear()
        if scenario.kills:
            result = killed_runs(scenario, spec, api)
        else:
            started = time.perf_counter()
            result = finish_worker(start_worker(spec))
            result["process_seconds"] = time.perf_counter() - started
        result["api_requests"] = api.count("/")
        result["rate_limited"] = api.faults().get("rate_limited_enforced", 0)
        if "table" in result:
            result["exact"] = result["table"] == scenario.expected()
        return result
    finally:
        databases.drop(database)


def killed_runs(scenario: Scenario, spec: dict[str, Any], api: ApiProcess) -> dict[str, Any]:
    """S5: start, kill -9 at a random moment while it is paging, `kills` times; then run to the end. Counts
    the pages the API answered more than once."""
    path, rng, kills = common.OFFSET.path, random.Random(5), 0
    for _ in range(scenario.kills):
        before = sum(api.pages(path).values())
        process = start_worker(spec)
        while sum(api.pages(path).values()) == before and process.poll() is None:
            time.sleep(0.02)  # it is paging once the API has answered a page
        # Killed once the API answered a random share of the pages still to go, at whatever pace the
        # contender pages (a moment picked by the clock would find a fast one done, and its next
        # attempt a new pass), then anywhere within a page's latency: inside a fetch or a write.
        remaining = scenario.pages - len(api.pages(path))
        target = sum(api.pages(path).values()) + max(1, int(rng.uniform(0.1, 0.7) * max(remaining, 1)))
        while sum(api.pages(path).values()) < target and process.poll() is None:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 1) * scenario.latency)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    result = finish_worker(start_worker(spec))
    pages = api.pages(path)
    duplicates = sum(count - 1 for count in pages.values())
    result |= {
        "kills": kills,
        "duplicate_pages": duplicates,
        "duplicates_per_kill": duplicates / max(kills, 1),
    }
    return result


def run_scenario(
    scenario: Scenario, args: argparse.Namespace, databases: Databases, work: Path
) -> dict[str, Any]:
    contenders = [c for c in scenario.contenders if c != DLT or has_dlt()]
    if scenario.database == "postgres":
        try:
            databases.postgres()
        except Exception as error:  # no server binaries on this machine: say so, go on with the rest
            print(f"{scenario.label}: skipped, no PostgreSQL ({error})", file=sys.stderr)
            return {"skipped": str(error)}
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    api_settings = scenario.api()
    print(
        f"{scenario.label}: starting the fake API {api_settings | {'accounts': len(scenario.accounts)}}",
        file=sys.stderr,
    )
    with ApiProcess(**api_settings) as api:
        for attempt in range(args.repeat):
            order = contenders[attempt % len(contenders) :] + contenders[: attempt % len(contenders)]
            for contender in order:  # interleaved: drift in the machine hits every contender alike
                result = run_once(scenario, contender, api, databases, work)
                runs[contender].append(result)
                print(
                    f"  {scenario.label} {attempt + 1}/{args.repeat} {contender}: {report.brief(result)}",
                    file=sys.stderr,
                )
    return {
        "contenders": {c: report.best(r) for c, r in runs.items()},
        "runs": runs,
        "floors": scenario.floors(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole run in about 2 minutes")
    parser.add_argument("--scenarios", default="S1,S2,S3,S4,S5,S6", help="which, e.g. S1,S3")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; the best one counts")
    parser.add_argument("--out", type=Path, default=None, help="where results.json and compare.png go")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="batchsync-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    wanted = {name.strip().upper() for name in args.scenarios.split(",")}
    chosen = [s for s in scenarios.build(args.quick) if s.key in wanted]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="batchsync-bench-work-") as scratch:
        databases = Databases(Path(scratch))
        try:
            results = {
                s.label: run_scenario(s, args, databases, Path(scratch)) | {"scenario": report.describe(s)}
                for s in chosen
            }
            machine = report.machine(databases)
        finally:
            databases.stop()
    document = {
        "quick": args.quick,
        "repeat": args.repeat,
        "machine": machine,
        "scenarios": results,
        "seconds": time.perf_counter() - started,
    }
    (out / "results.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    print(report.render(document))
    plot = report.plot(document, out / "compare.png")
    print(f"\nresults: {out / 'results.json'}" + (f"\nplot:    {plot}" if plot else ""))


if __name__ == "__main__":
    main()
