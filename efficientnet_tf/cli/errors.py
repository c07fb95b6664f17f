"""What counts as bad input, and how the command line reports it: one line on stderr, exit status 2."""
from __future__ import annotations

import argparse
import sys
from typing import Optional

PROG = "efficientnet-tf"


class UsageError(ValueError):
    """Bad input found by a subcommand itself (a missing option, a value out of range)."""


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line (``PROG SUBCOMMAND: error: ...``) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def exit(self, status=0, message=None):
        if message:
            sys.stderr.write(message)
        sys.exit(status)


def user_error(err: BaseException) -> Optional[str]:
    """The one-line message for an error in the user's input, or None for a bug (shown as a traceback)."""
    if isinstance(err, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        return str(err)
    if isinstance(err, ValueError):
        return str(err).split("\n")[0]
    import tensorflow as tf

    if isinstance(err, tf.errors.NotFoundError):
        return err.message.split("\n")[0]
    if isinstance(err, tf.errors.InvalidArgumentError) and "bad label" in err.message:
        return err.message[err.message.index("bad label"):].split("\n")[0]
    return None
