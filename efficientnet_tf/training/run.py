"""``train.py``'s entry point: a dry run, or a training run with its exit status."""
from __future__ import annotations

import tensorflow as tf

from efficientnet_tf.training import cli
from efficientnet_tf.training.trainer import Diverged, Trainer


def main(argv=None) -> int:
    """0 when finished, stopped by SIGTERM (backed up) or a dry run; 2 on bad input (missing split,
    empty class, bad label, no images), 3 when the loss diverged."""
    cfg, args = cli.parse(argv)
    if args.dry_run:
        return cli.dry_run(cfg, args.recipe_reason)
    try:
        Trainer(cfg).train()
    except Diverged as err:
        print(f"Training diverged: {err}", flush=True)
        return 3
    except (FileNotFoundError, ValueError) as err:  # bad input, found at start (or no image decoded)
        print(f"Error: {err}", flush=True)
        return 2
    except tf.errors.InvalidArgumentError as err:
        if "bad label" not in err.message:
            raise
        print("Error: " + err.message[err.message.index("bad label"):].split("\n")[0], flush=True)
        return 2
    return 0
