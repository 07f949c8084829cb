"""PostgreSQL's driver is the optional `postgres` extra: without psycopg, a PostgreSQL URL stops every
command with one error that says how to install it, and SQLite (the demo) works as before.

Each case runs the real CLI in a process of its own in which `import psycopg` fails, as it does where the
extra was not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs the CLI with psycopg made unimportable (a None entry in sys.modules makes `import psycopg` raise
# ModuleNotFoundError, the error a missing package gives).
WITHOUT_PSYCOPG = (
    "import sys; sys.modules['psycopg'] = None; sys.argv[0] = 'batchsync'; "
    "from batchsync.cli import main; main()"
)
MESSAGE = (
    "error: database: PostgreSQL needs its driver, psycopg, which is not installed: "
    "pip install 'batchsync[postgres]'\n"
)

CONFIG = """\
database: postgresql://batchsync:secret@127.0.0.1:1/sync
pipelines:
  items:
    source:
      type: rest
      base_url: http://127.0.0.1:1
      path: /items
      paginator: {type: page_number, page_size: 10}
      records_path: items
    destination:
      table: items
      primary_key: id
      columns:
        id: {path: id, type: integer}
"""


def batchsync_without_psycopg(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=120,
    )


@pytest.mark.parametrize("command", [["run", "items"], ["status"], ["runs"], ["errors", "items"]])
def test_a_postgresql_url_without_psycopg_is_one_error_naming_the_extra(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "batchsync.yaml").write_text(CONFIG, encoding="utf-8")

    result = batchsync_without_psycopg(tmp_path, *command, "--config", "batchsync.yaml")

    assert (result.returncode, result.stderr + result.stdout) == (2, MESSAGE)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["batchsync.yaml"]  # nothing written


def test_sqlite_needs_no_psycopg(tmp_path: Path) -> None:
    result = batchsync_without_psycopg(tmp_path, "demo", "--items", "20", "--database", "demo.db")

    assert result.returncode == 0, result.stderr
    assert "20 records: 20 created" in result.stdout
