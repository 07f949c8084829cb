"""bench/compare.py, the comparison benchmark, at its tiniest: batchsync and the seed loop sync 600 records
from the fake API in its own process, each in a fresh process and a fresh SQLite file. No timing is
asserted (speed is for bench/); what is checked is that the harness runs them, that each left the table
exact (every key once, the stock column's sum as the fake API's items have it), and the report's shape.
dlt is not needed: it is not a contender here, and CI without the bench extra still runs this.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import compare  # bench/ is not a package: its modules import each other by name
import report
from scenarios import BATCHSYNC, SEED, Scenario


def test_batchsync_and_the_seed_loop_leave_the_same_exact_table(tmp_path: Path) -> None:
    scenario = Scenario("S1", "600 records → SQLite", "pull", "sqlite", 600, (BATCHSYNC, SEED), page_size=200)
    databases = compare.Databases(tmp_path)
    try:
        entry = compare.run_scenario(scenario, argparse.Namespace(repeat=1), databases, tmp_path)
    finally:
        databases.stop()

    assert set(entry["contenders"]) == {BATCHSYNC, SEED}
    expected = scenario.expected()
    assert expected == {
        "rows": 600,
        "keys": 600,
        "checksum": sum(row[4] for row in compare.common.expected_rows(600)),
    }
    for name, result in entry["contenders"].items():
        assert "error" not in result, f"{name}: {result.get('error')}"
        assert result["records"] == 600
        assert result["table"] == expected, name
        assert result["exact"] is True
        assert result["seconds"] > 0 and result["rss_mib"] > 0
        # 3 pages of 200; batchsync reads the first page again at the end of a pass (its drift check).
        assert result["api_requests"] == (4 if name == BATCHSYNC else 3)
    assert entry["floors"] == {}  # no latency, so no latency floor

    document = {
        "quick": True,
        "repeat": 1,
        "seconds": 1.0,
        "machine": report.machine(databases),
        "scenarios": {scenario.label: entry | {"scenario": report.describe(scenario)}},
    }
    text = report.render(document)
    assert "S1 sqlite: 600 records → SQLite" in text
    assert [
        line.split()[0] for line in text.splitlines() if line.startswith("  b") or line.startswith("  s")
    ] == [
        "batchsync",
        "seed",
    ]
