"""Reading the JSON answer of InfluxDB's /query (1.x; 2.x and 3.x on their v1-compatible
endpoint): documents -> statements -> series, whatever the statements selected.

One answer holds one JSON document, or one per chunk when asked for `chunked=true`; a
statement's rows can span chunks (marked "partial"). Without chunking, "partial" means the
server cut the result at its max-row-limit: an error here, never a silently short answer.
A "database not found" error reads as an empty result: nothing was ever written there (and
so do the statements after it, which 1.x then answers with "not executed").

3.x sends a GROUP BY's tags as columns of each row rather than as the series' "tags";
`Series.rows` gives both the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud_bridge.stores.base import StoreError


@dataclass(frozen=True)
class Series:
    name: str
    columns: Sequence[str]
    values: Sequence[Sequence[Any]]
    tags: Mapping[str, str] = field(default_factory=dict)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each row as {column or tag: value}."""
        for row in self.values:
            cells: dict[str, Any] = dict(self.tags)
            for column, value in zip(self.columns, row, strict=True):
                if value is not None or column not in cells:
                    cells[column] = value
            yield cells


def iter_series(body: str, *, chunked: bool) -> Iterator[tuple[int, Series]]:
    """(statement_id, series) for every series in the answer, in order."""
    decoder = json.JSONDecoder()
    pos = 0
    missing = [False]  # a "database not found" was seen: later statements were skipped
    while True:
        while pos < len(body) and body[pos].isspace():
            pos += 1
        if pos >= len(body):
            return
        try:
            doc, pos = decoder.raw_decode(body, pos)
        except json.JSONDecodeError as exc:
            raise StoreError(f"InfluxDB query: unreadable response ({exc})") from None
        yield from _series_of_doc(doc, chunked=chunked, missing=missing)


def _series_of_doc(
    doc: dict[str, Any], *, chunked: bool, missing: list[bool]
) -> Iterator[tuple[int, Series]]:
    if "error" in doc:
        raise StoreError(f"InfluxDB query failed: {doc['error']}")
    for result in doc.get("results", []):
        error = result.get("error")
        if error:
            if str(error).startswith("database not found"):
                missing[0] = True
                continue  # nothing was ever written: an empty store
            if missing[0] and str(error) == "not executed":
                continue
            raise StoreError(f"InfluxDB query failed: {error}")
        if result.get("partial") and not chunked:
            raise StoreError(
                "InfluxDB truncated the result (server max-row-limit); query a shorter range"
            )
        statement = int(result.get("statement_id", 0))
        for series in result.get("series", []):
            yield statement, Series(
                name=str(series.get("name", "")),
                columns=list(series.get("columns", [])),
                values=series.get("values", []),
                tags=dict(series.get("tags") or {}),
            )
