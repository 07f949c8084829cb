"""bench/compare.py's output: the machine, the table with its ratios, and the plot.

Every ratio is a ratio of times, contender ÷ reference, so below 1.00 means faster than the reference:
`× seed` against the seed loop, `× limit` against the serial limit (fetch only + load only, measured in
the same run), `× dlt` against dlt, `× floor` against the latency floor for as many requests in flight as
the contender sends (1 for every contender but batchsync tuned, which is configured for 8).
"""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

from scenarios import DLT, FETCH, LOAD, SEED, TUNED, TUNED_CONCURRENCY, Scenario

Result = dict[str, Any]


def brief(result: Result) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    text = f"{result['records']:,} in {result['seconds']:.2f}s, {result['rss_mib']:.0f} MiB"
    if "duplicate_pages" in result:
        text += f", {result['duplicate_pages']} pages fetched twice over {result['kills']} kills"
    if "exact" in result:
        text += ", table exact" if result["exact"] else f", TABLE WRONG {result['table']}"
    return text


def best(runs: list[Result]) -> Result:
    """The fastest good run, with the highest peak RSS and the mean duplicates of all good runs."""
    good = [run for run in runs if "error" not in run]
    if not good:
        return runs[-1]
    chosen = dict(min(good, key=lambda run: run["seconds"]))
    chosen["rss_mib"] = max(run["rss_mib"] for run in good)
    if "exact" in chosen:
        chosen["exact"] = all(run.get("exact", False) for run in good)
    if "duplicates_per_kill" in chosen:
        chosen["duplicates_per_kill"] = sum(run["duplicates_per_kill"] for run in good) / len(good)
    return chosen


def describe(scenario: Scenario) -> dict[str, Any]:
    return {
        "key": scenario.key,
        "title": scenario.title,
        "kind": scenario.kind,
        "database": scenario.database,
        "records": scenario.records,
        "pages": scenario.pages,
        "page_size": scenario.page_size,
        "latency_seconds": scenario.latency,
        "rate_limit": scenario.rate,
        "kills": scenario.kills,
        "measures": scenario.measures,
        "accounts": len(scenario.accounts),
        "contender_order": list(scenario.contenders),
    }


