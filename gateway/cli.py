"""rtm-gateway: the home gateway.

  rtm-gateway run      --config gateway.toml   run unattended (systemd): sync by policy,
                                               publish continuously, take programs
  rtm-gateway sync     --config gateway.toml   one pass now over every wearable in range,
                                               with progress; then publish and exit
  rtm-gateway status   --config gateway.toml   per wearable: last sync, unsynced estimate,
                                               battery, firmware; outbox; broker
  rtm-gateway enroll   --config gateway.toml ID   pair, provision a secret, register
  rtm-gateway unenroll --config gateway.toml ID   forget it here and at the clinic

Exit codes: 0 done, 1 something failed (the message says what), 2 invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gateway import config as config_mod
from gateway import enrollment, logs
from gateway.clock import wall_clock_ms
from gateway.devices import DeviceRegistry
from gateway.gateway import Gateway, PassReport
from gateway.outbox import Outbox
from gateway.policy import SyncPolicy
from gateway.service import GatewayService
from gateway.status import gather_status, render_status, running_service
from gateway.uplink import Uplink

log = logging.getLogger("rtm-gateway")

_PUBLISH_TIMEOUT_S = 30.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtm-gateway", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("--config", required=True, help="TOML configuration file")
        s.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
        return s

    command("run", "run unattended: sync by policy, publish continuously, take programs")
    s = command("sync", "one sync pass now, with progress; then publish the outbox and exit")
    s.add_argument("--device", action="append", metavar="ID",
                   help="only this wearable (repeatable)")
    s = command("status", "wearables, outbox and broker as this gateway knows them")
    s.add_argument("--json", action="store_true", help="machine-readable")
    s = command("enroll", "pair a wearable, provision its secret, register it with the clinic")
    s.add_argument("device_id", help="12 hex digits, as printed on the wearable")
    s.add_argument("--allow-plaintext-mqtt", action="store_true",
                   help="test setups only: send the secret over MQTT without TLS")
    s = command("unenroll", "remove a wearable from this gateway and from the clinic")
    s.add_argument("device_id")
    s.add_argument("--offline", action="store_true",
                   help="do not try to reach the wearable to make it forget this gateway")
    return p


@dataclass
class _Parts:
    cfg: config_mod.GatewayConfig
    outbox: Outbox
    devices: DeviceRegistry
    uplink: Uplink


@contextmanager
def _parts(cfg: config_mod.GatewayConfig) -> Iterator[_Parts]:
    cfg.outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(cfg.outbox, max_bytes=int(cfg.outbox_max_mb * 2**20))
    devices = DeviceRegistry(cfg.outbox)
    uplink = Uplink(cfg.mqtt, outbox, cfg.gateway_id)
    try:
        yield _Parts(cfg, outbox, devices, uplink)
    finally:
        devices.close()
        outbox.close()


def _publish_and_stop(parts: _Parts) -> bool:
    """Start the uplink, hand everything queued to the broker (or time out), stop. If the
    service runs, it publishes: two clients with the gateway's fixed client id would take
    the session from each other."""
    if (service := running_service(parts.cfg)) is not None:
        print(f"the running gateway service (pid {service['pid']}) publishes the "
              f"{parts.outbox.depth()} messages in the outbox")
        return True
    parts.uplink.start()
    try:
        if not parts.uplink.wait_connected(10):
            print(f"broker {parts.cfg.mqtt.host}:{parts.cfg.mqtt.port} not reachable "
                  f"({parts.uplink.state.last_error or 'no answer'}); "
                  f"{parts.outbox.depth()} messages wait in the outbox for the next run")
            return False
        return parts.uplink.drain(timeout_s=_PUBLISH_TIMEOUT_S)
    finally:
        parts.uplink.stop()


class _ProgressBar:
    """One line per wearable, redrawn in place on a terminal, printed once otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr  # the one of the moment
        self.tty = self.stream.isatty()

    def __call__(self, device_id: str, done: int, total: int) -> None:
        if not self.tty and done < total:
            return
        width = 30
        filled = width * done // total if total else width
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{device_id} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{done}/{total} records{end}")
        self.stream.flush()


def _print_report(report: PassReport, depth: int) -> None:
    if report.scan_error:
        print(f"{report.scan_error} (is a Bluetooth adapter present and BlueZ running?)")
    for r in report.synced:
        extra = f", {r.refused} refused (log full)" if r.refused else ""
        if r.outbox_full:
            extra += ", outbox full: the rest waits on the wearable"
        if r.program_version is not None:
            extra += f", program v{r.program_version} {r.program_status}"
        print(f"{r.device_id}: {r.fetched} new records, acknowledged up to {r.acked_seq}, "
              f"battery {r.battery_pct}%{extra}")
    for dev in report.missing:
        print(f"{dev}: not in range")
    for dev, why in report.failed.items():
        print(f"{dev}: sync failed: {why}")
    print(f"outbox: {depth} messages waiting for the broker")


