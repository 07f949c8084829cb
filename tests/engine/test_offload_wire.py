"""How a page's records travel to a writer process: as the body's own bytes (`RecordsText`) for a whole
page of a REST pull, as records written out again otherwise. Either way the writer process reads back the
very values the run parsed: integers of any size, decimals with their digits, text JSON cannot write."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from batchsync import jsontext
from batchsync.engine.batches import BatchPosition, WriterTally
from batchsync.engine.offload.wire import Chunk, Committed, decode_records, encode_records
from batchsync.models import Checkpoint, DeadLetterReport, JSONObject, RecordsText, WriteCounts
from batchsync.paths import DottedPath

BODIES = {
    "list at the top": (b'[{"id": 1, "price": 1.10}, {"id": 2, "price": 1e400}]', None),
    "records_path": (b'{"items": [{"id": 1, "n": 123456789012345678901234567890}], "more": true}', "items"),
    "nested records_path": (b'{"data": {"rows": [{"id": "a", "name": "Zo\\u00eb"}]}}', "data.rows"),
    "lone surrogate": (b'{"items": [{"id": "x", "odd": "\\ud800"}]}', "items"),
    "no records": (b'{"items": null}', "items"),
    "empty page": (b'{"items": []}', "items"),
}


def records_as_the_run_reads_them(body: bytes, records_path: str | None) -> list[JSONObject]:
    parsed = jsontext.parse(body)
    found = parsed if records_path is None else DottedPath.parse(records_path).get(parsed)
    assert found is None or isinstance(found, list)
    return [] if found is None else found  # type: ignore[return-value]


@pytest.mark.parametrize("case", list(BODIES))
def test_the_writer_process_reads_a_pages_text_to_the_records_the_run_read(case: str) -> None:
    body, records_path = BODIES[case]
    expected = records_as_the_run_reads_them(body, records_path)

    assert decode_records(RecordsText(body, records_path)) == expected


@pytest.mark.parametrize("case", list(BODIES))
def test_records_written_out_again_read_back_the_same(case: str) -> None:
    body, records_path = BODIES[case]
    records = records_as_the_run_reads_them(body, records_path)

    assert decode_records(encode_records(records)) == records


def test_decimals_keep_their_digits_on_either_way() -> None:
    body = b'{"items": [{"price": 1.10}, {"price": 0.000000000000000000012}]}'
    via_text = decode_records(RecordsText(body, "items"))
    via_records = decode_records(encode_records(via_text))

    assert [str(record["price"]) for record in via_text] == ["1.10", "1.2E-20"]
    assert via_records == via_text and all(isinstance(r["price"], Decimal) for r in via_records)


def test_every_value_the_run_and_its_writer_process_send_pickles_back_to_itself() -> None:
    """They pickle field by field (models.PickledByFields), not through dataclasses' own state: a field
    left out or put in the wrong place would come back as another value."""
    checkpoint = Checkpoint(
        cursor={"page": 3},
        skip_records=50,
        pass_started_at=datetime(2026, 12, 1, tzinfo=UTC),
        pass_records=400,
        watermark="2026-11-30T00:00:00Z",
        fingerprint="abc",
        total_expected=1000,
        settings={"page_size": "200"},
    )
    tally = WriterTally(WriteCounts(1, 2, 3, 4), 5, 6, 7, (DeadLetterReport("k1", "bad price"),), True)
    values = [
        checkpoint,
        tally,
        BatchPosition({"page": 4}, 0, False),
        Chunk(RecordsText(b'{"items": []}', "items"), 0, BatchPosition(5, 10, True), 1000, (8, 1)),
        Committed(checkpoint, tally, (8, 1), 2),
    ]

    for value in values:
        again = pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        assert again == value and type(again) is type(value)
