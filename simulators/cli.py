"""rtm-sim: simulators for developers and CI.

  rtm-sim demo                 the end-to-end demo on embedded defaults
  rtm-sim count FILE...        the firmware's rep counter on recordings (CSV)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtm-sim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="simulated patients -> gateway -> MQTT -> bridge -> store "
                                    "-> clinician summary, all in-process")
    d.add_argument("--patients", type=int, default=4)
    d.add_argument("--days", type=int, default=3)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--tz", default="Europe/Berlin", help="the clinic's time zone")
    d.add_argument("--workdir", type=Path, default=Path("rtm-demo"),
                   help="folder for the store, registry and outboxes, emptied first "
                        "(default: %(default)s)")
    d.add_argument("-v", "--verbose", action="store_true")
    c = sub.add_parser("count", help="count reps in recordings with the firmware counter")
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument("--rate", type=float, required=True, help="sample rate in Hz")
    c.add_argument("--micropython", action="store_true",
                   help="run the counter inside the MicroPython WebAssembly interpreter")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from simulators.demo import configure_logging, run_demo

        if args.patients < 1 or args.days < 1:
            print("rtm-sim: --patients and --days must be at least 1", file=sys.stderr)
            return 2
        configure_logging(args.verbose)
        return run_demo(args.patients, args.days, args.seed, args.workdir, args.tz)
    from simulators.count import count_files

    return count_files(args.files, args.rate, args.micropython)


if __name__ == "__main__":
    sys.exit(main())
