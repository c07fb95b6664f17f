"""``efficientnet-tf train`` (and ``train.py``): flags generated from the config dataclasses, every field
a flag, its help its own.

A field's flag is its name with dashes (``data.holdout_shards`` -> ``--holdout-shards``), except the
few in :data:`ALIASES`. Booleans get ``--x/--no-x``; ``none`` sets an optional field back to None.
Flags left out change nothing, so ``--config FILE`` and the recipe keep their values.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from typing import Dict, List, Tuple

from efficientnet_tf.cli.errors import PROG, Parser
from efficientnet_tf.data import sources
from efficientnet_tf.training import config as config_lib
from efficientnet_tf.training import recipes

DESCRIPTION = "Train EfficientNet (defaults: B0 on digits, a few minutes on CPU)."

ALIASES = {"model.name": "model", "data.dataset": "dataset", "optimizer.schedule": "lr_schedule",
           "progressive.stages": "progressive"}


def fields() -> List[Tuple[str, dataclasses.Field, type]]:
    """(dotted path, field, type) of every leaf field of TrainConfig."""
    out = []

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], f"{prefix}{f.name}.")
            else:
                out.append((prefix + f.name, f, hints[f.name]))
    walk(config_lib.TrainConfig, "")
    return out


def flag_name(path: str) -> str:
    return "--" + ALIASES.get(path, path.split(".")[-1]).replace("_", "-")


def _converter(kind):
    """Parses a flag value of type ``kind`` (Optional[...] takes 'none')."""
    args = typing.get_args(kind)
    base = next((a for a in args if a is not type(None)), kind)

    def convert(text: str):
        if args and text.lower() == "none":
            return None
        return base(text)
    convert.__name__ = base.__name__  # argparse names the type in its errors
    return convert, base


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--dry-run`` and one flag per config field; flags left out are not set at all."""
    p.add_argument("--config", default=argparse.SUPPRESS, help="JSON file of a config (as written to model_dir/config.json)")
    p.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS,
                   help="print the resolved config as JSON and exit, reading no data")
    seen = set()
    for path, field, kind in fields():
        name = flag_name(path)
        assert name not in seen, f"two config fields share the flag {name}"
        seen.add(name)
        help_text = f"{field.metadata['help']} [{path}; default {field.default!r} before the recipe]"
        if kind is bool:
            p.add_argument(name, dest=path, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=help_text)
        else:
            convert, base = _converter(kind)
            p.add_argument(name, dest=path, type=convert, choices=field.metadata.get("choices"), default=argparse.SUPPRESS,
                           metavar=base.__name__.upper(), help=help_text)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=f"{PROG} train", description=DESCRIPTION, allow_abbrev=False)
    add_arguments(p)
    return p


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train a model (defaults: B0 on digits, a few minutes on CPU)",
                       description=DESCRIPTION, allow_abbrev=False)
    add_arguments(p)
    p.set_defaults(func=run)


def _nest(flat: Dict[str, object]) -> Dict[str, object]:
    data: Dict[str, object] = {}
    for path, value in flat.items():
        *sections, leaf = path.split(".")
        node = data
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return data


def _deep_update(base: Dict, updates: Dict) -> Dict:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def resolve(given: Dict[str, object]) -> Tuple[config_lib.TrainConfig, str]:
    """(resolved config, why its recipe): the recipe, ``--config``, then the flags given (``given``
    holds only those, by dotted path, plus ``config``). A bad value raises ValueError."""
    data = {}
    if "config" in given:
        data = config_lib.read(given["config"])
    paths = {path for path, _, _ in fields()}
    data = _deep_update(data, _nest({k: v for k, v in given.items() if k in paths}))
    cfg = config_lib.resolve(config_lib.from_dict(data))
    return cfg, recipes.choose(data.get("recipe", "auto"), cfg.data.dataset)[1]


def parse(argv=None) -> Tuple[config_lib.TrainConfig, argparse.Namespace]:
    """(resolved config, parsed args) of a ``train`` command line; bad input exits 2 with one line."""
    p = parser()
    args = vars(p.parse_args(argv))
    try:
        cfg, why = resolve(args)
    except ValueError as err:
        p.error(str(err))
    return cfg, argparse.Namespace(dry_run=args.get("dry_run", False), recipe_reason=why)


def dry_run(cfg: config_lib.TrainConfig, recipe_reason: str) -> int:
    """The resolved config as JSON on stdout; what the run would hold out, on stderr."""
    print(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    print(f"recipe {cfg.recipe} ({recipe_reason})", file=sys.stderr)
    print(sources.describe_holdout(cfg.data.dataset, cfg.data.holdout, cfg.data.holdout_shards), file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    """0 when finished, stopped by SIGTERM (backed up) or a dry run; 3 when the loss diverged. Bad input
    (missing split, empty class, bad label, no images) raises, for the one-line error of :mod:`cli`."""
    given = vars(args)
    cfg, why = resolve(given)
    if given.get("dry_run"):
        return dry_run(cfg, why)
    return train(cfg)


def train(cfg: config_lib.TrainConfig, wrap_train=None) -> int:
    """Trains the resolved ``cfg``: 0 when finished or stopped by SIGTERM, 3 when the loss diverged.
    ``wrap_train``: the Trainer's seam for tests (see :class:`efficientnet_tf.training.inputs.Inputs`)."""
    from efficientnet_tf.training.trainer import Diverged, Trainer

    try:
        Trainer(cfg, wrap_train).train()
    except Diverged as err:
        print(f"Training diverged: {err}", flush=True)
        return 3
    return 0


def main(argv=None) -> int:
    """``train.py``: the ``train`` subcommand of :func:`efficientnet_tf.cli.main`."""
    from efficientnet_tf.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])
