"""The real outbox, with what tests need on top: the non-record messages it holds (read back
from the database, as the uplink would read them) and a way to make it refuse writes."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.outbox import Outbox, OutboxFull


@dataclass(frozen=True)
class Queued:
    id: int
    topic: str
    payload: bytes
    device_id: str
    retain: bool

    def json(self) -> dict:
        return json.loads(self.payload)


class MessageOutbox(Outbox):
    """`full_after` N: the N-th and later writes (batches or messages) raise OutboxFull, as
    the size bound would, without having to fill the outbox first."""

    def __init__(self, path, full_exc: type[Exception] = OutboxFull,
                 full_after: int | None = None) -> None:
        super().__init__(path)
        self.full_exc = full_exc
        self.full_after = full_after
        self.writes = 0

    def _write(self) -> None:
        self.writes += 1
        if self.full_after is not None and self.writes > self.full_after:
            raise self.full_exc("outbox holds 512 MB, its limit")

    def enqueue(self, topic: str, payload: bytes, now_ms: int, device_id: str = "",
                retain: bool = False) -> int:
        self._write()
        return super().enqueue(topic, payload, now_ms, device_id, retain)

    def commit_batch(self, *args, **kwargs) -> None:
        self._write()
        super().commit_batch(*args, **kwargs)

    @property
    def queued(self) -> list[Queued]:
        return [Queued(m.id, m.topic, m.payload, m.device_id, m.retain)
                for m in self.pending(limit=100_000) if not m.topic.endswith("/records")]

    def on(self, suffix: str) -> list[Queued]:
        return [q for q in self.queued if q.topic.endswith(suffix)]
