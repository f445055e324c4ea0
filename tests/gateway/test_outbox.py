import errno
import logging
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from gateway.outbox import Outbox, OutboxFull, OutboxMessage, OutboxStats


def test_commit_is_durable_and_ordered(tmp_path):
    path = tmp_path / "o.db"
    box = Outbox(path)
    box.commit_batch("aaaaaaaaaaaa", 7, 1, 10, "t/1", b"one", 1)
    box.commit_batch("bbbbbbbbbbbb", 7, 1, 5, "t/2", b"two", 2)
    box.commit_batch("aaaaaaaaaaaa", 7, 11, 12, "t/1", b"three", 3)
    box.close()
    again = Outbox(path)
    assert [m.payload for m in again.pending()] == [b"one", b"two", b"three"]
    assert again.committed_seq("aaaaaaaaaaaa") == 12 and again.committed_seq("cccccccccccc") == 0
    first = again.pending(limit=1)[0]
    again.delete(first.id)
    assert again.depth() == 2
    assert [m.payload for m in again.pending(after_id=first.id + 1)] == [b"three"]


def test_committed_seq_never_goes_back_except_on_reset(tmp_path):
    box = Outbox(tmp_path / "o.db")
    box.commit_batch("aaaaaaaaaaaa", 7, 5, 9, "t", b"x", 1)
    box.commit_batch("aaaaaaaaaaaa", 7, 1, 3, "t", b"y", 2)
    assert box.committed_seq("aaaaaaaaaaaa") == 9
    box.reset_device("aaaaaaaaaaaa", 8, 100)
    assert box.device_state("aaaaaaaaaaaa") == (8, 100)
    box.commit_batch("aaaaaaaaaaaa", 9, 1, 2, "t", b"z", 3)  # yet another log: its own count
    assert box.device_state("aaaaaaaaaaaa") == (9, 2)


def test_enqueued_messages_go_out_in_order_with_batches(tmp_path):
    box = Outbox(tmp_path / "o.db")
    box.commit_batch("aaaaaaaaaaaa", 7, 1, 10, "t/rec", b"batch", 1)
    msg_id = box.enqueue("t/ack", b"ack", 2, device_id="aaaaaaaaaaaa", retain=True)
    box.commit_batch("aaaaaaaaaaaa", 7, 11, 20, "t/rec", b"batch2", 3)
    pending = box.pending()
    assert [(m.topic, m.payload, m.retain) for m in pending] == [
        ("t/rec", b"batch", False), ("t/ack", b"ack", True), ("t/rec", b"batch2", False)]
    assert pending[1].id == msg_id and pending[1].device_id == "aaaaaaaaaaaa"
    assert box.committed_seq("aaaaaaaaaaaa") == 20  # enqueue does not touch it


