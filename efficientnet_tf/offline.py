"""The one offline switch: ``EFFICIENTNET_TF_OFFLINE=1`` forbids every download the package would
start on request (preset weights, TFDS datasets), so an air-gapped job fails at once, never mid-run."""
from __future__ import annotations

import os

OFFLINE_ENV = "EFFICIENTNET_TF_OFFLINE"


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")
