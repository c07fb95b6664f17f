"""The preset registry (weights.presets) and ``weights=TAG`` end to end: official-layout tarballs and a
keras-layout h5 served by a loopback mirror, downloaded, verified, cached and loaded with the input
scaling the tag fixes."""
import dataclasses
import hashlib
import os
import re
from pathlib import Path

import keras.src.applications.efficientnet as keras_efficientnet
import numpy as np
import pytest

import efficientnet_tf as et
from checkpoint_helpers import block_expands, official_checkpoint
from efficientnet_tf import preprocessing
from efficientnet_tf.models.layers import NORMALIZATIONS
from efficientnet_tf.models.variants import VARIANTS
from efficientnet_tf.weights import download, presets, sources
from efficientnet_tf.weights.convert import write_legacy_h5
from mirror_helpers import folder_tarball, mirror  # noqa: F401 -- mirror is a fixture
from model_helpers import random_images

DOC = Path(__file__).resolve().parents[1] / "docs" / "pretrained.md"
TPU = "https://storage.googleapis.com/cloud-tpu-checkpoints/efficientnet/"
B = [f"b{i}" for i in range(8)]
# tensorflow/tpu's README table, spelled out again: tag -> top-1 by variant.
PUBLISHED = {
    "imagenet": dict(zip(B + [f"lite{i}" for i in range(5)],
                         [77.1, 79.1, 80.1, 81.6, 82.9, 83.6, 84.0, 84.3, 75.1, 76.7, 77.6, 79.8, 81.5])),
    "baseline": dict(zip(B[:6], [76.7, 78.7, 79.8, 81.1, 82.5, 83.1])),
    "autoaugment": dict(zip(B, [77.1, 79.1, 80.1, 81.6, 82.9, 83.6, 84.0, 84.3])),
    "randaugment": {"b5": 83.7, "b7": 84.7},
    "advprop": dict(zip(B + ["b8"], [77.6, 79.6, 80.5, 81.9, 83.3, 84.3, 84.8, 85.2, 85.5])),
    "noisy-student": dict(zip(B + ["l2"], [78.8, 81.5, 82.4, 84.1, 85.3, 86.1, 86.4, 86.9, 88.4])),
    "noisy-student-475": {"l2": 88.2},
}
# google/automl's efficientnetv2/README.md, spelled out again; keras' V2 files are its 1k checkpoints.
V2 = ["v2-b0", "v2-b1", "v2-b2", "v2-b3", "v2-s", "v2-m", "v2-l"]
V2_IN1K = dict(zip(V2, [78.7, 79.8, 80.5, 82.1, 83.9, 85.2, 85.7]))
PUBLISHED["imagenet"].update(V2_IN1K)
PUBLISHED.update({"in1k": V2_IN1K, "in21k": dict.fromkeys(V2 + ["v2-xl"]),
                  "in21k-ft1k": {"v2-s": 84.9, "v2-m": 86.2, "v2-l": 86.9, "v2-xl": 87.2}})
SIZE = (64, 64, 3)


def test_every_published_set_with_its_top1():
    assert {tag: {v: p.top1 for v, p in by_v.items()} for tag, by_v in presets.PRESETS.items()} == PUBLISHED


def test_imagenet_is_keras_applications_own_files_and_hashes():
    for v in B:
        p = presets.get("imagenet", v)
        top, notop = keras_efficientnet.WEIGHTS_HASHES[v]  # keras loads [0] with the top, [1] without
        assert p.file_for(True) == presets.WeightFile(f"{keras_efficientnet.BASE_WEIGHTS_PATH}efficientnet{v}.h5",
                                                      f"md5:{top}")
        assert p.file_for(False) == presets.WeightFile(
            f"{keras_efficientnet.BASE_WEIGHTS_PATH}efficientnet{v}_notop.h5", f"md5:{notop}")
        assert p.layout == presets.KERAS_H5
    from keras.src.applications import efficientnet_v2 as keras_v2

    for v in V2:
        p = presets.get("imagenet", v)
        top, notop = keras_v2.WEIGHTS_HASHES[v[3:] if v[3] == "b" else v[2:]]  # keras keys: "b0", "-s"
        assert p.file_for(True).url == f"{keras_v2.BASE_WEIGHTS_PATH}efficientnet{v}.h5"
        assert (p.file_for(True).file_hash, p.file_for(False).file_hash) == (f"md5:{top}", f"md5:{notop}")
        assert p.file_for(False).url == f"{keras_v2.BASE_WEIGHTS_PATH}efficientnet{v}_notop.h5"


