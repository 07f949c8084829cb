"""Parsing and mapping pages, side by side in one run: the exact parser batchsync uses (msgspec, numbers
as int and Decimal) against orjson (fast, but integers past 64 bits and decimals become binary floats)
and the standard library's exact parser (the fallback for pages msgspec refuses).

    .venv/bin/python bench/json_parse.py [--pages 200] [--page-size 200] [--repeat 5]

The pages are real answers of the sample API (the demo's inventory: prices, quantities, dates), fetched
once over HTTP; then each contender parses every page and maps its records to rows with the demo's
column types, `--repeat` times, best run kept. Ratios are against batchsync's parser.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from batchsync import jsontext
from batchsync.config import parse_config
from batchsync.demo import demo_config
from batchsync.sampleapi import Inventory, SampleApi
from batchsync.sinks.mapping import RowMapper

PATH = "/inventory/v1/items"


def fetch_pages(pages: int, page_size: int) -> list[bytes]:
    with SampleApi(Inventory(size=pages * page_size)) as api, httpx.Client(base_url=api.url) as client:
        return [
            client.get(PATH, params={"page": page, "per_page": page_size}).content
            for page in range(1, pages + 1)
        ]


def best_seconds(work: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    bodies = fetch_pages(args.pages, args.page_size)
    config = parse_config(demo_config("http://127.0.0.1:1", Path("unused.db")))
    mapper = RowMapper(next(iter(config.pipelines.values())).destination)
    records = args.pages * args.page_size

    def parsed_and_mapped(parse: Callable[[bytes], Any]) -> Callable[[], None]:
        def work() -> None:
            for body in bodies:
                for record in parse(body)["items"]:
                    mapper.map(record)

        return work

    def parsed_only(parse: Callable[[bytes], Any]) -> Callable[[], None]:
        def work() -> None:
            for body in bodies:
                parse(body)

        return work

    contenders: dict[str, Callable[[bytes], Any]] = {
        "batchsync (msgspec, exact)": jsontext.parse,
        "orjson (floats, lossy)": orjson.loads,
        "stdlib json (Decimal, exact)": lambda body: json.loads(body, parse_float=Decimal),
    }
    print(f"{records:,} records in {args.pages} pages of {args.page_size}, best of {args.repeat} interleaved")
    jobs = {name: (parsed_only(parse), parsed_and_mapped(parse)) for name, parse in contenders.items()}
    best = {name: [float("inf"), float("inf")] for name in contenders}
    for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits every contender
        for name, (parse_job, total_job) in jobs.items():
            best[name][0] = min(best[name][0], best_seconds(parse_job, 1))
            best[name][1] = min(best[name][1], best_seconds(total_job, 1))
    print(f"{'contender':<30} {'parse s':>8} {'rec/s':>11} {'ratio':>6}   {'parse+map s':>11} {'ratio':>6}")
    base_parse, base_total = best[next(iter(contenders))]
    for name, (parse_seconds, total_seconds) in best.items():
        parse_ratio, total_ratio = parse_seconds / base_parse, total_seconds / base_total
        print(
            f"{name:<30} {parse_seconds:>8.3f} {records / parse_seconds:>11,.0f} "
            f"{parse_ratio:>5.2f}x   {total_seconds:>11.3f} {total_ratio:>5.2f}x"
        )


if __name__ == "__main__":
    main()
