"""``export``, ``predict`` and ``cam``: a trained or pretrained model leaving the package."""
from __future__ import annotations

import argparse
from pathlib import Path

from efficientnet_tf import preprocessing
from efficientnet_tf.cli.errors import UsageError
from efficientnet_tf.cli.flags import default_of
from efficientnet_tf.serving import cam, onnx_export, runtimes, saved_model, tflite


def _add_model_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--model-dir", help="a .keras file, a training run directory (model.keras) or, where allowed, "
                       "a SavedModel or an exported .tflite/.onnx file")
    group.add_argument("--model", help="a variant name (b0 ... b7) to build, with --weights")
    p.add_argument("--weights", default=None, help="with --model: a weights file, a preset tag (see 'weights list'; downloaded once) or hf://OWNER/NAME")
    p.add_argument("--image-size", type=int, default=None, help="input resolution (default: the model's own)")


def _export(args) -> int:
    from efficientnet_tf.run_dir import RunDir, stored_class_names
    from efficientnet_tf.serving.held_out import held_out
    from efficientnet_tf.serving.loading import load_keras_model, serving_crop_padding

    if args.model and not args.out:
        raise UsageError("--out is required with --model")
    if "int8" in args.tflite and not args.representative:
        raise UsageError("--tflite int8 needs --representative: a data source or a folder of images to calibrate on")
    model = load_keras_model(args.model_dir, args.model, args.weights, args.image_size)
    out = args.out or str(RunDir(args.model_dir).saved_model)
    names = stored_class_names(args.model_dir) if args.model_dir else None
    crop_padding = args.crop_padding
    if crop_padding is None:
        crop_padding = serving_crop_padding(args.model_dir, args.model, args.weights)
    size = args.image_size or model.inputs[0].shape[1]
    held = held_out(args.representative, size, data_dir=args.data_dir, crop_padding=crop_padding) \
        if args.representative else None  # read first: a bad source fails before anything is written
    saved = saved_model.export_saved_model(model, out, class_names=names, image_size=args.image_size,
                                           crop_padding=crop_padding)
    print("SavedModel:", saved, flush=True)
    for row in tflite.export_variants(model, out, args.tflite, held):
        print("TFLite: " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    if args.onnx:
        print("ONNX: " + ", ".join(f"{k} {v}" for k, v in _onnx(model, out, held).items()), flush=True)
    return 0


def _onnx(model, out: str, held) -> dict:
    """Writes ``OUT.onnx`` and checks it with ONNX Runtime on the held-out images (else on noise)."""
    import numpy as np

    from efficientnet_tf.serving.held_out import agreement
    from efficientnet_tf.serving.onnx_export import ONNXModel, export_onnx

    path = export_onnx(model, f"{out.rstrip('/')}.onnx")
    if held is not None:
        images, checked_on = held.check, "held-out images"
    else:
        shape = (8, *model.inputs[0].shape[1:])
        images, checked_on = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32), "random images"
    row = {"path": path, "bytes": Path(path).stat().st_size}
    row.update(agreement(model, ONNXModel(path), images), checked_on=f"{len(images)} {checked_on}")
    return row


def _predict(args) -> int:
    from efficientnet_tf.serving.predict import bytes_classifier, format_predictions, predict_files

    classify = bytes_classifier(args.model_dir, args.model, args.weights, args.image_size, args.top_k,
                                args.runtime, args.precision)
    print(format_predictions(args.images, predict_files(classify, args.images, args.top_k)), flush=True)
    return 0


def _cam(args) -> int:
    from efficientnet_tf.serving.loading import load_keras_model

    model = load_keras_model(args.model_dir, args.model, args.weights, args.image_size)
    cls = cam.write_cam(model, args.image, args.out, args.class_index, args.method)
    print(f"{args.out}: {args.method} heatmap of class {cls}", flush=True)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="SavedModel (serving_default + serving_bytes) and optional TFLite files")
    _add_model_args(p)
    p.add_argument("--out", help="SavedModel directory (default: MODEL_DIR/saved_model)")
    p.add_argument("--tflite", nargs="*", default=[], choices=tflite.QUANTIZATIONS,
                   help="also write OUT_<quantization>.tflite for each")
    p.add_argument("--onnx", action="store_true",
                   help="also write OUT.onnx (Keras' ONNX export; needs efficientnet_tf[onnx]), checked with ONNX Runtime")
    p.add_argument("--representative", help="a folder of images (any depth, no labels) or a data source (digits, "
                   "tfds:NAME, folder:PATH, ...) for int8 calibration and the agreement checks")
    p.add_argument("--data-dir", default=None, help="data directory for --representative")
    p.add_argument("--crop-padding", type=int, default=None,
                   help="serving_bytes' center crop, S/(S+N) (default: the run's, else the --weights' own, "
                   f"else {preprocessing.CROP_PADDING})")
    p.set_defaults(func=_export)

    top_k = default_of(saved_model.export_saved_model, "top_k")
    p = sub.add_parser("predict", help=f"top-{top_k} labels with scores for each image")
    _add_model_args(p)
    p.add_argument("images", nargs="+", help="JPEG, PNG, GIF or BMP files")
    p.add_argument("--top-k", type=int, default=top_k, help=f"labels per image (default: {top_k})")
    p.add_argument("--runtime", choices=runtimes.RUNTIMES, default="auto",
                   help="what serves --model-dir: keras (a .keras file, run directory or SavedModel), tflite "
                   "(a .tflite file, on LiteRT), onnxruntime or openvino (an .onnx file); auto: by its suffix")
    p.add_argument("--precision", choices=onnx_export.PRECISIONS, default="f32",
                   help="inference precision (bf16: OpenVINO only)")
    p.set_defaults(func=_predict)

    p = sub.add_parser("cam", help="class activation map overlaid on the image (the paper's Figure 7)")
    _add_model_args(p)
    p.add_argument("image")
    p.add_argument("--out", required=True, help="PNG to write, at the image's size")
    p.add_argument("--class-index", type=int, default=None, help="class to explain (default: the predicted one)")
    p.add_argument("--method", choices=cam.METHODS, default=default_of(cam.write_cam, "method"))
    p.set_defaults(func=_cam)
