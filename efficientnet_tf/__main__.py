"""``python -m efficientnet_tf``: the same command line as ``efficientnet-tf``."""
import sys

from efficientnet_tf.cli import main

if __name__ == "__main__":
    sys.exit(main())
