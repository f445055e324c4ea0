"""The record log's power-cut proof: a scripted life of the log, cut at every byte written.

`SCRIPT` creates a log, fills it, has an append refused, acknowledges, evicts acknowledged
records for more than a lap of the ring, and reboots. `run_cut` plays it on a fresh medium
(`PowerCutFlash`, or `PowerCutFiles` under the device's `PagedFileStorage`) with the power
cut after `cut_at` bytes, then reboots (a new `RecordLog` over the same medium,
`new_boot()`), checks the log against `GroundTruth`, stores one more record and checks
again after a further reboot. With `second_cuts` the reboot that follows
the cut is itself cut at each of the bytes it writes (recovery creating a lost log, the
boot counter), then rebooted and checked once more.

What every check demands (`check_recovered`), a violation being counted, never raised, so
the totals can go in a report:

- every record whose `append` returned is readable, byte for byte, unless it was
  acknowledged (then it may have been evicted); a missing unacknowledged record is *lost*;
- `read` never returns a record other than the one written with that seq (a torn or stale
  slot is *corrupt*), nor one the firmware was never asked to store;
- the acknowledged seq, boot counter and refusal count are the ones of the last meta write
  that returned, or of the one the cut interrupted; the log id never changes once created;
- the next seq is above every record that may have been sent (no seq *reused*), and the
  boot number after the reboot is above every boot stamped on a record;
- opening the log after a cut never raises (a wearable that fails there at every boot is
  *bricked*).

Runs unchanged on CPython and MicroPython: plain classes, %-formatting, no typing imports.
"""

# MicroPython, as in firmware/ (pyproject.toml): %-formatting is the port-independent way to
# build messages, and there is no contextlib to suppress an exception with.
# ruff: noqa: UP031, SIM105

from firmware.core import codec
from firmware.core.record_log import RecordLog
from tests.firmware.core.power_cut_storage import TORN_MODE_NAMES, PowerCut, PowerCutFlash

CAPACITY = 6  # slots: small, so the script reaches eviction and laps in few bytes
FLASH_BYTES = 64 + codec.RECORD_SIZE * CAPACITY
FIRST_LOG_ID = 0xDEADBEEF  # its low 29 bits are where the log's seqs start: not 1
REBOOT_LOG_ID = 0x0BADF00D  # what every later boot offers; used only if no log survived
_SEQ_BASE_MASK = 0x1FFFFFFF  # the log's documented rule (docs/protocol.md, record log)

# (operation, argument): "boot" offers a log id; "append" n records; "ack_all_but" n
# acknowledges everything but the newest n records, after reading them as a FETCH would.
SCRIPT = (
    ("boot", FIRST_LOG_ID),  # creates the log (meta write), counts a boot (meta write)
    ("append", CAPACITY),  # the ring is full of unacknowledged records
    ("append", 1),  # refused: the refusal count is a meta write
    ("ack_all_but", 2),
    ("append", CAPACITY - 2),  # overwrites the acknowledged records (eviction)
    ("append", 1),  # refused again
    ("boot", REBOOT_LOG_ID),  # a clean reboot: the log is found, not created
    ("ack_all_but", 0),
    ("append", CAPACITY),  # a whole lap: every slot overwritten
    ("ack_all_but", 3),
    ("append", 3),  # into the next lap
    ("boot", REBOOT_LOG_ID),
    ("ack_all_but", 0),
    ("append", 1),
)

_MAX_VIOLATIONS_KEPT = 20


class GroundTruth:
    """What the firmware was told is durable (the log calls that returned), and the effect
    of the one call the power cut interrupted, which may or may not have reached flash."""

    def __init__(self) -> None:
        self.log_id: int | None = None  # known once a RecordLog() returned
        self.offered_log_ids: list = []  # ids a creation may have used before that
        self.records: dict = {}  # seq -> bytes, for every append that returned True
        self.meta: tuple = (0, 0, 0)  # (acked_seq, boot, refused) of the last meta write
        self.pending_meta: tuple | None = None  # the meta write the cut interrupted
        self.pending_record: tuple | None = None  # (seq, bytes) of an interrupted append
        self.highest_sent = 0  # the highest seq a FETCH handed to the gateway
        self.highest_boot_stamped = 0  # the highest boot number carried by a record

    def copy(self) -> "GroundTruth":
        twin = GroundTruth()
        twin.log_id = self.log_id
        twin.offered_log_ids = list(self.offered_log_ids)
        twin.records = dict(self.records)
        twin.meta = self.meta
        twin.pending_meta = self.pending_meta
        twin.pending_record = self.pending_record
        twin.highest_sent = self.highest_sent
        twin.highest_boot_stamped = self.highest_boot_stamped
        return twin

    def highest_written(self) -> int:
        highest = self.highest_sent
        for seq in self.records:
            if seq > highest:
                highest = seq
        return highest