def machine(databases: Any) -> dict[str, str]:
    """What the figures were measured on, printed with them."""
    info = {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "ram": _ram(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for package in ("batchsync", "dlt", "httpx", "SQLAlchemy", "psycopg"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    server = getattr(databases, "_server", None)
    if server is not None:
        import psycopg

        with psycopg.connect(server.url.replace("+psycopg", "")) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            info["postgresql"] = str(row[0]).split()[0] if row else "?"
    else:
        info["postgresql"] = "not used"
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "—"
    return f"{value / reference:.2f}"


def _floor_for(contender: str, floors: dict[str, float]) -> float | None:
    wanted = f"floor ({TUNED_CONCURRENCY} in flight)" if contender == TUNED else "floor (1 in flight)"
    return floors.get(wanted)


def scenario_rows(entry: dict[str, Any]) -> list[list[str]]:
    """The table's rows for one scenario: contenders, then the limits and floors."""
    contenders: dict[str, Result] = entry["contenders"]
    floors: dict[str, float] = entry["floors"]
    scenario = entry["scenario"]

    def seconds(name: str) -> float | None:
        result = contenders.get(name)
        return None if result is None or "error" in result else float(result["seconds"])

    fetch, load = seconds(FETCH), seconds(LOAD)
    limit = fetch + load if fetch is not None and load is not None else None
    rows = []
    for name in scenario["contender_order"]:
        result = contenders.get(name)
        if result is None:
            rows.append(
                [name, "—", "—", "—", "—", "—", "—", "—", "—", "—", "not installed" if name == DLT else "—"]
            )
            continue
        if "error" in result:
            rows.append([name, "error", "", "", "", "", "", "", "", "", result["error"][:60]])
            continue
        t = float(result["seconds"])
        compared = scenario["measures"] != "duplicates"  # S5's seconds are its last, resumed run only
        extra = []
        if "duplicate_pages" in result:
            extra.append(f"{result['duplicates_per_kill']:.1f} pages twice/kill ({result['kills']} kills)")
        if result.get("rate_limited"):
            extra.append(f"{result['rate_limited']} × 429")
        rows.append(
            [
                name,
                f"{result['records']:,}",
                f"{t:.2f}",
                f"{result['records'] / t:,.0f}",
                f"{result['rss_mib']:.0f}",
                _ratio(t, seconds(SEED) if compared else None),
                _ratio(t, limit) if name not in (FETCH, LOAD) else "—",
                _ratio(t, seconds(DLT) if compared else None),
                _ratio(t, _floor_for(name, floors)),
                {True: "yes", False: "NO"}.get(result.get("exact"), ""),
                "; ".join(extra),
            ]
        )
    records = scenario["records"] if scenario["kind"] != "fanout" else None
    if limit is not None:
        rows.append(
            [
                "serial limit (fetch + load)",
                f"{records:,}",
                f"{limit:.2f}",
                f"{records / limit:,.0f}",
                "",
                "",
                "1.00",
                "",
                "",
                "",
                "",
            ]
        )
    for name, value in floors.items():
        rate = f"{records / value:,.0f}" if records else ""
        rows.append([name, "", f"{value:.2f}", rate, "", "", "", "", "1.00", "", "computed"])
    return rows


HEADER = [
    "contender",
    "records",
    "seconds",
    "records/s",
    "RSS MiB",
    "× seed",
    "× limit",
    "× dlt",
    "× floor",
    "exact",
    "notes",
]


def render(document: dict[str, Any]) -> str:
    """The whole text report: the machine, then one table per scenario."""
    info = document["machine"]
    lines = [
        f"batchsync comparison benchmark{' (--quick)' if document['quick'] else ''},"
        f" best of {document['repeat']}, {document['seconds']:.0f}s in all",
        f"machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; {info['os']}",
        f"python {info['python']}, SQLite {info['sqlite']}, PostgreSQL {info['postgresql']}, batchsync"
        f" {info['batchsync']}, dlt {info['dlt']}, httpx {info['httpx']}, SQLAlchemy {info['SQLAlchemy']}",
        "ratios are time ÷ the reference's time (below 1.00 = faster); see docs/benchmarks.md",
    ]
    for label, entry in document["scenarios"].items():
        lines.append("")
        if "skipped" in entry:
            lines.append(f"{label}: skipped ({entry['skipped']})")
            continue
        lines.append(f"{label}: {entry['scenario']['title']}")
        rows = [HEADER, *scenario_rows(entry)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
        for row in rows:
            cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, len(widths))]
            lines.append("  " + "  ".join(cells) + "  " + row[-1])
    return "\n".join(lines)


def plot(document: dict[str, Any], path: Path) -> Path | None:
    """One panel per scenario: seconds per contender (floors dashed), RSS for S4, duplicates for S5."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    entries = [(label, entry) for label, entry in document["scenarios"].items() if "skipped" not in entry]
    if not entries:
        return None
    columns = 2
    rows = -(-len(entries) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False)
    for axis, (label, entry) in zip(axes.flat, entries, strict=False):
        _panel(axis, label, entry)
    for axis in list(axes.flat)[len(entries) :]:
        axis.set_visible(False)
    info = document["machine"]
    quick = " — QUICK RUN (small sizes, noisy)" if document["quick"] else ""
    figure.suptitle(
        f"batchsync vs dlt vs seed loop vs limits{quick}\n{info['cpu']}, {info['cores']} cores,"
        f" Python {info['python']}, SQLite {info['sqlite']}, PostgreSQL {info['postgresql']}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _panel(axis: Any, label: str, entry: dict[str, Any]) -> None:
    measures = entry["scenario"]["measures"]
    good = {name: r for name, r in entry["contenders"].items() if "error" not in r}
    names = [name for name in entry["scenario"]["contender_order"] if name in good]
    if measures == "rss":
        values, unit = [good[n]["rss_mib"] for n in names], "peak RSS, MiB"
    elif measures == "duplicates":
        values, unit = [good[n]["duplicates_per_kill"] for n in names], "pages fetched twice per kill -9"
    else:
        values, unit = [good[n]["seconds"] for n in names], "seconds (lower is better)"
    axis.barh(names, values, color=["#2a6f97" if n.startswith("batchsync") else "#999999" for n in names])
    axis.invert_yaxis()
    if measures == "time":
        lines = dict(entry["floors"])
        if FETCH in good and LOAD in good:
            lines["serial limit (fetch + load)"] = good[FETCH]["seconds"] + good[LOAD]["seconds"]
        for index, (name, value) in enumerate(lines.items()):
            axis.axvline(value, linestyle="--", color=("#c1121f", "#f4a261")[index % 2], label=name)
        if lines:
            axis.legend(fontsize=7, loc="lower right")
    axis.set_title(f"{label}: {entry['scenario']['title']}", fontsize=8)
    axis.set_xlabel(unit, fontsize=8)
    axis.tick_params(labelsize=7)
