"""A page's records routed: a page of good records is mapped in one go, and a bad record anywhere in it
still makes a dead letter of itself alone, the others rows in their order."""

from __future__ import annotations

import pytest

from batchsync.config import DestinationConfig
from batchsync.engine.records import RecordRouter
from batchsync.errors import RecordError
from batchsync.models import JSONObject
from batchsync.redaction import Redactor
from batchsync.sinks.mapping import RowMapper

DESTINATION = DestinationConfig.model_validate(
    {
        "table": "items",
        "primary_key": "id",
        "columns": {"id": {"path": "id"}, "qty": {"path": "qty", "type": "integer"}},
    }
)


def router(*, fail: bool) -> RecordRouter:
    return RecordRouter(
        RowMapper(DESTINATION), record_filter=(), redactor=Redactor(), fail_on_record_error=fail
    )


def page(bad_at: int | None) -> list[JSONObject]:
    return [{"id": f"k{i}", "qty": "many" if i == bad_at else i} for i in range(5)]


def test_a_page_of_good_records_is_all_rows_in_order() -> None:
    batch = router(fail=False).route_all(page(bad_at=None))

    assert [row.key for row in batch.rows] == ["k0", "k1", "k2", "k3", "k4"]
    assert [row.values[1] for row in batch.rows] == [0, 1, 2, 3, 4]
    assert batch.dead_letters == () and batch.filtered == ()


@pytest.mark.parametrize("bad_at", [0, 2, 4])
def test_a_bad_record_is_a_dead_letter_and_only_it(bad_at: int) -> None:
    batch = router(fail=False).route_all(page(bad_at))

    assert [row.key for row in batch.rows] == [f"k{i}" for i in range(5) if i != bad_at]
    assert [letter.key for letter in batch.dead_letters] == [f"k{bad_at}"]
    assert "qty" in batch.dead_letters[0].error


def test_with_on_record_error_fail_the_bad_record_raises_naming_it() -> None:
    with pytest.raises(RecordError, match="record k3: column 'qty'"):
        router(fail=True).route_all(page(bad_at=3))