def test_topics_paho_would_refuse_are_refused_here(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for topic in ("", "rtm/+/x", "rtm/#"):
        with pytest.raises(ValueError):
            box.enqueue(topic, b"x", 1)
    assert box.depth() == 0


def test_stats_report_depth_bytes_and_oldest(tmp_path):
    box = Outbox(tmp_path / "o.db", max_bytes=10_000)
    assert box.stats() == OutboxStats(0, 0, None, 0, 0, 10_000)
    box.commit_batch("aaaaaaaaaaaa", 7, 1, 10, "t/1", b"x" * 100, 1_000)
    box.enqueue("t/22", b"y" * 50, 2_000)
    assert box.stats() == OutboxStats(2, 103 + 54, 1_000, 0, 0, 10_000)
    box.delete(box.pending()[0].id)
    assert box.stats() == OutboxStats(1, 54, 2_000, 0, 0, 10_000)


def test_full_outbox_refuses_a_batch_commits_nothing_and_raises_an_alarm(tmp_path, caplog):
    box = Outbox(tmp_path / "o.db", max_bytes=10_000)  # reserve: 500 bytes
    box.commit_batch("aaaaaaaaaaaa", 7, 1, 10, "t", b"x" * 9_000, 1)
    with caplog.at_level(logging.ERROR, logger="gateway.outbox"), \
            pytest.raises(OutboxFull) as refused:
        box.commit_batch("aaaaaaaaaaaa", 7, 11, 20, "t", b"x" * 600, 2)
    assert refused.value.errno == errno.ENOSPC and isinstance(refused.value, OSError)
    assert box.committed_seq("aaaaaaaaaaaa") == 10  # the wearable is not acknowledged
    assert box.depth() == 1
    assert "ALARM outbox full" in caplog.text and "11..20" in caplog.text
    assert box.stats().refused_batches == 1


def test_the_reserve_keeps_room_for_control_messages(tmp_path):
    box = Outbox(tmp_path / "o.db", max_bytes=10_000)
    assert box.reserve_bytes == 500
    box.commit_batch("aaaaaaaaaaaa", 7, 1, 10, "t", b"x" * 9_400, 1)
    with pytest.raises(OutboxFull):
        box.commit_batch("aaaaaaaaaaaa", 7, 11, 11, "t", b"x" * 200, 2)
    box.enqueue("t/ack", b"a" * 400, 3)  # fits in the reserve
    with pytest.raises(OutboxFull):
        box.enqueue("t/ack", b"a" * 400, 4)  # past the whole bound
    stats = box.stats()
    assert (stats.depth, stats.refused_batches, stats.refused_messages) == (2, 1, 1)


def test_room_comes_back_after_delivery_and_refusals_stay_counted(tmp_path):
    path = tmp_path / "o.db"
    box = Outbox(path, max_bytes=10_000)
    box.commit_batch("aaaaaaaaaaaa", 7, 1, 10, "t", b"x" * 9_000, 1)
    with pytest.raises(OutboxFull):
        box.commit_batch("aaaaaaaaaaaa", 7, 11, 20, "t", b"x" * 9_000, 2)
    box.close()
    again = Outbox(path, max_bytes=10_000)
    assert again.stats().bytes == 9_001  # summed from the rows held, whoever wrote them
    again.delete(again.pending()[0].id)
    again.commit_batch("aaaaaaaaaaaa", 7, 11, 20, "t", b"x" * 9_000, 3)
    assert again.committed_seq("aaaaaaaaaaaa") == 20
    assert again.stats().refused_batches == 1


def test_the_bound_holds_across_processes_sharing_the_outbox(tmp_path):
    # The service and `rtm-gateway sync` both write the file: each sees the other's rows.
    service = Outbox(tmp_path / "o.db", max_bytes=4000)
    cli = Outbox(tmp_path / "o.db", max_bytes=4000)
    for i in range(3):
        service.commit_batch("d1", 1, i + 1, i + 1, "rtm/v1/g/d1/records", b"x" * 1000, i)
    with pytest.raises(OutboxFull):  # 3 KB held by the other process, 200 B reserved
        cli.commit_batch("d1", 1, 4, 4, "rtm/v1/g/d1/records", b"x" * 1000, 4)
    for msg in cli.pending():
        cli.delete(msg.id)  # the CLI delivered them
    service.commit_batch("d1", 1, 4, 4, "rtm/v1/g/d1/records", b"x" * 1000, 4)
    assert service.stats().bytes == cli.stats().bytes == 1000 + len("rtm/v1/g/d1/records")


def test_an_outbox_of_the_first_release_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, "
        "first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, topic TEXT NOT NULL, "
        "payload BLOB NOT NULL, created_ms INTEGER NOT NULL);"
        "INSERT INTO messages VALUES (1, 'aaaaaaaaaaaa', 1, 2, 'abc', x'0102', 5);")
    db.commit()
    db.close()
    box = Outbox(path, max_bytes=1_000)
    assert box.pending()[0] == OutboxMessage(1, "aaaaaaaaaaaa", 1, 2, "abc", b"\x01\x02")
    assert box.stats().bytes == 5


