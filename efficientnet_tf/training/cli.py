"""``train.py``'s flags, generated from the config dataclasses: every field is a flag, its help its own.

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

from efficientnet_tf.training import config as config_lib
from efficientnet_tf.training import recipes

ALIASES = {"model.name": "model", "data.dataset": "dataset", "optimizer.schedule": "lr_schedule"}


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train EfficientNet (defaults: B0 on digits, a few minutes on CPU).",
                                allow_abbrev=False, argument_default=argparse.SUPPRESS)
    p.add_argument("--config", help="JSON file of a config (as written to model_dir/config.json)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config as JSON and exit, reading no data")
    seen = set()
    for path, field, kind in fields():
        name = flag_name(path)
        assert name not in seen, f"two config fields share the flag {name}"
        seen.add(name)
        default = field.default
        help_text = f"{field.metadata['help']} [{path}; default {default!r} before the recipe]"
        if kind is bool:
            p.add_argument(name, dest=path, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            convert, base = _converter(kind)
            p.add_argument(name, dest=path, type=convert, choices=field.metadata.get("choices"),
                           metavar=base.__name__.upper(), help=help_text)
    return p


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


def parse(argv=None) -> Tuple[config_lib.TrainConfig, argparse.Namespace]:
    """(resolved config, parsed args): the recipe, ``--config``, then the flags given."""
    p = parser()
    args = vars(p.parse_args(argv))
    data = {}
    if "config" in args:
        with open(args.pop("config"), encoding="utf-8") as f:
            data = json.load(f)
    dry_run = args.pop("dry_run", False)
    data = _deep_update(data, _nest(args))
    try:
        cfg = config_lib.resolve(config_lib.from_dict(data))
    except ValueError as err:  # a bad value or config key: argparse's usage error, exit status 2
        p.error(str(err))
    why = recipes.choose(data.get("recipe", "auto"), cfg.data.dataset)[1]
    return cfg, argparse.Namespace(dry_run=dry_run, recipe_reason=why)


def dry_run(cfg: config_lib.TrainConfig, recipe_reason: str) -> int:
    """The resolved config as JSON on stdout; what the run would hold out, on stderr."""
    from efficientnet_tf.data import sources

    print(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    print(f"recipe {cfg.recipe} ({recipe_reason})", file=sys.stderr)
    print(sources.describe_holdout(cfg.data.dataset, cfg.data.holdout, cfg.data.holdout_shards), file=sys.stderr)
    return 0
