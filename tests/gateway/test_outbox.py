from gateway.outbox import Outbox


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
