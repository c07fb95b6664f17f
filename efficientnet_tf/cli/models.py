"""``summary``, ``scale-search`` and ``convert``: the networks, their scaling, and official checkpoints."""
from __future__ import annotations

from efficientnet_tf.cli.flags import add_signature_flags, default_of
from efficientnet_tf.models.layers import NORMALIZATIONS
from efficientnet_tf.models.variants import PAPER_TABLE2
from efficientnet_tf.scaling import search
from efficientnet_tf.scaling.method import RANKINGS

SEARCH_HELP = {
    "dataset": "data source",
    "data_dir": "data directory",
    "budget": "candidates to train, closest to the FLOPs target first",
    "epochs": "epochs per candidate",
    "base_resolution": "resolution of the unscaled model",
    "target": "alpha * beta^2 * gamma^2",
    "tolerance": "how far a candidate's product may be from --target",
    "seed": "seed of every candidate's run",
    "steps_per_epoch": "training steps per epoch (default None: the whole split)",
    "eval_steps": "evaluation steps (default None: the whole split)",
}


def _summary(args) -> int:
    from efficientnet_tf.scaling.summary import format_table, plot_summary, summary_rows

    rows = summary_rows(args.variants)
    print(format_table(rows), flush=True)
    if args.plot:
        print("plot:", plot_summary(rows, args.plot), flush=True)
    return 0


def _scale_search(args) -> int:
    kwargs = {name: getattr(args, name) for name in SEARCH_HELP}
    rows = search.run_search(args.out, rank=args.rank, **kwargs)
    print(f"{'rank':>4} {'alpha':>6} {'beta':>6} {'gamma':>6} {'a*b^2*g^2':>10} {'res':>4} {'MACs/base':>10} {'top-1':>7}"
          f" {'NAS obj.':>8}")
    for r in rows:
        print(f"{r['rank']:>4} {r['alpha']:>6} {r['beta']:>6} {r['gamma']:>6} {r['product']:>10.4f} "
              f"{r['resolution']:>4} {r['mac_ratio']:>10.3f} {r['accuracy']:>7.4f} {r['nas_objective']:>8.4f}")
    print(f"wrote {args.out}/scale_search.csv and {args.out}/scale_search.png", flush=True)
    return 0


def _convert(args) -> int:
    from efficientnet_tf.models.efficientnet import create_model
    from efficientnet_tf.weights.convert import convert_checkpoint

    net = create_model(args.model, **({"normalization": args.normalization} if args.normalization else {}))
    report = convert_checkpoint(args.checkpoint, net, args.out, ema=not args.no_ema)
    print(f"read {report.variables} variables ({report.source}) of {report.scope} from {report.prefix}", flush=True)
    print(f"wrote {args.out} ({args.model})", flush=True)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("summary", help="parameters and multiply-adds of variants beside the paper's Table 2 "
                                       "(B0-B7) and the V2 paper's Table 7 (v2-s, v2-m, v2-l)")
    p.add_argument("variants", nargs="*", default=list(PAPER_TABLE2), help="variants (default: the paper's B0-B7)")
    p.add_argument("--plot", help="also write a params-vs-MACs PNG with the paper's values")
    p.set_defaults(func=_summary)

    p = sub.add_parser("scale-search", help="the paper's alpha/beta/gamma grid search, training each candidate")
    add_signature_flags(p, search.run_search, SEARCH_HELP)
    p.add_argument("--rank", choices=tuple(RANKINGS), default=default_of(search.run_search, "rank"),
                   help="order candidates by top-1, or by the NAS objective top-1 * (MACs / 400M)^-0.07 "
                        "(default: %(default)s); the CSV has both columns")
    p.add_argument("--out", default="runs/scale-search", help="folder for scale_search.csv and .png")
    p.set_defaults(func=_scale_search)

    p = sub.add_parser("convert", help="an official tensorflow/tpu checkpoint to a keras.applications .h5 or .weights.h5")
    p.add_argument("checkpoint", help="the checkpoint folder (checkpoint, model.ckpt.index, model.ckpt.data-*) or prefix")
    p.add_argument("--model", required=True, help="the variant it was trained as: b0 ... b8, l2, lite0 ... lite4")
    p.add_argument("--out", required=True, help="NAME.h5: keras.applications' layout; NAME.weights.h5: Keras 3")
    p.add_argument("--no-ema", action="store_true", help="take the raw values, not the EMA shadows")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default=None,
                   help="input scaling stored in the file (default: the variant's; advprop for AdvProp checkpoints)")
    p.set_defaults(func=_convert)