def test_v2_checkpoints_from_automl():
    assert presets.get("in1k", "v2-s").file.url == TPU + "v2/efficientnetv2-s.tgz"
    assert presets.get("in21k", "v2-xl").file.url == TPU + "v2/efficientnetv2-xl-21k.tgz"
    assert presets.get("in21k-ft1k", "v2-l").file.url == TPU + "v2/efficientnetv2-l-21k-ft1k.tgz"
    assert {p.classes for p in presets.PRESETS["in21k"].values()} == {21843}
    for tag in ("imagenet", "in1k", "in21k", "in21k-ft1k"):
        for v, p in presets.PRESETS[tag].items():
            if v.startswith("v2-"):  # keras' include_preprocessing: mean/std for B0-B3, x / 128 - 1 for S-XL
                assert p.normalization == ("imagenet" if v[3] == "b" else "v2")
                assert p.default_size == VARIANTS[v].resolution
    assert sources.builder_options("in21k", "v2-b0", {}) == {
        "normalization": "imagenet", "default_size": 224, "classes": 21843}
    with pytest.raises(ValueError, match="needs classes=21843, got classes=1000"):
        et.EfficientNetV2B0(weights="in21k", classes=1000)


def test_tarball_urls_scaling_sizes_and_crop():
    assert presets.get("baseline", "b3").file.url == TPU + "ckpts/efficientnet-b3.tar.gz"
    assert presets.get("autoaugment", "b6").file.url == TPU + "ckptsaug/efficientnet-b6.tar.gz"
    assert presets.get("randaugment", "b7").file.url == TPU + "randaug/efficientnet-b7-randaug.tar.gz"
    assert presets.get("advprop", "b8").file.url == TPU + "advprop/efficientnet-b8.tar.gz"
    assert presets.get("noisy-student", "l2").file.url == TPU + "noisystudent/noisy_student_efficientnet-l2.tar.gz"
    assert presets.get("noisy-student-475", "l2").file.url == (
        TPU + "noisystudent/noisy_student_efficientnet-l2_475.tar.gz")
    assert presets.get("imagenet", "lite4").file.url == TPU + "lite/efficientnet-lite4.tar.gz"
    for tag, by_variant in presets.PRESETS.items():
        for v, p in by_variant.items():
            if v.startswith("v2-"):
                continue  # test_v2_checkpoints_from_automl
            scaling = "advprop" if tag == "advprop" else "lite" if v.startswith("lite") else "imagenet"
            assert p.normalization == scaling
            assert p.normalization in NORMALIZATIONS and p.classes == 1000 and p.license == "Apache-2.0"
            assert p.default_size == (475 if tag == "noisy-student-475" else VARIANTS[v].resolution)
            assert p.crop_padding == preprocessing.CROP_PADDING
            assert p.layout == (presets.KERAS_H5 if tag == "imagenet" and v in B else presets.TPU_TARBALL)
            assert (p.file.file_hash is not None) == (p.layout == presets.KERAS_H5)  # Google publishes none
    assert presets.get("noisy-student-475", "l2").crop_pct == 475 / 507


def test_a_tag_fixes_the_builder_options_and_a_contradiction_is_refused():
    assert sources.builder_options("advprop", "b3", {"dropout_rate": 0.1}) == {
        "dropout_rate": 0.1, "normalization": "advprop", "default_size": 300}
    assert sources.builder_options("noisy-student-475", "l2", {}) == {"normalization": "imagenet", "default_size": 475}
    assert sources.builder_options("imagenet", "lite2", {}) == {"normalization": "lite", "default_size": 260}
    assert sources.builder_options("/some/file.h5", "b0", {"normalization": "advprop"}) == {"normalization": "advprop"}
    with pytest.raises(ValueError, match=re.escape(
            "weights='advprop' for b3 needs normalization='advprop', got normalization='imagenet'")):
        et.EfficientNetB3(weights="advprop", normalization="imagenet")


