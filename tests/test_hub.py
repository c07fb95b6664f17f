"""weights="hf://timm/NAME" through huggingface_hub against a loopback server (HF_ENDPOINT=http://127.0.0.1:PORT)
serving timm-style repos: config.json (pretrained_cfg) and model.safetensors in timm's naming (torch_format_helpers).
huggingface_hub asks HEAD then GET /{repo}/resolve/{revision}/{file} and needs X-Repo-Commit and an ETag."""
import hashlib
import http.server
import json
import threading

import keras
import numpy as np

import pytest
import safetensors.numpy
from huggingface_hub import constants

import efficientnet_tf as et
from checkpoint_helpers import block_expands, official_checkpoint, official_names, relative_diff
from efficientnet_tf import cli
from efficientnet_tf.run_dir import stored_crop_padding
from efficientnet_tf.serving.loading import serving_crop_padding
from efficientnet_tf.weights.checkpoint import load_checkpoint
from efficientnet_tf.weights.hub import hub_config, parse_config
from model_helpers import assert_logits_close, random_images
from torch_format_helpers import torch_state_dict

SIZE = 64
TF_REPO, NATIVE_REPO = "timm/tf_efficientnet_b0.test", "timm/efficientnet_b0.test"
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
INCEPTION = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def timm_config(architecture, stats, crop_pct):
    return {"architecture": architecture, "num_classes": 1000, "num_features": 1280, "pretrained_cfg": {
        "tag": "test", "input_size": [3, SIZE, SIZE], "interpolation": "bicubic", "crop_pct": crop_pct,
        "crop_mode": "center", **stats, "num_classes": 1000, "first_conv": "conv_stem", "classifier": "classifier"}}


class Hub(http.server.ThreadingHTTPServer):
    """Serves ``files`` ("owner/name/file" -> bytes) as the Hub's resolve endpoint; records each request."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.requests = {}, []
        self.url = f"http://127.0.0.1:{self.server_port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, body: bool):
        self.server.requests.append((self.command, self.path))
        owner, name, resolve, _revision, *rest = (self.path.lstrip("/").split("/") + [""] * 4)[:5]
        data = self.server.files.get(f"{owner}/{name}/{'/'.join(rest)}") if resolve == "resolve" else None
        self.send_response(404 if data is None else 200)
        if data is None:
            self.send_header("X-Error-Code", "EntryNotFound")
            data, body = b"", False
        else:
            self.send_header("X-Repo-Commit", hashlib.sha1(f"{owner}/{name}".encode()).hexdigest())
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    hub = Hub()
    thread = threading.Thread(target=hub.serve_forever, daemon=True)
    thread.start()
    yield hub
    hub.shutdown()
    hub.server_close()


@pytest.fixture
def hub(server, monkeypatch, tmp_path):
    """HF_ENDPOINT on the loopback server, and huggingface_hub's import-time copies of it and of its cache."""
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    template = server.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agent_harnesses.json"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    server.requests.clear()
    return server


