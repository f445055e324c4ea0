"""Line protocol and InfluxQL shared by the InfluxDB 1.x and 2.x/3.x stores."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cloud_bridge.records import REP_FIELDS, SET_FIELDS, StoredRecord
from cloud_bridge.stores.base import StoreError
from cloud_bridge.stores.influx_schema import (
    BASE_FIELDS,
    TAG_DEVICE,
    TAG_EXERCISE,
    escape_key,
    parse_query_body,
    quote_string,
    record_from_row,
    select_statements,
    timestamp_ns,
    to_line,
)

REP = StoredRecord(
    device_id="a1b2c3d4e5f6", seq=42, kind="rep", exercise="squat", set_no=3,
    t_ms=1_764_200_000_123, time_valid=True, partial=False,
    values={"rep": 7, "duration_ms": 1800, "rom_cdeg": 9050, "peak_dps": 140},
)
SET = StoredRecord(
    device_id="a1b2c3d4e5f6", seq=43, kind="set", exercise="heel_raise", set_no=3,
    t_ms=1_764_200_009_000, time_valid=False, partial=True,
    values={"reps": 10, "partial_reps": 1, "mean_rom_cdeg": 8800, "duration_s": 40,
            "tempo_cv_pct": 12, "rests": 0},
)


def test_rep_line() -> None:
    assert to_line(REP) == (
        "rep,device=a1b2c3d4e5f6,exercise=squat "
        "seq=42i,set_no=3i,time_valid=true,partial=false,"
        "duration_ms=1800i,peak_dps=140i,rep=7i,rom_cdeg=9050i "
        "1764200000123000042"
    )


def test_set_line() -> None:
    assert to_line(SET) == (
        "set,device=a1b2c3d4e5f6,exercise=heel_raise "
        "seq=43i,set_no=3i,time_valid=false,partial=true,"
        "duration_s=40i,mean_rom_cdeg=8800i,partial_reps=1i,reps=10i,rests=0i,tempo_cv_pct=12i "
        "1764200009000000043"
    )


@pytest.mark.parametrize(("raw", "escaped"), [
    ("heel raise", r"heel\ raise"),
    ("a,b", r"a\,b"),
    ("x=y", r"x\=y"),
    (" ,= ", r"\ \,\=\ "),
    ("quote'\"", "quote'\""),  # quotes need no escaping in tags
])
def test_tag_values_are_escaped(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped
    line = to_line(replace(REP, exercise=raw))
    assert line.startswith(f"rep,device=a1b2c3d4e5f6,exercise={escaped} seq=42i,")


def test_timestamp_folds_seq_below_the_millisecond() -> None:
    assert timestamp_ns(REP) == REP.t_ms * 1_000_000 + 42
    big = replace(REP, seq=2**32 - 1)
    assert timestamp_ns(big) // 1_000_000 == REP.t_ms  # t_ms survives truncation to ms
    assert timestamp_ns(big) % 1_000_000 == (2**32 - 1) % 1_000_000


def test_field_names_do_not_collide() -> None:
    for fields in (REP_FIELDS, SET_FIELDS):
        names = [*BASE_FIELDS, *fields, TAG_DEVICE, TAG_EXERCISE, "time"]
        assert len(names) == len(set(names))


def test_select_all_devices() -> None:
    assert select_statements(None, 1000, 2000) == [
        'SELECT * FROM "rep", "set" WHERE time >= 1000000000 AND time < 2000000000'
    ]


def test_select_some_devices_quotes_and_dedups() -> None:
    [statement] = select_statements(["b", "it's", "b"], 0, 1)
    assert statement.endswith(
        "WHERE time >= 0 AND time < 1000000 AND (\"device\" = 'b' OR \"device\" = 'it\\'s')"
    )


def test_select_splits_long_device_lists() -> None:
    devices = [f"{i:012x}" for i in range(250)]
    statements = select_statements(devices, 0, 1)
    assert len(statements) == 3
    assert sum(s.count('"device" = ') for s in statements) == 250


def test_select_clamps_to_influx_time_range_and_skips_empty_ranges() -> None:
    [statement] = select_statements(None, 0, 2**62)
    assert f"time < {2**63 - 2}" in statement
    assert select_statements(None, 5, 5) == []
    assert select_statements(None, 6, 5) == []
    assert select_statements([], 0, 10) == []


def test_quote_string() -> None:
    assert quote_string("a'b\\c") == "'a\\'b\\\\c'"


def _row(rec: StoredRecord) -> tuple[list[str], list[object]]:
    cells: dict[str, object] = {
        "time": rec.t_ms, TAG_DEVICE: rec.device_id, TAG_EXERCISE: rec.exercise,
        "seq": rec.seq, "set_no": rec.set_no, "time_valid": rec.time_valid,
        "partial": rec.partial, **rec.values,
    }
    return list(cells), list(cells.values())


@pytest.mark.parametrize("rec", [REP, SET])
def test_row_round_trip(rec: StoredRecord) -> None:
    columns, row = _row(rec)
    assert record_from_row(rec.kind, columns, row) == rec


def test_row_still_being_written_is_skipped_and_foreign_fields_ignored() -> None:
    columns, row = _row(REP)
    torn = [None if c == "rom_cdeg" else v for c, v in zip(columns, row, strict=True)]
    assert record_from_row("rep", columns, torn) is None
    assert record_from_row("rep", [*columns, "other"], [*row, 5]) == REP


def test_parse_chunked_body_joins_documents() -> None:
    columns, row = _row(REP)
    set_columns, set_row = _row(SET)
    chunk1 = {"results": [{"statement_id": 0, "partial": True, "series": [
        {"name": "rep", "columns": columns, "values": [row]}]}]}
    chunk2 = {"results": [{"statement_id": 0, "series": [
        {"name": "set", "columns": set_columns, "values": [set_row]}]}]}
    body = json.dumps(chunk1) + "\n" + json.dumps(chunk2) + "\n"
    assert list(parse_query_body(body, chunked=True)) == [REP, SET]


def test_parse_body_errors() -> None:
    missing_db = '{"results":[{"statement_id":0,"error":"database not found: x"}]}'
    assert list(parse_query_body(missing_db, chunked=False)) == []
    with pytest.raises(StoreError, match="error parsing query"):
        list(parse_query_body('{"results":[{"error":"error parsing query: x"}]}', chunked=False))
    with pytest.raises(StoreError, match="truncated"):
        list(parse_query_body('{"results":[{"partial":true,"series":[]}]}', chunked=False))
    with pytest.raises(StoreError, match="unreadable"):
        list(parse_query_body("<html>proxy error</html>", chunked=False))
    with pytest.raises(StoreError, match="unexpected measurement"):
        list(parse_query_body(
            '{"results":[{"series":[{"name":"cpu","columns":["time"],"values":[[1]]}]}]}',
            chunked=False,
        ))