def test_the_low_level_builder_refuses_what_the_variant_builders_would_have_set(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match=re.escape(
            "weights='advprop' for b0 needs normalization='advprop', got normalization='imagenet'; the variant builders")):
        et.EfficientNet(1.0, 1.0, 224, weights="advprop", name="efficientnet-b0")
    with pytest.raises(ValueError, match="weights='noisy-student' needs a known variant; 'my_net' is none"):
        et.EfficientNet(1.0, 1.0, 224, weights="noisy-student", name="my_net")
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", "1")  # the options fit: it goes on to b0's own file
    monkeypatch.setenv("EFFICIENTNET_TF_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"efficientnet/advprop/efficientnet-b0\.tar\.gz is not cached"):
        et.EfficientNet(1.0, 1.0, 224, weights="advprop", name="efficientnet-b0", normalization="advprop")


def test_a_tag_the_variant_lacks_lists_the_tags_it_has():
    with pytest.raises(ValueError) as e:
        et.EfficientNetB0(weights="randaugment")
    assert str(e.value) == ("weights='randaugment' has no b0 (it has b5, b7); b0 has: imagenet, baseline, autoaugment, "
                            "advprop, noisy-student")
    with pytest.raises(ValueError, match="unknown weights tag 'noisy'; the tags are: imagenet, baseline, "):
        presets.get("noisy", "b0")


def test_the_docs_table_is_the_registry():
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- presets.render_markdown() -->\n", 1)[1].split("<!-- end -->", 1)[0]
    assert table == presets.render_markdown()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Official-layout training checkpoints (EMA shadows, slots) for B0 and Lite0 at 64 px."""
    b0 = tmp_path_factory.mktemp("b0")
    official_checkpoint(b0, et.EfficientNetB0(input_shape=SIZE), "efficientnet-b0", block_expands(1.0))
    lite0 = tmp_path_factory.mktemp("lite0")
    official_checkpoint(lite0, et.EfficientNetLite0(input_shape=SIZE), "efficientnet-lite0",
                        block_expands(1.0, lite=True), se=False)
    return {"b0": b0, "lite0": lite0}


def _serve(mirror, tag, variant, checkpoint):
    """The mirror's copy of the preset's tarball; returns its request path and the folder name inside."""
    url = presets.get(tag, variant).file.url
    name = url.rsplit("/", 1)[1][: -len(".tar.gz")]
    return mirror.put(url, folder_tarball(checkpoint, name)), name


def test_tags_download_extract_cache_and_load_with_their_scaling(mirror, checkpoints):
    x = random_images(2, 64, seed=1)
    served, outputs = [], {}
    for tag, builder, variant, scaling in (("noisy-student", et.EfficientNetB0, "b0", "imagenet"),
                                           ("advprop", et.EfficientNetB0, "b0", "advprop"),
                                           ("imagenet", et.EfficientNetLite0, "lite0", "lite")):
        path, name = _serve(mirror, tag, variant, checkpoints[variant])
        served.append(path)
        model = builder(weights=tag, input_shape=SIZE)
        assert model.get_layer("normalization").mode == scaling
        by_path = builder(weights=str(checkpoints[variant]), normalization=scaling, input_shape=SIZE)
        outputs[tag] = np.asarray(model(x))
        np.testing.assert_array_equal(outputs[tag], np.asarray(by_path(x)))
        cached = download.cached_path(presets.get(tag, variant))
        assert sorted(os.listdir(cached / name)) == sorted(os.listdir(checkpoints[variant]))
    assert mirror.requests == served
    assert not np.allclose(outputs["noisy-student"], outputs["advprop"])  # same weights, other scaling
    mirror.stop()
    again = et.EfficientNetB0(weights="noisy-student", input_shape=SIZE)
    np.testing.assert_array_equal(np.asarray(again(x)), outputs["noisy-student"])


@pytest.fixture(scope="module")
def keras_layout_h5(tmp_path_factory):
    """A generated efficientnetb0.h5 in keras.applications' layout, and the outputs it gives."""
    model = et.EfficientNetB0(input_shape=SIZE)
    path = write_legacy_h5(model, tmp_path_factory.mktemp("h5") / "efficientnetb0.h5")
    return Path(path).read_bytes(), np.asarray(model(random_images(2, 64, seed=2)))


def test_imagenet_takes_keras_url_and_refuses_a_file_with_another_hash(mirror, keras_layout_h5):
    data, _ = keras_layout_h5
    preset = presets.get("imagenet", "b0")
    mirror.put(keras_efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0.h5", data)
    with pytest.raises(ValueError) as e:
        et.EfficientNetB0(weights="imagenet", input_shape=SIZE)
    assert str(e.value).startswith(f"{preset.file.url} (from {mirror.url}/storage.googleapis.com/keras-applications/"
                                   f"efficientnetb0.h5): md5 {hashlib.md5(data).hexdigest()} differs from the expected "
                                   f"{keras_efficientnet.WEIGHTS_HASHES['b0'][0]}; nothing was cached")
    assert not download.cached_path(preset).exists()


def test_imagenet_loads_a_file_with_the_registry_hash_and_keras_own_copy(mirror, keras_layout_h5, monkeypatch,
                                                                         tmp_path):
    data, expected = keras_layout_h5
    preset = presets.get("imagenet", "b0")
    sha256 = hashlib.sha256(data).hexdigest()
    pinned = dataclasses.replace(preset, file=dataclasses.replace(preset.file, file_hash=f"sha256:{sha256}"))
    monkeypatch.setitem(presets.PRESETS["imagenet"], "b0", pinned)
    path = mirror.put(preset.file.url, data)
    model = et.EfficientNetB0(weights="imagenet", input_shape=SIZE)
    np.testing.assert_allclose(np.asarray(model(random_images(2, 64, seed=2))), expected, rtol=1e-6, atol=1e-7)
    assert download.cached_path(pinned).read_bytes() == data and mirror.requests == [path]
    keras_models = tmp_path / "keras_home" / "models"  # the mirror fixture's KERAS_HOME
    keras_models.mkdir(parents=True)
    download.cached_path(pinned).rename(keras_models / "efficientnetb0.h5")
    model = et.EfficientNetB0(weights="imagenet", input_shape=SIZE)
    np.testing.assert_allclose(np.asarray(model(random_images(2, 64, seed=2))), expected, rtol=1e-6, atol=1e-7)
    assert mirror.requests == [path] and not download.cached_path(pinned).exists()
