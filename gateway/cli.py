"""rtm-gateway: the home gateway.

  rtm-gateway sync --config gateway.toml   one pass: find, sync, publish, exit
  rtm-gateway run  --config gateway.toml   sync every sync.interval_s, publish continuously
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
import sys
import threading

from gateway import config as config_mod
from gateway.gateway import Gateway, PassReport
from gateway.outbox import Outbox
from gateway.uplink import Uplink

log = logging.getLogger("rtm-gateway")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtm-gateway", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("sync", "one sync pass, then publish the outbox and exit"),
                       ("run", "run unattended: periodic sync passes, continuous publishing")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--config", required=True, help="TOML configuration file")
        s.add_argument("-v", "--verbose", action="store_true")
    return p


def _print_report(report: PassReport, depth: int) -> None:
    if report.scan_error:
        print(f"{report.scan_error} (is a Bluetooth adapter present and BlueZ running?)")
    for r in report.synced:
        print(f"{r.device_id}: {r.fetched} new records, acknowledged up to {r.acked_seq}, "
              f"battery {r.battery_pct}%" + (f", {r.refused} refused (log full)"
                                             if r.refused else ""))
    for dev in report.missing:
        print(f"{dev}: not in range")
    for dev, why in report.failed.items():
        print(f"{dev}: sync failed: {why}")
    print(f"outbox: {depth} messages waiting for the broker")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        print(f"rtm-gateway: {e}", file=sys.stderr)
        return 2
    cfg.outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(cfg.outbox)
    uplink = Uplink(cfg.mqtt, outbox)
    gateway = Gateway(cfg, outbox)
    uplink.start()
    try:
        if args.command == "sync":
            report = asyncio.run(gateway.sync_pass())
            uplink.wait_connected(10)
            uplink.drain(timeout_s=30)
            _print_report(report, outbox.depth())
            return 0 if not (report.failed or report.scan_error) else 1
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        next_pass = 0.0
        loop = asyncio.new_event_loop()
        while not stop.is_set():
            try:
                if loop.time() >= next_pass:
                    next_pass = loop.time() + cfg.sync.interval_s
                    report = loop.run_until_complete(gateway.sync_pass())
                    log.info("pass: %d synced, %d missing, %d failed", len(report.synced),
                             len(report.missing), len(report.failed))
                uplink.pump()
            except (sqlite3.Error, OSError) as e:
                # A locked or failing outbox: nothing was acknowledged that is not committed;
                # keep running and try again.
                log.error("outbox error: %s", e)
            stop.wait(0.5)
        loop.close()
        return 0
    finally:
        uplink.stop()
        outbox.close()


if __name__ == "__main__":
    sys.exit(main())
