"""``changetrail``: the operator CLI. Thin argument handling over library functions."""

from __future__ import annotations

import argparse
import logging
import sys

from changetrail.embedded.program import StackConfigError
from components.config import ConfigError


def _quiet_logs() -> None:
    """Keep the screen for results: handler logs, EMF metrics and moto's Fail-state noise go quiet."""
    import os

    from functions import decode, diff, trigger

    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    for module in (decode, diff, trigger):
        module.logger.setLevel(logging.WARNING)


def cmd_demo(args: argparse.Namespace) -> int:
    from changetrail import demo

    _quiet_logs()
    demo.run(args.stack)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="changetrail", description="Operate the changetrail DynamoDB audit pipeline.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a scripted scenario on the embedded local AWS and print what happened")
    demo.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml configures the run (default: dev)")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, StackConfigError) as error:
        print(f"changetrail: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
