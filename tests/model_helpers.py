"""Helpers shared by the model tests: peer models from keras.applications, weight copies, files."""
import h5py
import keras
import numpy as np

from efficientnet_tf.models.layers import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB

VARIANTS = ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7")


def keras_app(variant, **kwargs):
    return getattr(keras.applications, f"EfficientNet{variant.upper()}")(**kwargs)


def randomize(model, seed=0):
    """Random BN statistics and small random weights so that every layer matters in a comparison."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not layer.weights or isinstance(layer, keras.layers.Normalization):
            continue
        new = []
        for w in layer.weights:
            a = np.asarray(w)
            # Bounded so that activations stay O(1) through B7's 55 blocks: a comparison of
            # exploding activations would only measure float round-off.
            if "moving_variance" in w.path:
                a = rng.uniform(1.0, 2.0, a.shape)
            elif "moving_mean" in w.path or "beta" in w.path or "bias" in w.path:
                a = rng.normal(0, 0.05, a.shape)
            elif "gamma" in w.path:
                a = rng.uniform(0.2, 0.6, a.shape)
            new.append(a.astype(np.asarray(w).dtype))
        layer.set_weights(new)


def set_true_normalization(app_model):
    """Puts the real ImageNet statistics into keras.applications' never-adapted Normalization."""
    norm = next(l for l in app_model.layers if isinstance(l, keras.layers.Normalization))
    norm.set_weights([np.array(IMAGENET_MEAN_RGB), np.square(IMAGENET_STD_RGB), np.array(0)])
    norm.finalize_state()  # set_weights alone does not reach call() (keras-team/keras#20147)


def copy_weights(src, dst):
    """Copies every weighted layer of ``dst`` from the same-named layer of ``src``."""
    for layer in dst.layers:
        if layer.weights and layer.name != "normalization" and not isinstance(layer, keras.layers.Normalization):
            layer.set_weights(src.get_layer(layer.name).get_weights())


def write_official_h5(app_model, path):
    """Writes weights in keras.applications' legacy HDF5 layout, with the official files' quirk:
    the std stored where the variance belongs (tensorflow/tensorflow#49930)."""
    def name(layer):  # the published files come from a fresh session: no "_4" suffixes
        return "normalization" if isinstance(layer, keras.layers.Normalization) else layer.name

    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([name(l).encode() for l in app_model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.4.0"
        for layer in app_model.layers:
            group = f.create_group(name(layer))
            values = [np.asarray(w) for w in layer.weights]
            if isinstance(layer, keras.layers.Normalization):
                values = [np.array(IMAGENET_MEAN_RGB), np.array(IMAGENET_STD_RGB), np.array(0, np.int64)]
            names = [f"{name(layer)}/{w.name}:0" for w in layer.weights]
            group.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n, v in zip(names, values):
                group.create_dataset(n, data=v)


def random_images(n, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def assert_logits_close(a, b, rel=1e-4):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = np.abs(b).max()
    err = np.abs(a - b).max() / scale
    assert err <= rel, f"max |diff| / max |logit| = {err:.2e} > {rel}"