class CutStats:
    """Totals over a series of cut runs, for the report table."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cut_points = 0  # runs: one power cut each (plus one per second cut)
        self.second_cuts = 0  # runs whose recovery was cut again
        self.checks = 0  # check_recovered() calls: reboots verified
        self.records_verified = 0  # readable records compared byte for byte, all checks
        self.unacked_verified = 0  # of which unacknowledged (the ones that must survive)
        self.fewest_after_cut = -1  # records verified at the first reboot after a cut
        self.most_after_cut = 0
        self.lost = 0  # unacknowledged records that were not readable: must stay 0
        self.corrupt = 0  # reads that returned a record other than the one written: 0
        self.reused = 0  # seqs handed out again after a reboot: 0
        self.state_errors = 0  # meta state, log id or boot counter not as written: 0
        self.bricked = 0  # recoveries that raised: the wearable would fail every boot: 0
        self.violations: list = []

    def violation(self, kind: str, text: str) -> None:
        if kind == "lost":
            self.lost += 1
        elif kind == "corrupt":
            self.corrupt += 1
        elif kind == "reused":
            self.reused += 1
        elif kind == "bricked":
            self.bricked += 1
        else:
            self.state_errors += 1
        if len(self.violations) < _MAX_VIOLATIONS_KEPT:
            self.violations.append("%s: %s" % (kind, text))

    def after_cut(self, verified: int) -> None:
        if self.fewest_after_cut < 0 or verified < self.fewest_after_cut:
            self.fewest_after_cut = verified
        if verified > self.most_after_cut:
            self.most_after_cut = verified

    def as_dict(self) -> dict:
        return {
            "name": self.name, "cut_points": self.cut_points, "second_cuts": self.second_cuts,
            "reboots_checked": self.checks, "records_verified": self.records_verified,
            "unacked_verified": self.unacked_verified,
            "records_verified_after_a_cut_min": self.fewest_after_cut,
            "records_verified_after_a_cut_max": self.most_after_cut,
            "lost": self.lost, "corrupt": self.corrupt, "seq_reused": self.reused,
            "state_errors": self.state_errors, "bricked": self.bricked,
        }

    def summary(self) -> str:
        return ("%s: cut points %d (second cuts %d), reboots checked %d, records verified %d"
                " (unacknowledged %d), per cut %d..%d; lost %d, corrupt %d, seq reused %d,"
                " state errors %d, bricked %d" % (
                    self.name, self.cut_points, self.second_cuts, self.checks,
                    self.records_verified, self.unacked_verified, self.fewest_after_cut,
                    self.most_after_cut, self.lost, self.corrupt, self.reused,
                    self.state_errors, self.bricked))


# -- the scripted operations: each keeps the ground truth as the firmware would see it ------

def boot(medium, truth: GroundTruth, offered_log_id: int, stats: CutStats,
         where: str) -> tuple:
    """Start the wearable: open the log (recovery), check it, count a boot.

    Returns (log, records verified by the check)."""
    if truth.log_id is None:
        truth.offered_log_ids.append(offered_log_id)
    log = RecordLog(medium.open_storage(), offered_log_id)
    verified = check_recovered(log, truth, stats, where)
    settle(log, truth)
    truth.pending_meta = (log.acked_seq, (log.boot + 1) & 0xFFFF, log.refused)
    log.new_boot()
    truth.meta = truth.pending_meta
    truth.pending_meta = None
    if log.boot <= truth.highest_boot_stamped:
        stats.violation("state", "%s: boot %d reuses a boot number already stamped (%d)"
                        % (where, log.boot, truth.highest_boot_stamped))
    return log, verified


def append_records(log: RecordLog, truth: GroundTruth, count: int, stats: CutStats,
                   where: str) -> None:
    for _ in range(count):
        seq = log.next_seq()
        record = bytes(codec.encode_rep(seq, 0, 1, 1, seq * 1000, log.boot, 1, 1000, 4500, 90))
        # docs/protocol.md: an unacknowledged record is never overwritten, the new one is
        # refused and counted.
        must_refuse = seq - log.capacity > log.acked_seq
        if must_refuse:
            truth.pending_meta = (log.acked_seq, log.boot, log.refused + 1)
        else:
            truth.pending_record = (seq, record)
        stored = log.append(record)
        truth.pending_record = None
        if stored == must_refuse:
            stats.violation("state", "%s: append of seq %d %s" % (
                where, seq, "stored over an unacknowledged record" if stored else "refused"))
        if stored:
            truth.records[seq] = record
            if log.boot > truth.highest_boot_stamped:
                truth.highest_boot_stamped = log.boot
        else:
            truth.meta = truth.pending_meta
            truth.pending_meta = None


def fetch_and_acknowledge(log: RecordLog, truth: GroundTruth, keep_newest: int,
                          stats: CutStats, where: str) -> None:
    """The gateway's side of a sync: read the unacknowledged records, then acknowledge all
    but the newest `keep_newest` of them."""
    upto = log.last_seq - keep_newest
    for seq in range(log.acked_seq + 1, log.last_seq + 1):
        raw = log.read(seq)
        if raw is None or bytes(raw) != truth.records.get(seq):
            stats.violation("lost", "%s: FETCH of unacknowledged seq %d gave %r"
                            % (where, seq, raw))
        elif seq > truth.highest_sent:
            truth.highest_sent = seq
    truth.pending_meta = (upto, log.boot, log.refused)
    log.acknowledge(upto)
    truth.meta = truth.pending_meta
    truth.pending_meta = None


def run_script(medium, truth: GroundTruth, stats: CutStats, where: str):
    """Play SCRIPT; returns the log as it stands at the end (a PowerCut propagates)."""
    log = None
    for step, (operation, argument) in enumerate(SCRIPT):
        at = "%s, step %d %s %d" % (where, step, operation, argument)
        if operation == "boot":
            log = boot(medium, truth, argument, stats, at)[0]
        elif operation == "append":
            append_records(log, truth, argument, stats, at)
        else:
            fetch_and_acknowledge(log, truth, argument, stats, at)
    return log


# -- the checks -----------------------------------------------------------------------------

def check_recovered(log: RecordLog, truth: GroundTruth, stats: CutStats, where: str) -> int:
    """Compare a freshly opened log with the ground truth; returns the records verified."""
    stats.checks += 1
    state = (log.acked_seq, log.boot, log.refused)
    if truth.log_id is None:
        # No creation returned yet: any offered id may have made it to flash, as a new log.
        if log.log_id not in truth.offered_log_ids:
            stats.violation("state", "%s: log id %#x was never offered" % (where, log.log_id))
        fresh = (log.log_id & _SEQ_BASE_MASK, 0, 0)
        if state != fresh:
            stats.violation("state", "%s: new log state %r, expected %r" % (where, state, fresh))
    else:
        if log.log_id != truth.log_id:
            stats.violation("state", "%s: log id %#x changed to %#x (log recreated)"
                            % (where, truth.log_id, log.log_id))
        if state != truth.meta and state != truth.pending_meta:
            stats.violation("state", "%s: (acked, boot, refused) %r, written %r, in flight %r"
                            % (where, state, truth.meta, truth.pending_meta))
    highest = truth.highest_written()
    if log.next_seq() <= highest:
        stats.violation("reused", "%s: next seq %d, but seq %d was already written"
                        % (where, log.next_seq(), highest))
    verified = 0
    for seq in truth.records:
        raw = log.read(seq)
        if raw is None:
            if seq > log.acked_seq:
                stats.violation("lost", "%s: unacknowledged seq %d unreadable" % (where, seq))
            continue
        if bytes(raw) != truth.records[seq]:
            stats.violation("corrupt", "%s: seq %d reads back different bytes" % (where, seq))
            continue
        verified += 1
        if seq > log.acked_seq:
            stats.unacked_verified += 1
    # Nothing else may come out: every readable seq is one the firmware stored or was
    # storing when the power went.
    pending = truth.pending_record
    for seq in range(log.oldest_seq(), log.last_seq + 1):
        if seq in truth.records:
            continue
        raw = log.read(seq)
        if raw is None:
            continue
        if pending is None or seq != pending[0] or bytes(raw) != pending[1]:
            stats.violation("corrupt", "%s: seq %d was never written, read %r"
                            % (where, seq, bytes(raw)))
    stats.records_verified += verified
    return verified


def settle(log: RecordLog, truth: GroundTruth) -> None:
    """After a check: what the reopened log holds is the new ground truth (an interrupted
    write either landed or did not, and from now on that is durable)."""
    truth.log_id = log.log_id
    truth.offered_log_ids = []
    truth.meta = (log.acked_seq, log.boot, log.refused)
    truth.pending_meta = None
    pending = truth.pending_record
    truth.pending_record = None
    if pending is not None:
        raw = log.read(pending[0])
        if raw is not None and bytes(raw) == pending[1]:
            truth.records[pending[0]] = pending[1]  # it landed whole: it may be sent now


def carry_on(medium, log: RecordLog, truth: GroundTruth, stats: CutStats,
             where: str) -> None:
    """After recovery the log must still work: store a record, reboot, find everything."""
    append_records(log, truth, 1, stats, where + ", carrying on")
    boot(medium, truth, REBOOT_LOG_ID, stats, where + ", reboot after carrying on")


def recover(medium, truth: GroundTruth, stats: CutStats, where: str) -> tuple:
    """Power on and boot after a cut: (log, records verified), or (None, 0) if opening the
    log raised, which a wearable would do at every boot from then on."""
    medium.power.power_on()
    try:
        return boot(medium, truth, REBOOT_LOG_ID, stats, where)
    except Exception as exc:
        stats.violation("bricked", "%s: %s %s" % (where, type(exc).__name__, exc))
        return None, 0


# -- the runs -------------------------------------------------------------------------------

def flash_medium() -> PowerCutFlash:
    return PowerCutFlash(FLASH_BYTES)


def script_bytes(new_medium=flash_medium) -> int:
    """How many bytes SCRIPT writes without a cut: the cut points are 0 .. this."""
    medium = new_medium()
    stats = CutStats("dry run")
    run_script(medium, GroundTruth(), stats, "dry run")
    if stats.violations:
        raise AssertionError("the script fails without any cut: %r" % stats.violations)
    return medium.power.bytes_written


def run_cut(cut_at: int, torn_mode: int, stats: CutStats, second_cuts: bool,
            new_medium=flash_medium) -> None:
    """Cut the script's power after `cut_at` bytes, reboot, check, carry on, check."""
    where = "cut at byte %d (%s)" % (cut_at, TORN_MODE_NAMES[torn_mode])
    medium = new_medium()
    truth = GroundTruth()
    medium.power.arm(cut_at, torn_mode, seed=cut_at + 1)
    try:
        run_script(medium, truth, stats, where)
    except PowerCut:
        pass
    stats.cut_points += 1
    if second_cuts:
        cut_the_recovery(medium, truth, torn_mode, stats, where)
    log, verified = recover(medium, truth, stats, where + ", recovery")
    stats.after_cut(verified)
    if log is not None:
        carry_on(medium, log, truth, stats, where)


