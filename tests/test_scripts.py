"""The scripts a new user runs first say what they do: scripts/setup-venv announces an install before its
quiet wait (and is silent when there is nothing to do), scripts/demo writes its database in the caller's
directory, and the PostgreSQL skip message names the setting that makes scripts/test install PostgreSQL.

Each script runs for real, in a copy of the repository's layout under `tmp_path` where the programs it
calls (python, pip, batchsync) are small stand-ins, so no test installs anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import POSTGRES_MISSING

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"

# Stands in for python3 and for .venv/bin/python: `-m venv DIR` creates DIR/bin/python (this stub again);
# anything else (pip installs) does nothing.
PYTHON_STUB = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
fi
"""


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def checkout(root: Path, *scripts: str) -> Path:
    """A directory laid out like the repository, holding copies of `scripts` and a pyproject.toml."""
    for name in scripts:
        (root / "scripts").mkdir(parents=True, exist_ok=True)
        shutil.copy2(SCRIPTS / name, root / "scripts" / name)
    (root / "pyproject.toml").write_text('[project]\nname = "batchsync"\n', encoding="utf-8")
    return root


def setup_venv(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    python = executable(root.parent / "bin" / "python3", PYTHON_STUB)
    return subprocess.run(
        [str(root / "scripts" / "setup-venv"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": str(python)},
        check=True,
    )


def test_setup_venv_announces_the_first_install_and_is_silent_afterwards(tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo", "setup-venv")

    first = setup_venv(root)
    second = setup_venv(root)

    assert first.stderr == "creating .venv and installing batchsync (first run only)…\n"
    assert (root / ".venv" / "bin" / "python").exists()
    assert second.stderr == ""


def test_setup_venv_announces_new_extras_and_a_changed_pyproject(tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo", "setup-venv")
    setup_venv(root)

    extras = setup_venv(root, "test")
    (root / "pyproject.toml").write_text('[project]\nname = "batchsync"\nversion = "2"\n', encoding="utf-8")
    changed = setup_venv(root)

    assert extras.stderr == "installing batchsync[test] into .venv (first run only)…\n"
    assert changed.stderr == "pyproject.toml changed: reinstalling batchsync into .venv…\n"


def test_scripts_demo_writes_a_relative_database_in_the_directory_it_was_run_from(tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo", "demo")
    executable(root / "scripts" / "setup-venv", "#!/bin/sh\n")  # .venv is ready
    executable(
        root / ".venv" / "bin" / "batchsync", f'#!/bin/sh\nexec "{sys.executable}" -m batchsync "$@"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = subprocess.run(
        [str(root / "scripts" / "demo"), "--database", "rel.db", "--items", "50"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert (elsewhere / "rel.db").exists()
    assert not (root / "rel.db").exists()
    assert "sqlite3 rel.db 'select * from products limit 5'" in result.stdout


def test_postgres_skip_message_names_the_setting_that_makes_scripts_test_install_postgres() -> None:
    script = (SCRIPTS / "test").read_text(encoding="utf-8")

    assert "BATCHSYNC_WITH_POSTGRES=1 ./scripts/test" in POSTGRES_MISSING
    assert '[ "${BATCHSYNC_WITH_POSTGRES:-}" = 1 ]' in script  # ...which is what scripts/test checks
    assert "has_postgres || missing+=(postgresql)" in script
