"""Trains EfficientNet; defaults train B0 on digits in a few minutes on CPU. See --help and README."""
import sys

from efficientnet_tf.training import main

if __name__ == "__main__":
    sys.exit(main())