def cut_the_recovery(medium, truth: GroundTruth, torn_mode: int, stats: CutStats,
                     where: str) -> None:
    """Cut the reboot after the cut at each byte it writes, then reboot and check again.

    Leaves `medium` and `truth` as they were, for the uninterrupted recovery that follows."""
    image = medium.snapshot()
    if recover(medium, truth.copy(), CutStats("probe"), where)[0] is None:
        medium.restore(image)
        return  # bricked: the recovery that follows reports it
    recovery_bytes = medium.power.bytes_written
    for second in range(recovery_bytes):
        medium.restore(image)
        medium.power.power_on()
        twice = truth.copy()
        again = "%s, recovery cut at byte %d" % (where, second)
        medium.power.arm(second, torn_mode, seed=second + 7919)
        try:
            boot(medium, twice, REBOOT_LOG_ID, stats, again)
        except PowerCut:
            pass
        stats.second_cuts += 1
        log = recover(medium, twice, stats, again + ", recovery")[0]
        if log is not None:
            carry_on(medium, log, twice, stats, again)
    medium.restore(image)


def run_all_cuts(torn_mode: int, second_cuts: bool = False, stride: int = 1,
                 new_medium=flash_medium, name: str = "flash",
                 second_cuts_until: int | None = None) -> CutStats:
    """Every `stride`-th cut point of SCRIPT, from 0 bytes to all of them (no cut); with
    `second_cuts`, the recovery after each first cut up to `second_cuts_until` (all if
    None) is cut at every byte too."""
    stats = CutStats("%s, torn %s%s" % (name, TORN_MODE_NAMES[torn_mode],
                                          ", recovery cut too" if second_cuts else ""))
    for cut_at in range(0, script_bytes(new_medium) + 1, stride):
        cut_recovery = second_cuts and (second_cuts_until is None or cut_at <= second_cuts_until)
        run_cut(cut_at, torn_mode, stats, cut_recovery, new_medium)
    return stats


def reduced_series(page_files_medium) -> list:
    """The series the MicroPython test runs on both interpreters (their summaries must be
    identical): every byte in all three tears, every 17th first cut with its recovery cut
    at every byte, and the device's page files at every byte."""
    return ([run_all_cuts(mode).summary() for mode in (0, 1, 2)]
            + [run_all_cuts(2, second_cuts=True, stride=17).summary(),
               run_all_cuts(0, new_medium=page_files_medium, name="page files").summary()])
