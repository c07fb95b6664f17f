"""TPU detection on a fake /dev: TPU VMs up to v4 show /dev/accel*, v5e/v5p/v6e /dev/vfio/<N>, and
/dev/vfio/vfio (VFIO's control node) is on machines with no TPU at all; no TPU is needed to test it."""
import pytest

from efficientnet_tf.training.strategy import strategy_kind, tpu_configured, tpu_resolver_name


def _dev(tmp_path, *nodes):
    for node in nodes:
        (tmp_path / node).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / node).touch()
    return str(tmp_path)


@pytest.mark.parametrize("nodes, found", [
    (["vfio/0"], True),
    (["vfio/vfio", "vfio/3"], True),
    (["accel0"], True),
    (["vfio/vfio"], False),
    ([], False),
], ids=["vfio0", "vfio-control-and-3", "accel0", "vfio-control-only", "empty"])
def test_tpu_found_by_its_device_nodes(tmp_path, nodes, found):
    assert tpu_configured(dev=_dev(tmp_path, *nodes), environ={}) is found


def test_a_named_tpu_counts_without_device_nodes(tmp_path):
    assert tpu_configured(dev=str(tmp_path), environ={"TPU_NAME": "my-tpu"})
    assert tpu_configured("grpc://10.0.0.2:8470", dev=str(tmp_path), environ={})


def test_auto_picks_tpu_only_when_one_is_found(tmp_path):
    assert strategy_kind("auto", dev=_dev(tmp_path, "vfio/0"), environ={}) == "tpu"
    assert strategy_kind("auto", dev=str(tmp_path / "none"), environ={}) == "default"  # no GPU here
    assert strategy_kind("mirrored", dev=_dev(tmp_path, "vfio/0"), environ={}) == "mirrored"


def test_resolver_name_defaults_to_local():
    assert tpu_resolver_name("", environ={}) == "local"
    assert tpu_resolver_name("", environ={"TPU_NAME": "my-tpu"}) == "my-tpu"
    assert tpu_resolver_name("other-tpu", environ={"TPU_NAME": "my-tpu"}) == "other-tpu"
