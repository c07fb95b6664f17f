"""``efficientnet-tf <subcommand>`` (also ``python -m efficientnet_tf``): one parser, one error rule.

Each subcommand lives in a module here with ``add_parser(sub)``, whose handler returns the exit status.
Bad input (a missing file, a bad flag value, a folder without images) prints one line,
``efficientnet-tf SUBCOMMAND: error: ...``, and exits 2; ``--debug`` shows the traceback instead.

May import anything in the package; nothing in the package imports it.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: keep the progress readable

from efficientnet_tf.cli import data_service, models, paper, serving, train, weights  # noqa: E402
from efficientnet_tf.cli.errors import PROG, Parser, UsageError, user_error  # noqa: E402

COMMANDS = (train, serving, models, paper, weights, data_service)  # each adds its subcommands, in help order


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="EfficientNet for Keras 3 / TensorFlow. "
                    "'efficientnet-tf SUBCOMMAND --help' describes each; --debug shows tracebacks.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND", parser_class=Parser)
    for module in COMMANDS:
        module.add_parsers(sub)
    return parser


def main(argv=None) -> int:
    """The exit status: 0 done, 2 bad input, 3 a training run diverged."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # taken anywhere on the line, so that train.py passes it too
    try:
        args = build_parser().parse_args([a for a in argv if a != "--debug"])
    except SystemExit as done:  # --help, or a usage error already printed in one line
        return int(done.code or 0)
    try:
        return args.func(args)
    except Exception as err:  # noqa: BLE001 -- bad input becomes one line; anything else is re-raised
        message = user_error(err)
        if debug or message is None:
            raise
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr, flush=True)
        return 2


__all__ = ["main", "build_parser", "UsageError"]
