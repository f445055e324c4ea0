"""The bridge's inboxes: what one of its threads hands the next, bounded.

The first holds the messages paho delivered that the writer has not handled yet. Bounded by
count and by bytes: when it is full, `put` (called on paho's network thread) waits, paho
stops reading the socket and the broker keeps the rest -- backpressure, not an
ever-growing queue while the store is slow or down. In practice the broker stops first: it
sends a client at most its in-flight window of unacknowledged QoS 1 messages (mosquitto's
max_inflight_messages, MQTT v5's Receive Maximum), and the bridge acknowledges a message
only once the store has it.

`take` hands the writer everything waiting (up to a batch limit) in one go, so that the
messages that arrived during one store write go into the next as one batch: batching that
adds no latency when the store keeps up.

With a store whose writes wait on a server, a second one carries validated batches to the
storing thread, each sized by its number of messages: the storing thread takes everything
validated during its last write as its next write (cloud_bridge/subscriber.py).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Delivery:
    mid: int
    qos: int
    topic: str
    payload: bytes


def payload_bytes(delivery: Delivery) -> int:
    return len(delivery.payload)


class Inbox(Generic[T]):
    """Items from one thread to another, at most `max_items` of them and `max_size` in all,
    an item's size being `size(item)` (a delivery's payload bytes unless told)."""

    def __init__(self, max_items: int, max_size: int,
                 size: Callable[[Any], int] = payload_bytes) -> None:
        if max_items < 1 or max_size < 1:
            raise ValueError("the inbox needs room for at least one item")
        self.max_items = max_items
        self.max_size = max_size
        self._size_of = size
        self._items: deque[T] = deque()
        self._size = 0
        self._closed = False
        self._cond = threading.Condition()
        self.high_water_items = 0
        self.high_water_size = 0

    def put(self, item: T) -> None:
        """Add an item, waiting while the inbox is full. An item larger than the size
        budget is taken alone, when the inbox is empty (refusing it would lose it)."""
        size = self._size_of(item)
        with self._cond:
            while self._items and (len(self._items) >= self.max_items
                                   or self._size + size > self.max_size):
                self._cond.wait()
            self._items.append(item)
            self._size += size
            self.high_water_items = max(self.high_water_items, len(self._items))
            self.high_water_size = max(self.high_water_size, self._size)
            self._cond.notify_all()

    def take(self, max_items: int | None = None) -> list[T]:
        """Up to `max_items` items (None: all), oldest first, waiting for at least one; []
        once the inbox is closed and empty."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            batch: list[T] = []
            while self._items and (max_items is None or len(batch) < max_items):
                item = self._items.popleft()
                self._size -= self._size_of(item)
                batch.append(item)
            self._cond.notify_all()
            return batch

    def close(self) -> None:
        """Wake the taker: it takes what is left, then gets []."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def depth(self) -> tuple[int, int]:
        """(items, size) waiting now."""
        with self._cond:
            return len(self._items), self._size
