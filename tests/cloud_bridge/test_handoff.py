"""Validated batches from the bridge's validating thread to its storing thread: all that
waits is taken at once, the producer waits once enough waits, close wakes the consumer."""

import threading
import time

from cloud_bridge.handoff import Handoff


class Batch(list):
    """A batch of messages (its length: how many)."""


def test_take_all_hands_over_every_batch_waiting_in_order():
    handoff: Handoff[Batch] = Handoff(10)
    handoff.put(Batch([1, 2]))
    handoff.put(Batch([3]))
    assert handoff.take_all() == [[1, 2], [3]]


def test_put_waits_while_enough_messages_wait_then_goes_on_once_taken():
    handoff: Handoff[Batch] = Handoff(3)
    handoff.put(Batch([1, 2, 3]))
    t = threading.Thread(target=handoff.put, args=(Batch([4]),), daemon=True)
    t.start()
    time.sleep(0.1)
    assert t.is_alive()
    assert handoff.take_all() == [[1, 2, 3]]
    t.join(2)
    assert not t.is_alive()
    assert handoff.take_all() == [[4]]


def test_a_batch_larger_than_the_limit_is_taken_when_nothing_waits():
    handoff: Handoff[Batch] = Handoff(2)
    handoff.put(Batch([1, 2, 3, 4]))
    assert handoff.take_all() == [[1, 2, 3, 4]]


def test_close_hands_over_what_is_left_then_nothing():
    handoff: Handoff[Batch] = Handoff(5)
    got: list[list[Batch]] = []
    t = threading.Thread(target=lambda: got.extend([handoff.take_all(), handoff.take_all()]),
                         daemon=True)
    handoff.put(Batch([1]))
    handoff.close()
    t.start()
    t.join(2)
    assert got == [[[1]], []]


def test_close_wakes_a_waiting_consumer():
    handoff: Handoff[Batch] = Handoff(5)
    got: list[list[Batch]] = []
    t = threading.Thread(target=lambda: got.append(handoff.take_all()), daemon=True)
    t.start()
    time.sleep(0.1)
    handoff.close()
    t.join(2)
    assert got == [[]]