def _frames_after_each_commit(box, wal, n):
    sizes = []
    for i in range(1, n + 1):
        box.commit_batch("aaaaaaaaaaaa", 7, i, i, "t", bytes([i]) * 3000, i)
        sizes.append(wal.stat().st_size)
    return sizes


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_torn_wal_tail_keeps_every_transaction_committed_before_it(tmp_path, damage):
    """Power loss mid-commit leaves a torn WAL tail: reopening keeps exactly the commits
    whose frames are whole (SQLite's WAL frame checksums), and the database is sound."""
    path = tmp_path / "o.db"
    box = Outbox(path)
    wal = Path(f"{path}-wal")
    ends = _frames_after_each_commit(box, wal, 12)
    assert ends == sorted(ends)  # no checkpoint reset the WAL in between
    rng = random.Random(4)
    cuts = [ends[-1] - 1, ends[5] + 7, *(rng.randrange(32, ends[-1]) for _ in range(6))]
    for cut in cuts:
        copy = tmp_path / f"copy-{damage}-{cut}"
        copy.mkdir()
        shutil.copy(path, copy / "o.db")
        data = wal.read_bytes()[:cut] if damage == "truncate" else _flip(wal.read_bytes(), cut)
        (copy / "o.db-wal").write_bytes(data)
        whole = sum(1 for end in ends if end <= cut)
        again = Outbox(copy / "o.db")
        assert again._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [m.last_seq for m in again.pending()] == list(range(1, whole + 1))
        assert again.committed_seq("aaaaaaaaaaaa") == whole
        again.close()
    box.close()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


# -- enqueue_latest: one waiting row per retained state topic ------------------------------

def test_enqueue_latest_replaces_the_waiting_row_of_its_topic_only(tmp_path):
    box = Outbox(tmp_path / "o.db")
    box.commit_batch("aaaaaaaaaaaa", 7, 1, 10, "t/a/state", b"records", 1)  # not retained
    box.enqueue("t/a/state", b"plain", 2)  # not retained either: never superseded
    box.enqueue_latest("t/a/state", b"a1", 3, device_id="aaaaaaaaaaaa")
    box.enqueue_latest("t/b/state", b"b1", 4)
    newest = box.enqueue_latest("t/a/state", b"a2", 5, device_id="aaaaaaaaaaaa")
    pending = box.pending()
    assert [(m.topic, m.payload, m.retain) for m in pending] == [
        ("t/a/state", b"records", False), ("t/a/state", b"plain", False),
        ("t/b/state", b"b1", True), ("t/a/state", b"a2", True)]
    assert pending[-1].id == newest and pending[-1].device_id == "aaaaaaaaaaaa"
    assert box.stats().bytes == sum(len(m.topic) + len(m.payload) for m in pending)


def test_a_thousand_reports_of_one_wearable_leave_one_row(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for i in range(1000):
        box.enqueue_latest("rtm/v1/gw/aaaaaaaaaaaa/state", f"failure {i}".encode(), i)
    assert [m.payload for m in box.pending()] == [b"failure 999"]


def test_a_superseded_row_already_in_flight_is_delivered_and_its_delete_is_harmless(tmp_path):
    box = Outbox(tmp_path / "o.db")
    old = box.enqueue_latest("t/state", b"old", 1)
    in_flight = box.pending(limit=10)  # the uplink handed it to paho
    new = box.enqueue_latest("t/state", b"new", 2)
    box.delete(*(m.id for m in in_flight))  # its PUBACK came
    assert [(m.id, m.payload) for m in box.pending(after_id=old)] == [(new, b"new")]
    assert box.depth() == 1


def test_enqueue_latest_counts_the_row_it_replaces_as_free(tmp_path):
    box = Outbox(tmp_path / "o.db", max_bytes=100)
    box.enqueue_latest("t/state", b"x" * 80, 1)  # 87 of 100 bytes
    box.enqueue_latest("t/state", b"y" * 80, 2)  # fits in place of the first
    assert [m.payload for m in box.pending()] == [b"y" * 80]
    with pytest.raises(OutboxFull):
        box.enqueue_latest("t/state", b"z" * 100, 3)
    assert [m.payload for m in box.pending()] == [b"y" * 80]  # refused: the older one stays
    assert box.stats().refused_messages == 1
