"""Trains EfficientNet; defaults train B0 on digits in a few minutes on CPU. See --help and README."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: keep the progress readable

from efficientnet_tf.training import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
