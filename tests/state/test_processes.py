"""Telling a live lease holder from an ended one: gone, a zombie nobody reaped yet, or a recycled pid.

The checks run against real processes this test starts; /proc is Linux's, so most tests need it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchsync.state.processes import is_running, parse_stat, read_stat, start_ticks

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# A real line with the middle fields shortened to zeros; field 22 (start time) is 8123456.
STAT_TAIL = b"S 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 8123456 3133440 409 18446744073709551615 1 1"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def wait_for_state(pid: int, state: str) -> None:
    deadline = time.monotonic() + 10
    while (stat := read_stat(pid)) is None or stat.state != state:
        assert time.monotonic() < deadline, f"process {pid} never reached state {state}: {stat}"
        time.sleep(0.005)


def test_fields_are_counted_from_the_last_parenthesis_of_the_command_name() -> None:
    stat = parse_stat(b"4242 (worker) Z (1) " + STAT_TAIL)

    assert (stat.state, stat.start_ticks) == ("S", 8123456)


def test_a_line_without_a_command_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a /proc/PID/stat line"):
        parse_stat(b"4242 S 1 7 7")


@linux_only
def test_a_running_process_with_spaces_and_parentheses_in_its_name_is_running(tmp_path: Path) -> None:
    program = tmp_path / "a) Z 1 (b"  # a naive split would read this process's state as "Z"
    shutil.copy("/bin/sleep", program)
    process = subprocess.Popen([str(program), "60"])
    try:
        wait_for_state(process.pid, "S")
        ticks = start_ticks(process.pid)

        assert ticks is not None and is_running(process.pid, ticks)
    finally:
        process.kill()
        process.wait()


@linux_only
def test_a_zombie_is_not_running(sleeper: subprocess.Popen[bytes]) -> None:
    ticks = start_ticks(sleeper.pid)
    sleeper.send_signal(signal.SIGKILL)  # not reaped: it stays a zombie until wait()
    wait_for_state(sleeper.pid, "Z")

    assert not is_running(sleeper.pid, ticks)
    assert not is_running(sleeper.pid)


@linux_only
def test_a_recycled_pid_is_not_the_process_that_held_it(sleeper: subprocess.Popen[bytes]) -> None:
    ticks = start_ticks(sleeper.pid)
    assert ticks is not None

    assert is_running(sleeper.pid, ticks)
    assert not is_running(sleeper.pid, ticks - 1), "same pid, another start time: another process"


@linux_only
def test_a_stopped_process_is_still_running(sleeper: subprocess.Popen[bytes]) -> None:
    sleeper.send_signal(signal.SIGSTOP)
    wait_for_state(sleeper.pid, "T")

    assert is_running(sleeper.pid, start_ticks(sleeper.pid))


def test_a_reaped_process_is_not_running() -> None:
    process = subprocess.Popen(["true"])
    process.wait()

    assert not is_running(process.pid)
    assert start_ticks(process.pid) is None
