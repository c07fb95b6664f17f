"""EfficientNetV2 (Tan & Le, ICML 2021): its block strings and every choice that sets it apart from V1.

Block strings, widths, depths, sizes and dropout are google/automl's ``effnetv2_configs.py``
(``c1`` marks a fused MBConv stage, strides are one digit); B0-B3 scale the base strings by width
and depth as V1 does, S/M/L/XL have strings of their own and coefficients of 1. The rest of the
family: BN epsilon 1e-3 and a 1280-wide head (as V1), a stem as wide as the first stage's input,
filter rounding without V1's 10% rule (``blocks.FAMILIES["v2"]``), and keras.applications' input
scaling: ImageNet mean/std for B0-B3, ``x / 128 - 1`` ("v2") for S, M, L and XL. The eval size is
the variant's resolution; the train size is what progressive learning ends at.
"""
from __future__ import annotations

from typing import Dict, Tuple

BASE_BLOCKS = (
    "r1_k3_s1_e1_i32_o16_c1",
    "r2_k3_s2_e4_i16_o32_c1",
    "r2_k3_s2_e4_i32_o48_c1",
    "r3_k3_s2_e4_i48_o96_se0.25",
    "r5_k3_s1_e6_i96_o112_se0.25",
    "r8_k3_s2_e6_i112_o192_se0.25",
)
S_BLOCKS = (
    "r2_k3_s1_e1_i24_o24_c1",
    "r4_k3_s2_e4_i24_o48_c1",
    "r4_k3_s2_e4_i48_o64_c1",
    "r6_k3_s2_e4_i64_o128_se0.25",
    "r9_k3_s1_e6_i128_o160_se0.25",
    "r15_k3_s2_e6_i160_o256_se0.25",
)
M_BLOCKS = (
    "r3_k3_s1_e1_i24_o24_c1",
    "r5_k3_s2_e4_i24_o48_c1",
    "r5_k3_s2_e4_i48_o80_c1",
    "r7_k3_s2_e4_i80_o160_se0.25",
    "r14_k3_s1_e6_i160_o176_se0.25",
    "r18_k3_s2_e6_i176_o304_se0.25",
    "r5_k3_s1_e6_i304_o512_se0.25",
)
L_BLOCKS = (
    "r4_k3_s1_e1_i32_o32_c1",
    "r7_k3_s2_e4_i32_o64_c1",
    "r7_k3_s2_e4_i64_o96_c1",
    "r10_k3_s2_e4_i96_o192_se0.25",
    "r19_k3_s1_e6_i192_o224_se0.25",
    "r25_k3_s2_e6_i224_o384_se0.25",
    "r7_k3_s1_e6_i384_o640_se0.25",
)
XL_BLOCKS = (  # the reference trains XL on ImageNet-21k only
    "r4_k3_s1_e1_i32_o32_c1",
    "r8_k3_s2_e4_i32_o64_c1",
    "r8_k3_s2_e4_i64_o96_c1",
    "r16_k3_s2_e4_i96_o192_se0.25",
    "r24_k3_s1_e6_i192_o256_se0.25",
    "r32_k3_s2_e6_i256_o512_se0.25",
    "r8_k3_s1_e6_i512_o640_se0.25",
)

# name: (block strings, width, depth, train size, eval size, dropout, input scaling)
V2_TABLE: Dict[str, Tuple[Tuple[str, ...], float, float, int, int, float, str]] = {
    "v2-b0": (BASE_BLOCKS, 1.0, 1.0, 192, 224, 0.2, "imagenet"),
    "v2-b1": (BASE_BLOCKS, 1.0, 1.1, 192, 240, 0.2, "imagenet"),
    "v2-b2": (BASE_BLOCKS, 1.1, 1.2, 208, 260, 0.3, "imagenet"),
    "v2-b3": (BASE_BLOCKS, 1.2, 1.4, 240, 300, 0.3, "imagenet"),
    "v2-s": (S_BLOCKS, 1.0, 1.0, 300, 384, 0.2, "v2"),
    "v2-m": (M_BLOCKS, 1.0, 1.0, 384, 480, 0.3, "v2"),
    "v2-l": (L_BLOCKS, 1.0, 1.0, 384, 480, 0.4, "v2"),
    "v2-xl": (XL_BLOCKS, 1.0, 1.0, 384, 512, 0.4, "v2"),
}

# The V2 paper's Table 7 (ImageNet top-1, parameters, FLOPs as printed), at the eval sizes above.
PAPER_TABLE7: Dict[str, Tuple[float, float, float]] = {
    "v2-s": (83.9, 22e6, 8.8e9),
    "v2-m": (85.1, 54e6, 24e9),
    "v2-l": (85.7, 120e6, 53e9),
}