def _sync(parts: _Parts, only: list[str] | None) -> int:
    if (service := running_service(parts.cfg)) is not None:
        if only:
            print("the gateway service is running: it syncs every wearable in range when "
                  "asked; --device needs the service stopped", file=sys.stderr)
            return 1
        return _ask_service_to_sync(parts, int(service["pid"]))
    gateway = Gateway(parts.cfg, parts.outbox, devices=parts.devices, progress=_ProgressBar())
    if only and (unknown := set(only) - gateway.enrolled()):
        print(f"not enrolled here: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 1
    report = asyncio.run(gateway.sync_pass(set(only) if only else None))
    published = _publish_and_stop(parts)
    _print_report(report, parts.outbox.depth())
    return 0 if published and not (report.failed or report.scan_error) else 1


def _ask_service_to_sync(parts: _Parts, pid: int) -> int:
    """The service holds the radio and the MQTT session: ask it for a pass, wait for it."""
    asked_ms = wall_clock_ms()
    try:
        os.kill(pid, signal.SIGUSR1)
    except PermissionError:
        print(f"the gateway service (pid {pid}) runs as another user: run this as that user "
              f"or root (sudo -u rtm-gateway rtm-gateway sync ...)", file=sys.stderr)
        return 1
    except ProcessLookupError:
        print(f"the gateway service (pid {pid}) has just stopped; run the sync again",
              file=sys.stderr)
        return 1
    print(f"asked the running gateway service (pid {pid}) to sync every wearable in range")
    deadline = time.monotonic() + parts.cfg.sync.scan_timeout_s + \
        len(parts.devices.enrolled() | set(parts.cfg.enrolled)) * parts.cfg.sync.connect_deadline_s
    while time.monotonic() < deadline:
        beat = running_service(parts.cfg)
        done = (beat or {}).get("requested_pass") or {}
        if int(done.get("done_ms", 0)) >= asked_ms:
            for dev, fetched in sorted(done["synced"].items()):
                print(f"{dev}: {fetched} new records")
            for dev in done["missing"]:
                print(f"{dev}: not in range")
            for dev, why in sorted(done["failed"].items()):
                print(f"{dev}: sync failed: {why}")
            return 1 if done["failed"] else 0
        time.sleep(0.5)
    print("the service did not report the pass in time; see rtm-gateway status",
          file=sys.stderr)
    return 1


def _run(parts: _Parts) -> int:
    gateway = Gateway(parts.cfg, parts.outbox, devices=parts.devices)
    service = GatewayService(parts.cfg, gateway, parts.uplink, SyncPolicy(parts.cfg.sync))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, service.request_pass)  # rtm-gateway sync
        await service.run(stop)

    parts.uplink.start()
    log.info("gateway %s running: %d wearables enrolled", parts.cfg.gateway_id,
             len(gateway.enrolled()), extra={"event": "start"})
    try:
        asyncio.run(main())
    finally:
        parts.uplink.stop()  # publishes the retained "offline" status
    log.info("gateway %s stopped", parts.cfg.gateway_id, extra={"event": "stop"})
    return 0


def _enroll(parts: _Parts, device_id: str, allow_plaintext: bool) -> int:
    try:
        result = asyncio.run(enrollment.enroll(
            parts.cfg, device_id, devices=parts.devices, outbox=parts.outbox,
            clock_ms=wall_clock_ms, allow_plaintext_mqtt=allow_plaintext))
    except enrollment.EnrollmentError as e:
        print(f"rtm-gateway: {e}", file=sys.stderr)
        return 1
    print(f"{result.device_id} enrolled (address {result.address}, firmware "
          f"{result.firmware or 'unknown'}); registering with the clinic")
    return 0 if _publish_and_stop(parts) else 1


def _unenroll(parts: _Parts, device_id: str, offline: bool) -> int:
    try:
        result = asyncio.run(enrollment.unenroll(
            parts.cfg, device_id, devices=parts.devices, outbox=parts.outbox,
            clock_ms=wall_clock_ms, reach_wearable=not offline))
    except enrollment.EnrollmentError as e:
        print(f"rtm-gateway: {e}", file=sys.stderr)
        return 1
    told = "the wearable forgot this gateway" if result.wearable_told else result.detail
    print(f"{result.device_id} unenrolled ({told}); telling the clinic")
    return 0 if _publish_and_stop(parts) else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        print(f"rtm-gateway: {e}", file=sys.stderr)
        return 2
    logs.configure(cfg.log_format if args.command == "run" else "text", args.verbose)
    with _parts(cfg) as parts:
        if args.command == "status":
            status = gather_status(cfg, parts.outbox, parts.devices)
            print(json.dumps(status, indent=2) if args.json else render_status(status))
            return 0
        if args.command == "sync":
            return _sync(parts, args.device)
        if args.command == "enroll":
            return _enroll(parts, args.device_id, args.allow_plaintext_mqtt)
        if args.command == "unenroll":
            return _unenroll(parts, args.device_id, args.offline)
        return _run(parts)


if __name__ == "__main__":
    sys.exit(main())
