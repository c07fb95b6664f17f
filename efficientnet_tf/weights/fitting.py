"""What every weight loader here shares: a file fits the model whole or nothing is assigned, and the
one reshape allowed, the RGB stem kernel adapted to another input channel count.

The adaptation is timm's ``adapt_input_conv``: grayscale sums the RGB kernels, so a gray image gives
exactly the features of the same image repeated over RGB; any other count repeats the RGB kernels
over the channels and scales them by 3 / C, keeping the stem's output scale.
"""
from __future__ import annotations

import math
import sys
from typing import Optional, Sequence, Tuple

import numpy as np

STEM_LAYER = "stem_conv"
# keras.applications' normalization constants are fixed by the model (layers.ImageNormalization), never read:
# the official h5 files store the std where the variance belongs, and checkpoints have none.
FIXED_LAYERS = ("normalization",)


def say(message: str) -> None:
    """A loader's report line (which values were taken, what was adapted or left out): on stderr."""
    print(message, file=sys.stderr, flush=True)


def adapt_input_kernel(kernel: np.ndarray, channels: int) -> np.ndarray:
    """An RGB conv kernel (k, k, 3, F) for ``channels`` inputs: (k, k, channels, F)."""
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"expected an RGB kernel (k, k, 3, F), got shape {kernel.shape}")
    if channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    repeats = math.ceil(channels / 3)
    return (np.tile(kernel, (1, 1, repeats, 1))[:, :, :channels] * (3.0 / channels)).astype(kernel.dtype)


def stem_note(layer_name: str, want: Sequence[Tuple], got: Sequence[Tuple]) -> Optional[str]:
    """The report line when ``got`` is an RGB stem kernel for a model with C != 3 inputs, else None."""
    if layer_name != STEM_LAYER or len(want) != 1 or len(got) != 1:
        return None
    w, g = tuple(want[0]), tuple(got[0])
    if len(w) != 4 or len(g) != 4 or g[2] != 3 or w[2] == 3 or w[:2] != g[:2] or w[3] != g[3]:
        return None
    how = "summed over R, G and B" if w[2] == 1 else f"repeated over the channels and scaled by 3/{w[2]}"
    return f"{STEM_LAYER}: the RGB kernel adapted to {w[2]} input channel(s), {how} (timm's adapt_input_conv)"


def refuse(problems: Sequence[str], what: str) -> None:
    """Raises one ValueError naming what does not fit (the first 8, and how many more)."""
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise ValueError(f"{what}: {shown}")
