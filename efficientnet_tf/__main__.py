"""Command line: ``python -m efficientnet_tf <command>``; ``--help`` lists the commands."""
from __future__ import annotations

import argparse
import sys


def _summary(args) -> int:
    from efficientnet_tf.summary import format_table, plot_summary, summary_rows

    rows = summary_rows(args.variants)
    print(format_table(rows), flush=True)
    if args.plot:
        print("plot:", plot_summary(rows, args.plot), flush=True)
    return 0


def _export(args) -> int:
    from efficientnet_tf.export import export_saved_model
    from efficientnet_tf.preprocessing import CROP_PADDING
    from efficientnet_tf.run_dir import RunDir, load_keras_model, stored_class_names, stored_crop_padding
    from efficientnet_tf.tflite import export_variants

    model = load_keras_model(args.model_dir, args.model, args.weights, args.image_size)
    out = args.out or (str(RunDir(args.model_dir).saved_model) if args.model_dir else None)
    if out is None:
        raise SystemExit("export: --out is required with --model")
    names = stored_class_names(args.model_dir) if args.model_dir else None
    crop_padding = args.crop_padding
    if crop_padding is None:  # the run's own eval crop, else the reference's
        crop_padding = stored_crop_padding(args.model_dir) if args.model_dir else CROP_PADDING
    saved = export_saved_model(model, out, class_names=names, image_size=args.image_size, crop_padding=crop_padding)
    print("SavedModel:", saved, flush=True)
    for row in export_variants(model, out, args.tflite, args.representative, args.data_dir, args.image_size):
        print("TFLite: " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    return 0


def _predict(args) -> int:
    from efficientnet_tf.predict import bytes_classifier, format_predictions, predict_files

    classify = bytes_classifier(args.model_dir, args.model, args.weights, args.image_size, args.top_k)
    print(format_predictions(args.images, predict_files(classify, args.images, args.top_k)), flush=True)
    return 0


def _cam(args) -> int:
    from efficientnet_tf.cam import write_cam
    from efficientnet_tf.run_dir import load_keras_model

    model = load_keras_model(args.model_dir, args.model, args.weights, args.image_size)
    cls = write_cam(model, args.image, args.out, args.class_index, args.method)
    print(f"{args.out}: {args.method} heatmap of class {cls}", flush=True)
    return 0


def _scale_search(args) -> int:
    from efficientnet_tf.scale_search import run_search

    rows = run_search(args.out, args.dataset, args.data_dir, args.budget, args.epochs, args.base_resolution,
                      args.target, args.tolerance, args.seed)
    print(f"{'rank':>4} {'alpha':>6} {'beta':>6} {'gamma':>6} {'a*b^2*g^2':>10} {'res':>4} {'MACs/base':>10} {'top-1':>7}")
    for r in rows:
        print(f"{r['rank']:>4} {r['alpha']:>6} {r['beta']:>6} {r['gamma']:>6} {r['product']:>10.4f} "
              f"{r['resolution']:>4} {r['mac_ratio']:>10.3f} {r['accuracy']:>7.4f}")
    print(f"wrote {args.out}/scale_search.csv and {args.out}/scale_search.png", flush=True)
    return 0


def _convert(args) -> int:
    from efficientnet_tf.convert import convert_checkpoint

    report = convert_checkpoint(args.checkpoint, args.model, args.out, ema=not args.no_ema,
                                normalization=args.normalization)
    print(f"read {report.variables} variables ({report.source}) of {report.scope} from {report.prefix}", flush=True)
    print(f"wrote {args.out} ({args.model})", flush=True)
    return 0


def _add_convert(sub) -> None:
    from efficientnet_tf.layers import NORMALIZATIONS

    p = sub.add_parser("convert", help="an official tensorflow/tpu checkpoint to a keras.applications .h5 or .weights.h5")
    p.add_argument("checkpoint", help="the checkpoint folder (checkpoint, model.ckpt.index, model.ckpt.data-*) or prefix")
    p.add_argument("--model", required=True, help="the variant it was trained as: b0 ... b8, l2, lite0 ... lite4")
    p.add_argument("--out", required=True, help="NAME.h5: keras.applications' layout; NAME.weights.h5: Keras 3")
    p.add_argument("--no-ema", action="store_true", help="take the raw values, not the EMA shadows")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default=None,
                   help="input scaling stored in the file (default: the variant's; advprop for AdvProp checkpoints)")
    p.set_defaults(func=_convert)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--model-dir", help="a .keras file, a training run directory (model.keras) or, where allowed, a SavedModel")
    group.add_argument("--model", help="a variant name (b0 ... b7) to build, with --weights")
    p.add_argument("--weights", default=None, help="with --model: a weights file or 'imagenet' (a local copy; never downloaded)")
    p.add_argument("--image-size", type=int, default=None, help="input resolution (default: the model's own)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m efficientnet_tf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="parameters and multiply-adds of B0-B7 beside the paper's Table 2")
    p.add_argument("variants", nargs="*", default=["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"])
    p.add_argument("--plot", help="also write a params-vs-MACs PNG with the paper's values")
    p.set_defaults(func=_summary)

    p = sub.add_parser("export", help="SavedModel (serving_default + serving_bytes) and optional TFLite files")
    _add_model_args(p)
    p.add_argument("--out", help="SavedModel directory (default: MODEL_DIR/saved_model)")
    p.add_argument("--tflite", nargs="*", default=[], choices=["float32", "float16", "dynamic", "int8"],
                   help="also write OUT_<quantization>.tflite for each")
    p.add_argument("--representative", help="data pipeline source (e.g. digits, tfds:NAME) for int8 calibration "
                   "(train split) and the agreement check (validation split)")
    p.add_argument("--data-dir", default=None, help="data directory for --representative")
    p.add_argument("--crop-padding", type=int, default=None,
                   help="serving_bytes' center crop, S/(S+N) (default: the run's, else the reference's 32)")
    p.set_defaults(func=_export)

    p = sub.add_parser("predict", help="top-5 labels with scores for each image")
    _add_model_args(p)
    p.add_argument("images", nargs="+", help="JPEG, PNG, GIF or BMP files")
    p.add_argument("--top-k", type=int, default=5)
    p.set_defaults(func=_predict)

    p = sub.add_parser("cam", help="class activation map overlaid on the image (the paper's Figure 7)")
    _add_model_args(p)
    p.add_argument("image")
    p.add_argument("--out", required=True, help="PNG to write, at the image's size")
    p.add_argument("--class-index", type=int, default=None, help="class to explain (default: the predicted one)")
    p.add_argument("--method", choices=["cam", "gradcam"], default="cam")
    p.set_defaults(func=_cam)

    p = sub.add_parser("scale-search", help="the paper's alpha/beta/gamma grid search, training each candidate")
    p.add_argument("--dataset", default="digits", help="data source (default: the bundled digits)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--budget", type=int, default=6, help="candidates to train, closest to the FLOPs target first")
    p.add_argument("--epochs", type=int, default=8, help="epochs per candidate")
    p.add_argument("--base-resolution", type=int, default=32, help="resolution of the unscaled model")
    p.add_argument("--target", type=float, default=2.0, help="alpha * beta^2 * gamma^2")
    p.add_argument("--tolerance", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/scale-search")
    p.set_defaults(func=_scale_search)

    from efficientnet_tf.data.service_servers import add_parser as add_data_service

    add_data_service(sub)
    _add_convert(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
