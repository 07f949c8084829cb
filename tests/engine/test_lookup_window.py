"""LookupWindow on its own: batches handed back in the order they were sent whatever order they finish
in, room for more only while fewer than `size` are out and none has failed, an error returned for its own
batch in its turn, and a stop while waiting."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from batchsync.engine.lookup_window import LookupWindow, StoppedWaiting
from batchsync.errors import PermanentHttpError

_WAIT = 10.0


class Gates:
    """An `ask` whose batch N answers only once gate N is opened; counts how many are being asked at once."""

    def __init__(self, count: int) -> None:
        self.gates = [threading.Event() for _ in range(count)]
        self.started = [threading.Event() for _ in range(count)]
        self._lock = threading.Lock()
        self._now = self.most = 0

    def ask(self, keys: list[Any]) -> list[Any]:
        (number,) = keys
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        self.started[number].set()
        assert self.gates[number].wait(_WAIT)
        with self._lock:
            self._now -= 1
        if number == 3:
            raise PermanentHttpError("GET /keycheck answered 401", status=401)
        return [f"answer {number}"]


def test_batches_come_back_in_the_order_sent_though_later_ones_finish_first() -> None:
    asked = Gates(3)
    window = LookupWindow(asked.ask, size=3)
    for number in range(3):
        window.submit([number])
    assert all(started.wait(_WAIT) for started in asked.started), "all three are out at once"
    asked.gates[2].set()
    asked.gates[1].set()
    asked.gates[0].set()

    handed = [window.next(threading.Event()) for _ in range(3)]

    assert handed == [([0], ["answer 0"]), ([1], ["answer 1"]), ([2], ["answer 2"])]
    assert asked.most == 3 and len(window) == 0
    window.close()


def test_room_while_fewer_than_size_are_out_and_none_once_one_has_failed() -> None:
    asked = Gates(4)
    window = LookupWindow(asked.ask, size=3)
    window.submit([3])
    window.submit([0])
    assert window.has_room(), "two of three out"
    asked.gates[3].set()
    asked.gates[0].set()

    with pytest.raises(PermanentHttpError):
        window.next(threading.Event())  # batch 3's error comes back in its turn

    assert len(window) == 2 and not window.has_room(), "a failed batch stops further sends"
    window.close()


def test_a_stop_while_the_first_batch_is_out_raises_stopped_waiting() -> None:
    asked = Gates(1)
    window = LookupWindow(asked.ask, size=1)
    window.submit([0])
    stop = threading.Event()
    stop.set()

    with pytest.raises(StoppedWaiting):
        window.next(stop)

    window.close()
    asked.gates[0].set()
