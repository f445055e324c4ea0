"""Validated batches on their way from the bridge's validating thread to its storing thread.

While the store is busy with one write (a POST to InfluxDB waits for the server), the
validating thread goes on with what the broker delivers. When the write returns, the storing
thread takes *everything* validated meanwhile as its next write: one large request instead
of a queue of small ones, each waiting its turn on the server. Bounded: `put` waits once
`max_messages` messages are waiting, so that memory stays bounded when the store is slow
(the broker keeps the rest; cloud_bridge/inbox.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sized
from typing import Generic, TypeVar

T = TypeVar("T", bound=Sized)


class Handoff(Generic[T]):
    """Batches (each Sized: its number of messages) from one producer to one consumer."""

    def __init__(self, max_messages: int) -> None:
        if max_messages < 1:
            raise ValueError("the handoff needs room for at least one message")
        self.max_messages = max_messages
        self._items: list[T] = []
        self._messages = 0
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T) -> None:
        """Add a batch, waiting while `max_messages` or more wait already (a batch is always
        taken when nothing waits, however large)."""
        with self._cond:
            while self._items and self._messages >= self.max_messages:
                self._cond.wait()
            self._items.append(item)
            self._messages += len(item)
            self._cond.notify_all()

    def take_all(self) -> list[T]:
        """Every waiting batch, oldest first, waiting for at least one; [] once closed and
        empty."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            items, self._items, self._messages = self._items, [], 0
            self._cond.notify_all()
            return items

    def close(self) -> None:
        """No more batches: the consumer takes what is left, then gets []."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
