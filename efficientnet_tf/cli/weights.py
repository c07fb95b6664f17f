"""``weights list``: which weight files each variant can load, and where they were found."""
from __future__ import annotations

from efficientnet_tf.models.variants import VARIANTS
from efficientnet_tf.weights import loading


def _list(args) -> int:
    dirs = loading.imagenet_weights_dirs()
    print("weights='imagenet' (keras.applications' files) is looked for in: " + ", ".join(map(str, dirs)))
    print(f"{'variant':<8} {'file':<28} {'found':<5}")
    for v in VARIANTS.values():
        for include_top in (True, False):
            filename = loading.imagenet_weights_file(v.keras_name, include_top)
            found = next((str(d / filename) for d in dirs if (d / filename).is_file()), "no")
            print(f"{v.name:<8} {filename:<28} {found}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("weights", help="the weight files each variant loads, and which are present")
    actions = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    actions.add_parser("list", help="each variant's keras.applications file and where it was found").set_defaults(func=_list)
