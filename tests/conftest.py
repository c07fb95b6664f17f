"""Shared test setup: quiet TensorFlow, and every test starts from the float32 policy."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy():
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


# The files that took longest in `make test` on the 2-core machine (seconds summed over their tests,
# 2026-12-02): 524, 422, 363, 355, 334, 280, 261, 221, 179, 155. They go first, the rest keep their
# order, so that the two xdist workers (run with --no-loadscope-reorder, which keeps this order) end
# together instead of one running a long file alone at the end: 1850 s instead of 1908 on that run's times.
LONGEST_FIRST = ["test_keras_applications.py", "test_training_runs.py", "test_notebooks.py", "test_tflite.py",
                 "test_model.py", "test_data_service.py", "test_cli.py", "test_cam.py", "test_scaling.py",
                 "test_training_loop.py"]


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept
