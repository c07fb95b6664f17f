"""``weights list`` (every preset, and which are on this machine) and ``weights fetch`` (one into the cache)."""
from __future__ import annotations

from pathlib import Path
from typing import List

from efficientnet_tf.models.variants import get_variant
from efficientnet_tf.weights import download, loading, presets


def _local_copies(preset: presets.Preset) -> List[Path]:
    """What of the preset is already here (keras' h5 with and without top, or the extracted tarball)."""
    found = []
    for include_top in (True, False):
        cached = download.cached_path(preset, include_top)
        path = loading.keras_copy(preset, include_top) or (cached if cached.exists() else None)
        if path is not None and path not in found:
            found.append(path)
    return found


def _megabytes(paths: List[Path]) -> str:
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return f"{sum(f.stat().st_size for f in files) / 1e6:.1f}" if files else "-"


def _list(args) -> int:
    print(f"cache: {download.cache_dir()} (${download.CACHE_ENV}); keras.applications' h5 files are also taken from: "
          + ", ".join(map(str, loading.imagenet_weights_dirs())))
    print(f"{'tag':<18} {'variant':<7} {'top-1':>5} {'input':>5} {'MB':>7}  cached")
    for tag, by_variant in presets.PRESETS.items():
        for variant, preset in by_variant.items():
            local = _local_copies(preset)
            top1 = "21k" if preset.top1 is None else f"{preset.top1:.1f}"  # no ImageNet-1k top-1: the 21k sets
            print(f"{tag:<18} {variant:<7} {top1:>5} {preset.default_size:>5} {_megabytes(local):>7}  "
                  + (", ".join(map(str, local)) or "no"))
    return 0


def _fetch(args) -> int:
    variant = get_variant(args.model)
    print(loading.preset_path(args.tag, variant.keras_name, include_top=not args.notop), flush=True)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("weights", help="the published weight sets (presets): list them, fetch one into the cache")
    actions = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    actions.add_parser("list", help="every preset: top-1, input size, whether and where it is cached"
                       ).set_defaults(func=_list)
    fetch = actions.add_parser("fetch", help="download a preset into the cache (once) and print its path")
    fetch.add_argument("tag", help=f"one of: {', '.join(presets.PRESETS)}")
    fetch.add_argument("--model", required=True, help="the variant: b0 ... b8, l2, lite0 ... lite4")
    fetch.add_argument("--notop", action="store_true", help="keras.applications' headless h5 ('imagenet' B0-B7)")
    fetch.set_defaults(func=_fetch)
