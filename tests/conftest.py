"""Shared test setup: quiet TensorFlow, and every test starts from the float32 policy."""
import collections
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy():
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


def pytest_collection_modifyitems(items):
    """Files with the most tests marked slow go first, so that the two xdist workers (loadfile, run with
    --no-loadscope-reorder, which keeps this order) do not end with one long file running alone."""
    slow = collections.Counter(item.path.name for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path.name])  # stable: a file's own order is kept
