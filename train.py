"""Trains EfficientNet: ``efficientnet-tf train`` under its design-card name. See --help and README."""
import sys

from efficientnet_tf.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
