"""`python -m mlops_devstack dev|migrate|demo`: the local stack of `make dev`, and `make demo`."""

from __future__ import annotations

import argparse
import sys

from mlops_contracts.logs import configure_logging
from mlops_devstack.demo.cli import add_arguments as add_demo_arguments
from mlops_devstack.demo.cli import run as run_demo_command
from mlops_devstack.stack import StackError, run_dev, run_migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="start the whole local stack in the foreground (Ctrl-C stops it)")
    dev.add_argument("--api-port", type=int, default=None)
    dev.add_argument("--emulator-port", type=int, default=None)
    dev.add_argument("--ui-port", type=int, default=None)
    sub.add_parser("migrate", help="migrate DATABASE_URL, or the embedded database")
    demo = sub.add_parser("demo", help="a finetune run of the samples from launch to approval (make demo)")
    add_demo_arguments(demo)
    args = parser.parse_args(argv)
    configure_logging("WARNING", "text", stream=sys.stderr)  # a terminal's: warnings only
    try:
        if args.command == "demo":
            return run_demo_command(args)
        if args.command == "dev":
            return run_dev(api_port=args.api_port, emulator_port=args.emulator_port, ui_port=args.ui_port)
        return run_migrate()
    except StackError as exc:
        print(f"\nmake dev: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