@pytest.fixture(scope="module")
def b0(tmp_path_factory):
    """(model, folder of its official checkpoint, official names, EMA arrays) for B0 at 64 px."""
    model = et.EfficientNetB0(input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    folder = tmp_path_factory.mktemp("ckpt")
    _, ema = official_checkpoint(folder, model, "efficientnet-b0", block_expands(1.0))
    return model, folder, official_names("efficientnet-b0", block_expands(1.0)), ema


def publish(server, repo, config, tensors):
    server.files[f"{repo}/config.json"] = json.dumps(config).encode()
    server.files[f"{repo}/model.safetensors"] = safetensors.numpy.save(tensors)


def test_tf_port_gives_the_official_checkpoints_logits(b0, hub, capsys):
    model, folder, names, ema = b0
    publish(hub, TF_REPO, timm_config("tf_efficientnet_b0", IMAGENET, 0.8), torch_state_dict(names, ema, "timm", 1.0))
    x = random_images(2, SIZE, seed=9)
    load_checkpoint(model, folder)  # EMA values, as the safetensors holds
    loaded = et.EfficientNetB0(weights=f"hf://{TF_REPO}", classifier_activation=None)  # 64 px: config's input_size
    assert loaded.input_shape == (None, SIZE, SIZE, 3)
    assert_logits_close(np.asarray(loaded(x)), np.asarray(model(x)), rel=1e-4)
    log = capsys.readouterr().err
    assert f"weights: hf://{TF_REPO}: timm state dict, 311 variables; ignored 49 num_batches_tracked" in log
    assert "evaluated at 64 px, crop_pct 0.8 (serving: crop_padding=16), bicubic resize" in log
    resolves = sorted({r for r in hub.requests if "/resolve/" in r[1]})
    files = ("config.json", "model.safetensors")
    assert resolves == [(m, f"/{TF_REPO}/resolve/main/{f}") for m in ("GET", "HEAD") for f in files]
    hub.requests.clear()
    constants.HF_HUB_OFFLINE = True  # restored by the fixture: the cached copy serves, nothing is asked
    assert hub_config(f"hf://{TF_REPO}").crop_padding == 16 and hub.requests == []
    assert serving_crop_padding(model="efficientnet-b0", weights=f"hf://{TF_REPO}") == 16
    assert serving_crop_padding(model="b0", weights="noisy-student") == 32 == serving_crop_padding(model="b0")


@pytest.mark.slow
def test_export_serves_with_the_hub_weights_crop(b0, hub, tmp_path, capsys):
    _, _, names, ema = b0
    publish(hub, TF_REPO, timm_config("tf_efficientnet_b0", IMAGENET, 0.8), torch_state_dict(names, ema, "timm", 1.0))
    out = tmp_path / "served"
    assert cli.main(["export", "--model", "b0", "--weights", f"hf://{TF_REPO}", "--out", str(out)]) == 0
    assert stored_crop_padding(out) == 16 and f"SavedModel: {out}" in capsys.readouterr().out


def _conv(x, kernel, stride, pad, depthwise=False):
    """NHWC convolution in float64 with torch's weights: OIHW, or (C, 1, k, k) per channel."""
    x = np.pad(x.astype(np.float64), ((0, 0), pad, pad, (0, 0)))
    k = kernel.shape[-1]
    rows, cols = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = 0
    for u in range(k):
        for v in range(k):
            patch = x[:, u:u + stride * rows:stride, v:v + stride * cols:stride, :]
            out = out + (patch * kernel[:, 0, u, v] if depthwise else patch @ kernel[:, :, u, v].T)
    return out


def test_timm_native_weights_load_into_the_symmetric_padding_model(b0, hub):
    """Checked against float64 convolutions padded k // 2 on every side, with PyTorch's BN epsilon 1e-5."""
    _, _, names, ema = b0
    tensors = torch_state_dict(names, ema, "timm", 1.0)
    tensors["bn1.running_var"] = np.random.default_rng(1).uniform(1e-5, 1e-4, 32).astype(np.float32)  # eps matters
    publish(hub, NATIVE_REPO, timm_config("efficientnet_b0", INCEPTION, 0.875), tensors)
    model = et.EfficientNetB0(weights=f"hf://{NATIVE_REPO}")
    assert model.get_layer("normalization").mode == "advprop" and model.get_layer("stem_bn").epsilon == 1e-5
    names = ("stem_bn", "block2a_expand_activation", "block2a_dwconv", "block3a_expand_activation", "block3a_dwconv")
    x = random_images(2, SIZE, seed=4)
    stem_bn, act2, dw2, act3, dw3 = keras.Model(model.input, [model.get_layer(n).output for n in names])(x)
    stem = _conv((np.asarray(x) / 255 - 0.5) / 0.5, tensors["conv_stem.weight"], 2, (1, 1))
    bn = {k: tensors[f"bn1.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
    expected = (stem - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5) * bn["weight"] + bn["bias"]
    assert relative_diff(stem_bn, expected) < 1e-5
    assert relative_diff(dw2, _conv(np.asarray(act2), tensors["blocks.1.0.conv_dw.weight"], 2, (1, 1), True)) < 1e-5
    assert relative_diff(dw3, _conv(np.asarray(act3), tensors["blocks.2.0.conv_dw.weight"], 2, (2, 2), True)) < 1e-5
    tf_same = _conv(np.asarray(act3), tensors["blocks.2.0.conv_dw.weight"], 2, (1, 2), True)  # what TF would pad
    assert relative_diff(dw3, tf_same) > 0.1


def test_the_config_fixes_the_variant_and_the_options(hub):
    publish(hub, TF_REPO, timm_config("tf_efficientnet_b0", IMAGENET, 0.875), {})
    publish(hub, NATIVE_REPO, timm_config("efficientnet_b0", INCEPTION, 0.875), {})
    with pytest.raises(ValueError, match=r"holds tf_efficientnet_b0, an EfficientNet-B0; build it with that "
                                         r"variant, not b1"):
        et.EfficientNetB1(weights=f"hf://{TF_REPO}")
    with pytest.raises(ValueError, match=r"needs padding='symmetric', got padding='same'"):
        et.EfficientNetB0(weights=f"hf://{NATIVE_REPO}", padding="same")
    assert hub_config(f"hf://{NATIVE_REPO}").builder_options() == {
        "normalization": "advprop", "default_size": SIZE, "padding": "symmetric", "bn_epsilon": 1e-5}
    with pytest.raises(FileNotFoundError, match=rf"hf://timm/absent: config\.json is neither in huggingface_hub's "
                                                rf"cache nor to be had from {hub.url}"):
        hub_config("hf://timm/absent")


def test_configs_this_package_cannot_honour_are_refused():
    with pytest.raises(ValueError, match=r"architecture 'efficientnet_b3_pruned' is not one this package builds"):
        parse_config("hf://timm/x", timm_config("efficientnet_b3_pruned", IMAGENET, 0.9))
    odd = {"mean": [0.48, 0.46, 0.41], "std": [0.23, 0.22, 0.23]}
    with pytest.raises(ValueError, match=r"mean \(0\.48, 0\.46, 0\.41\) and std \(0\.23, 0\.22, 0\.23\) are none of"):
        parse_config("hf://timm/x", timm_config("efficientnet_b0", odd, 0.9))
    legacy = {"architecture": "tf_efficientnet_lite0", "input_size": [3, 224, 224], "crop_pct": 0.875, **INCEPTION}
    assert parse_config("hf://timm/x", legacy).builder_options() == {
        "normalization": "advprop", "default_size": 224, "padding": "same", "bn_epsilon": 1e-3}
