"""A stand-in for the outbox's generic message API (Outbox.enqueue), which another change
adds to gateway/outbox.py; these tests only need its signature and what it was given."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.outbox import Outbox


@dataclass(frozen=True)
class Queued:
    id: int
    topic: str
    payload: bytes
    now_ms: int
    device_id: str
    retain: bool

    def json(self) -> dict:
        return json.loads(self.payload)


class MessageOutbox(Outbox):
    """The real record outbox plus `enqueue` kept in a list; `full_after` makes the
    N-th and later writes raise `full_exc` (the outbox's OutboxFull)."""

    def __init__(self, path, full_exc: type[Exception] | None = None,
                 full_after: int | None = None) -> None:
        super().__init__(path)
        self.queued: list[Queued] = []
        self.full_exc = full_exc
        self.full_after = full_after
        self.writes = 0

    def _write(self) -> None:
        self.writes += 1
        if self.full_after is not None and self.writes > self.full_after:
            assert self.full_exc is not None
            raise self.full_exc("outbox holds 512 MB, its limit")

    def enqueue(self, topic: str, payload: bytes, now_ms: int, device_id: str = "",
                retain: bool = False) -> int:
        self._write()
        self.queued.append(Queued(len(self.queued) + 1, topic, bytes(payload), now_ms,
                                  device_id, retain))
        return len(self.queued)

    def commit_batch(self, *args, **kwargs) -> None:
        self._write()
        super().commit_batch(*args, **kwargs)

    def on(self, suffix: str) -> list[Queued]:
        return [q for q in self.queued if q.topic.endswith(suffix)]
