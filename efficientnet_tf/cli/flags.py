"""Flags whose defaults are read from the library function they feed, so no default is typed twice."""
from __future__ import annotations

import argparse
import inspect
import typing
from typing import Callable, Dict


def default_of(fn: Callable, name: str):
    return inspect.signature(fn).parameters[name].default


def add_signature_flags(p: argparse.ArgumentParser, fn: Callable, helps: Dict[str, str]) -> None:
    """One ``--name`` flag per parameter of ``fn`` named in ``helps``, typed and defaulted by ``fn`` itself
    (required where ``fn`` has no default)."""
    hints = typing.get_type_hints(fn)
    for name, help_text in helps.items():
        default = default_of(fn, name)
        kind = next((a for a in typing.get_args(hints[name]) if a is not type(None)), hints[name])
        flag = "--" + name.replace("_", "-")
        if default is inspect.Parameter.empty:
            p.add_argument(flag, type=kind, required=True, help=help_text)
        else:
            shown = "" if default is None else f" (default: {default})"
            p.add_argument(flag, type=kind, default=default, help=help_text + shown)


def calling(fn: Callable, names) -> Callable[[argparse.Namespace], int]:
    """A subcommand handler: ``fn`` called with the parsed flags ``names``."""
    return lambda args: fn(**{name: getattr(args, name) for name in names})
