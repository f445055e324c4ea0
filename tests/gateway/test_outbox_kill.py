"""kill -9 at random moments while a writer commits batches and deletes published ones:
the outbox must always reopen sound and keep every batch whose commit returned."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.outbox import Outbox

pytestmark = pytest.mark.fault

DEVICE = "aaaaaaaaaaaa"
KILLS = 30
REPO = Path(__file__).resolve().parents[2]

# The writer: commit a batch, say so; now and then "publish" the oldest rows (say so, then
# delete them), as the uplink does after a PUBACK. Sizes vary so commits span WAL frames
# and checkpoints happen.
WRITER = f"""
import random, sys
from gateway.outbox import Outbox
box = Outbox(sys.argv[1])
seq = box.committed_seq({DEVICE!r})
rng = random.Random(int(sys.argv[2]))
print("start", seq, flush=True)
while True:
    n = rng.randint(1, 8)
    box.commit_batch({DEVICE!r}, 1, seq + 1, seq + n, "rtm/v1/k/{DEVICE}/records",
                     rng.randbytes(rng.randint(100, 6000)), seq)
    seq += n
    print("C", seq, flush=True)
    if rng.random() < 0.4:
        for m in box.pending(limit=rng.randint(1, 3)):
            print("P", m.last_seq, flush=True)
            box.delete(m.id)
"""


def _run_and_kill(path: Path, seed: int, delay_s: float) -> tuple[int, set[int], set[int]]:
    """Start the writer, SIGKILL it after delay_s; its start seq, committed and published."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(seed)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    assert first[0] == "start", first
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed, published = set(), set()
    for line in proc.stdout.read().splitlines(keepends=True):
        if not line.endswith("\n"):
            continue  # cut by the kill: the commit may or may not have returned
        kind, seq = line.split()
        (committed if kind == "C" else published).add(int(seq))
    proc.stdout.close()
    return int(first[1]), committed, published


def test_kill_9_at_random_moments_loses_no_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    rng = random.Random(20261127)
    committed_before = 0
    all_committed: set[int] = set()
    all_published: set[int] = set()
    for kill in range(KILLS):
        start_seq, committed, published = _run_and_kill(path, kill, rng.uniform(0.0, 0.08))
        assert start_seq == committed_before  # what the last reopen saw, nothing less
        all_committed |= committed
        all_published |= published
        box = Outbox(path)
        assert box._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = box.pending(limit=1_000_000)
        present = {m.last_seq for m in rows}
        assert [m.last_seq for m in rows] == sorted(present)  # still in commit order
        assert all_committed <= present | all_published, (
            f"kill {kill}: lost {sorted(all_committed - present - all_published)[:5]}")
        seq = box.committed_seq(DEVICE)
        assert seq >= max(all_committed, default=0) and seq >= committed_before
        committed_before = seq
        box.close()
    assert len(all_committed) > KILLS  # the writer did get work done between kills
