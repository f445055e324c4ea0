"""The bridge's inbox: messages paho delivered that the writer has not handled yet.

Bounded by count and by bytes: when it is full, `put` (called on paho's network thread)
waits, paho stops reading the socket and the broker keeps the rest -- backpressure, not an
ever-growing queue while the store is slow or down. In practice the broker stops first: it
sends a client at most its in-flight window of unacknowledged QoS 1 messages (mosquitto's
max_inflight_messages, MQTT v5's Receive Maximum), and the bridge acknowledges a message
only once the store has it.

`take` hands the writer everything waiting (up to a batch limit) in one go, so that the
messages that arrived during one store write go into the next as one batch: batching that
adds no latency when the store keeps up.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    mid: int
    qos: int
    topic: str
    payload: bytes


class Inbox:
    def __init__(self, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("the inbox needs room for at least one message")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[Delivery] = deque()
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()
        self.high_water_messages = 0
        self.high_water_bytes = 0

    def put(self, delivery: Delivery) -> None:
        """Add a delivery, waiting while the inbox is full. A message larger than the byte
        budget is taken alone, when the inbox is empty (refusing it would lose it)."""
        size = len(delivery.payload)
        with self._cond:
            while self._items and (len(self._items) >= self.max_messages
                                   or self._bytes + size > self.max_bytes):
                self._cond.wait()
            self._items.append(delivery)
            self._bytes += size
            self.high_water_messages = max(self.high_water_messages, len(self._items))
            self.high_water_bytes = max(self.high_water_bytes, self._bytes)
            self._cond.notify_all()

    def take(self, max_messages: int) -> list[Delivery]:
        """Up to `max_messages` deliveries, oldest first, waiting for at least one; [] once
        the inbox is closed and empty."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            batch: list[Delivery] = []
            while self._items and len(batch) < max_messages:
                delivery = self._items.popleft()
                self._bytes -= len(delivery.payload)
                batch.append(delivery)
            self._cond.notify_all()
            return batch

    def close(self) -> None:
        """Wake the writer: it takes what is left, then gets []."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def depth(self) -> tuple[int, int]:
        """(messages, bytes) waiting now."""
        with self._cond:
            return len(self._items), self._bytes
