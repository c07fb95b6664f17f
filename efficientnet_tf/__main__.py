"""Command line: ``python -m efficientnet_tf <command>``; ``--help`` lists the commands."""
from __future__ import annotations

import argparse
import sys


def _summary(args) -> int:
    from efficientnet_tf.summary import summary_table

    print(summary_table(args.variants), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m efficientnet_tf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="parameters and multiply-adds of B0-B7 beside the paper's Table 2")
    p.add_argument("variants", nargs="*", default=["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"])
    p.set_defaults(func=_summary)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
