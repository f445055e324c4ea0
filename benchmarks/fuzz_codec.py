"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that take bytes from the
radio and the network: the record codec, the gateway's BLE frame parsers, and the bridge's
MQTT message validation (records with the batch tag, device states, enrollments).

A target is given bytes by libFuzzer and must either accept them or reject them with the
module's documented error (CodecError, ProtocolError, PayloadError and its subclasses). Any
other exception is a crash: libFuzzer stops the target and keeps the input under
`--artifacts`. Per target this prints the executions, the coverage libFuzzer reports (`cov`:
code edges reached, `ft`: features), the crashes, and how often each rejection reason was
seen (numbers in messages folded to N).

Each target runs in a subprocess of its own (atheris ends Fuzz() with os._exit), started
from valid seed inputs, under libFuzzer's `-rss_limit_mb` and per-input `-timeout`. The child
stops itself at `--seconds` (or `--runs`) and writes its counts before exiting.

    python benchmarks/fuzz_codec.py [--seconds 60] [--runs N] [--targets codec,ble_frames,...]
                                    [--rss-limit-mb 1024] [--timeout-s 5] [--artifacts DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

GATEWAY = "home-1"
DEVICE = "a1b2c3d4e5f6"
SECRET = bytes(range(1, 33))
TARGETS = ("codec", "ble_frames", "records_message", "state_message", "enrollment_message")
_NUMBER = re.compile(r"\d+")
_COVERAGE = re.compile(r"cov: (\d+) ft: (\d+)")


def reason_of(error: Exception) -> str:
    """A rejection's category: the `reason` of a PayloadError, else its message with the
    numbers folded (so 'record must be 32 bytes, got 7' and '..., got 9' count together)."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        return reason
    return _NUMBER.sub("N", str(error))[:70]


# -- seeds: one valid input of each kind, so the fuzzer starts past the first checks -------

def _seeds(target: str) -> list[bytes]:
    from firmware.core import auth, codec, protocol
    from gateway import payload as gw_payload
    from gateway.devices import DeviceStatus
    from gateway.enrollment import build_registration
    from gateway.state_report import build_state

    rep = bytes(codec.encode_rep(5, codec.FLAG_TIME_VALID, 1, 1, 1_790_000_000_000, 2, 1, 900,
                                 4500, 80))
    sett = bytes(codec.encode_set(6, 0, 4, 1, 80_000, 2, 10, 1, 3000, 40, 9, 0))
    if target == "codec":
        return [rep, sett]
    if target == "ble_frames":
        info = bytes((protocol.CMD_INFO | protocol.RESPONSE_BIT, 0)) + bytes(
            (1,)) + bytes(protocol.INFO_SIZE - 1)
        fetch_end = bytes((protocol.CMD_FETCH | protocol.RESPONSE_BIT, 0)) + bytes(38)
        return [bytes((protocol.FRAME_RECORDS, 2)) + rep + sett, info, fetch_end,
                bytes((protocol.CMD_ACK | protocol.RESPONSE_BIT, 0, 5, 0, 0, 0))]
    if target == "records_message":
        mac = auth.batch_tag(SECRET, bytes.fromhex(DEVICE), 7, [rep, sett])
        return [gw_payload.build(GATEWAY, DEVICE, [rep, sett], 2, 100_000, 1_790_000_000_000,
                                 log_id=7, mac=mac)]
    if target == "state_message":
        status = DeviceStatus(DEVICE, 1_790_000_000_000, 1_790_000_000_000, 64, "0.1.0", 10, 9,
                              0, None, 0, 1)
        return [build_state(GATEWAY, status, 1_790_000_000_000)]
    secret = base64.b64decode(base64.b64encode(SECRET))
    return [build_registration(GATEWAY, DEVICE, "enrolled", secret, "0.1.0",
                               1_790_000_000_000),
            build_registration(GATEWAY, DEVICE, "unenrolled", None, None, 1_790_000_000_000)]


# -- the targets (in the child): bytes -> outcome name; documented rejections are caught ----

def _target(target: str) -> tuple[Callable[[bytes], str], tuple[type[Exception], ...]]:
    import atheris

    with atheris.instrument_imports(include=["firmware", "cloud_bridge", "gateway"]):
        from cloud_bridge import payload
        from cloud_bridge.device_keys import EnrollmentRejected, parse_enrollment
        from cloud_bridge.state_message import StateRejected, parse_state
        from firmware.core import codec, protocol

    if target == "codec":
        def run_codec(data: bytes) -> str:
            fields = codec.unpack(data)
            assert codec.decode(data)["seq"] == fields[0]
            return "accepted"
        return run_codec, (codec.CodecError,)
    if target == "ble_frames":
        parsers = (protocol.split_records, protocol.parse_info, protocol.parse_fetch_end,
                   protocol.parse_ack)

        def run_frames(data: bytes) -> str:
            # Every parser over the same frame: the gateway tries the one the frame's first
            # byte calls for, but each must stand any bytes.
            accepted = ""
            for parse in parsers:
                try:
                    parse(data)
                    accepted = f"accepted by {parse.__name__}"
                except (protocol.ProtocolError, codec.CodecError):
                    pass
            if accepted:
                return accepted
            return reason_of(_last_rejection(parsers[0], data))
        return run_frames, (protocol.ProtocolError, codec.CodecError)
    if target == "records_message":
        topic = f"rtm/v1/{GATEWAY}/{DEVICE}/records"

        def run_records(data: bytes) -> str:
            parsed = payload.parse_message(topic, data)
            verified = payload.verify(parsed, DEVICE, SECRET)
            if parsed.rejected:
                return "accepted with bad records"
            return "accepted, tag verified" if verified else "accepted, tag not verified"
        return run_records, (payload.PayloadError,)
    if target == "state_message":
        topic = f"rtm/v1/{GATEWAY}/{DEVICE}/state"
        return (lambda data: (parse_state(topic, data), "accepted")[1]), (StateRejected,)
    topic = f"rtm/v1/{GATEWAY}/{DEVICE}/enrollment"
    return (lambda data: (parse_enrollment(topic, data), "accepted")[1]), (EnrollmentRejected,)


def _last_rejection(parse: Callable[[bytes], object], data: bytes) -> Exception:
    try:
        parse(data)
    except Exception as e:  # the caller knows it is a documented rejection
        return e
    raise AssertionError("the parser accepted what it rejected before")


def run_child(args: argparse.Namespace) -> None:
    import atheris

    run, rejections = _target(args.child)
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + args.seconds
    report = Path(args.report)

    def finish() -> None:
        report.write_text(json.dumps({"executions": sum(outcomes.values()),
                                      "outcomes": dict(outcomes)}))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def one_input(data: bytes) -> None:
        try:
            outcomes[run(data)] += 1
        except rejections as e:
            outcomes[reason_of(e)] += 1
        # Anything else propagates: libFuzzer reports it as a crash and keeps the input.
        done = sum(outcomes.values())
        if (args.runs and done >= args.runs) or (done % 256 == 0
                                                 and time.monotonic() >= deadline):
            finish()

    libfuzzer_args = [sys.argv[0], f"-rss_limit_mb={args.rss_limit_mb}",
                      f"-timeout={args.timeout_s}", f"-max_total_time={int(args.seconds) + 30}",
                      f"-artifact_prefix={args.artifacts.rstrip('/')}/{args.child}-",
                      "-print_final_stats=1", args.corpus]
    atheris.Setup(libfuzzer_args, one_input)
    atheris.Fuzz()


# -- the parent: one subprocess per target, then the table ---------------------------------

def run_target(target: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    corpus = work / f"corpus-{target}"
    corpus.mkdir()
    for i, seed in enumerate(_seeds(target)):
        (corpus / f"seed-{i}").write_bytes(seed)
    report = work / f"report-{target}.json"
    command = [sys.executable, __file__, "--child", target, "--seconds", str(args.seconds),
               "--runs", str(args.runs), "--rss-limit-mb", str(args.rss_limit_mb),
               "--timeout-s", str(args.timeout_s), "--artifacts", str(args.artifacts),
               "--corpus", str(corpus), "--report", str(report)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                          timeout=args.seconds + 120)
    elapsed = time.monotonic() - started
    coverage = _COVERAGE.findall(done.stderr)
    cov, ft = (int(coverage[-1][0]), int(coverage[-1][1])) if coverage else (0, 0)
    result: dict[str, object] = {"target": target, "seconds": round(elapsed, 1), "cov": cov,
                                 "ft": ft, "exit": done.returncode}
    if report.exists():
        counts = json.loads(report.read_text())
        result.update(executions=counts["executions"], outcomes=counts["outcomes"], crashes=0)
    else:
        executed = re.findall(r"stat::number_of_executed_units: (\d+)", done.stderr)
        result.update(executions=int(executed[-1]) if executed else None, outcomes={},
                      crashes=1, crash=_crash_excerpt(done.stderr))
    return result


def _crash_excerpt(stderr: str) -> str:
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if "Uncaught Python exception" in line
                  or "ERROR: libFuzzer" in line), max(len(lines) - 20, 0))
    return "\n".join(lines[start:start + 25])


def print_result(result: dict[str, object]) -> None:
    print(f"\n== {result['target']}: {result['executions']} executions in "
          f"{result['seconds']} s, cov {result['cov']} ft {result['ft']}, "
          f"crashes {result['crashes']}")
    outcomes = result["outcomes"]
    assert isinstance(outcomes, dict)
    for outcome, n in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"   {n:>9}  {outcome}")
    if result["crashes"]:
        print(result.get("crash", ""))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="per target (default 60)")
    p.add_argument("--runs", type=int, default=0, help="stop a target after this many inputs")
    p.add_argument("--targets", default=",".join(TARGETS), help=f"of {', '.join(TARGETS)}")
    p.add_argument("--rss-limit-mb", type=int, default=1024)
    p.add_argument("--timeout-s", type=int, default=5, help="per input")
    p.add_argument("--artifacts", default=None,
                   help="where crashing inputs are kept (default: a temporary directory, "
                        "removed at the end; the crash report prints the input in base64)")
    p.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    p.add_argument("--corpus", help=argparse.SUPPRESS)
    p.add_argument("--report", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        run_child(args)
        return 0
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="rtm-fuzz-") as tmp:
        work = Path(tmp)
        if args.artifacts is None:
            args.artifacts = str(work / "artifacts")
        Path(args.artifacts).mkdir(parents=True, exist_ok=True)
        results = []
        for target in targets:
            result = run_target(target, args, work)
            print_result(result)
            results.append(result)
    crashes = sum(int(r["crashes"]) for r in results)  # type: ignore[call-overload]
    print("\ntarget              executions   cov    ft  crashes")
    for r in results:
        print(f"{r['target']:<18} {r['executions']!s:>11} {r['cov']!s:>5} {r['ft']!s:>5} "
              f"{r['crashes']!s:>8}")
    print(f"fuzz_crashes={crashes}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
