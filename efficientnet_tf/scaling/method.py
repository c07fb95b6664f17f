"""Compound scaling as a method: any phi, single-dimension scaling, the paper's STEP-1 grid search,
and the same scaling applied to another baseline (MobileNetV2) through the same block-string builder.

The paper scales depth by alpha**phi, width by beta**phi and resolution by gamma**phi under
alpha * beta**2 * gamma**2 ~= 2, so multiply-adds grow about 2**phi. The reference rounds repeats
up, which inflates the first steps of phi by 16-27% over (alpha*beta^2*gamma^2)**phi; pass
``depth_rounding="nearest"`` for scaling studies that need the MACs on the constraint. The official B1-B7 table
(``variants.py``) was rounded by hand and is not exactly these powers: for example B7 has
width 2.0 = 1.1**7.3, depth 3.1 = 1.2**6.2 and resolution 600 = 224 * 1.15**7.05. Use the table to
reproduce the published models, and ``efficientnet_from_phi`` to scale the method itself.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import keras

from efficientnet_tf.models.efficientnet import EfficientNet
from efficientnet_tf.models.profile import profile

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
RESOLUTION_MULTIPLE = 8
# What grid_search ranks by: top-1 alone, or the NAS objective that found B0 (``nas_objective``).
RANKINGS = {"accuracy": "accuracy", "nas": "nas_objective"}

# MobileNetV2's inverted-residual table (Sandler et al., 2018) in the block grammar: no SE; the
# model uses ReLU6, a 32-filter stem and a 1280-filter head, and no stochastic depth.
MOBILENETV2_BLOCKS_ARGS: Tuple[str, ...] = (
    "r1_k3_s11_e1_i32_o16",
    "r2_k3_s22_e6_i16_o24",
    "r3_k3_s22_e6_i24_o32",
    "r4_k3_s22_e6_i32_o64",
    "r3_k3_s11_e6_i64_o96",
    "r3_k3_s22_e6_i96_o160",
    "r1_k3_s11_e6_i160_o320",
)


@dataclasses.dataclass(frozen=True)
class Scale:
    depth: float
    width: float
    resolution: int


def round_resolution(resolution: float, multiple: int = RESOLUTION_MULTIPLE) -> int:
    """Nearest multiple of ``multiple`` (8 keeps every stride-2 stage's size even down to 1/8)."""
    return max(multiple, int(round(resolution / multiple)) * multiple)


def compound_coefficients(
    phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA, base_resolution: int = 224
) -> Scale:
    """(depth, width, resolution) = (alpha**phi, beta**phi, gamma**phi * base rounded to 8)."""
    if phi < 0:
        raise ValueError(f"phi must be >= 0, got {phi}")
    return Scale(alpha**phi, beta**phi, round_resolution(base_resolution * gamma**phi))


def scaled_efficientnet(
    depth: float = 1.0, width: float = 1.0, resolution: int = 224, *, name: Optional[str] = None, **kwargs
) -> keras.Model:
    """B0 scaled along any mix of dimensions: the paper's Figure 3/4 and Table 7 experiments."""
    if depth <= 0 or width <= 0:
        raise ValueError(f"depth and width must be > 0, got {depth}, {width}")
    kwargs.setdefault("input_shape", (resolution, resolution, 3))
    return EfficientNet(
        width, depth, resolution,
        name=name or f"efficientnet_d{depth:.3g}_w{width:.3g}_r{resolution}", **kwargs,
    )


def efficientnet_from_phi(
    phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA, base_resolution: int = 224, **kwargs
) -> keras.Model:
    """Any compound-scaled EfficientNet, fractional phi included."""
    s = compound_coefficients(phi, alpha, beta, gamma, base_resolution)
    return scaled_efficientnet(s.depth, s.width, s.resolution, name=f"efficientnet_phi{phi:g}", **kwargs)


def MobileNetV2(width: float = 1.0, depth: float = 1.0, resolution: int = 224, **kwargs) -> keras.Model:
    """MobileNetV2 from block strings; ``width``/``depth``/``resolution`` scale it (paper Table 3).

    Without our preprocessing layer it has keras.applications.MobileNetV2's parameter count at
    width 1.0. Its head keeps 1280 filters only for width >= 1 (keras shrinks nothing below 1280).
    """
    kwargs.setdefault("input_shape", (resolution, resolution, 3))
    kwargs.setdefault("dropout_rate", 0.0)
    kwargs.setdefault("drop_connect_rate", 0.0)
    kwargs.setdefault("activation", "relu6")
    kwargs.setdefault("name", f"mobilenetv2_d{depth:.3g}_w{width:.3g}_r{resolution}")
    return EfficientNet(width, depth, resolution, blocks_args=MOBILENETV2_BLOCKS_ARGS, **kwargs)


def compound_mobilenetv2(phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA, **kwargs):
    s = compound_coefficients(phi, alpha, beta, gamma)
    return MobileNetV2(s.width, s.depth, s.resolution, **kwargs)


def nas_objective(accuracy: float, flops: float, target: float = 400e6, w: float = -0.07) -> float:
    """ACC(m) * (FLOPS(m) / T)**w, the reward of the search that found B0 (paper section 4): with w < 0
    a model twice the target's FLOPs must be 2**0.07 - 1 = 5% more accurate to score the same."""
    if flops <= 0 or target <= 0:
        raise ValueError(f"flops and target must be > 0, got {flops}, {target}")
    return accuracy * (flops / target) ** w


def macs_of(depth: float, width: float, resolution: int, **kwargs) -> int:
    return profile(scaled_efficientnet(depth, width, resolution, **kwargs)).macs


def grid_candidates(
    grid: Optional[Sequence[Sequence[float]]] = None, target: float = 2.0, tolerance: float = 0.1
) -> List[Tuple[float, float, float, float]]:
    """(alpha, beta, gamma, alpha*beta**2*gamma**2) with |product - target| <= tolerance, all >= 1."""
    alphas, betas, gammas = grid or (
        [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6],
        [1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3],
        [1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3],
    )
    out = []
    for a, b, g in itertools.product(alphas, betas, gammas):
        if min(a, b, g) < 1.0:
            raise ValueError(f"grid values must be >= 1, got alpha={a}, beta={b}, gamma={g}")
        product = a * b * b * g * g
        if abs(product - target) <= tolerance:
            out.append((a, b, g, product))
    if not out:
        raise ValueError(f"no (alpha, beta, gamma) in the grid has alpha*beta^2*gamma^2 within {tolerance} of {target}")
    return out


def grid_search(
    evaluate: Callable[[float, float, int], float],
    grid: Optional[Sequence[Sequence[float]]] = None,
    target: float = 2.0,
    tolerance: float = 0.1,
    base_resolution: int = 224,
    budget: Optional[int] = None,
    num_classes: int = 1000,
    log: Callable[[str], None] = print,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    rank: str = "accuracy",
) -> List[dict]:
    """The paper's STEP 1: evaluate every (alpha, beta, gamma) near the FLOPs target at phi = 1.

    ``evaluate(depth, width, resolution)`` trains and returns accuracy. ``budget`` keeps the
    candidates whose product is closest to the target. Each row also carries the measured
    multiply-adds over the unscaled base, which should be close to the product, and
    ``nas_objective(accuracy, macs)``; rows come ranked by ``rank`` ("accuracy" or "nas", a key of
    ``RANKINGS``), best first. ``resolution_multiple`` rounds gamma * base; at a tiny base (32 px)
    multiples of 8 would merge gammas 1.0-1.1, so small searches round to fewer pixels.
    """
    if rank not in RANKINGS:
        raise ValueError(f"rank must be one of {tuple(RANKINGS)}, got {rank!r}")
    candidates = sorted(grid_candidates(grid, target, tolerance), key=lambda c: abs(c[3] - target))
    candidates = candidates[:budget] if budget else candidates
    base = macs_of(1.0, 1.0, base_resolution, classes=num_classes)
    rows = []
    for i, (a, b, g, product) in enumerate(candidates, 1):
        resolution = round_resolution(base_resolution * g, resolution_multiple)
        macs = macs_of(a, b, resolution, classes=num_classes)
        log(f"[{i}/{len(candidates)}] alpha={a} beta={b} gamma={g} -> depth {a}, width {b}, {resolution} px")
        accuracy = float(evaluate(a, b, resolution))
        rows.append({
            "alpha": a, "beta": b, "gamma": g, "product": round(product, 4), "resolution": resolution,
            "macs": macs, "mac_ratio": round(macs / base, 4), "accuracy": accuracy,
            "nas_objective": nas_objective(accuracy, macs),
        })
        log(f"    accuracy {accuracy:.4f}, {macs / 1e6:.1f} M MACs ({macs / base:.3f}x base), "
            f"NAS objective {rows[-1]['nas_objective']:.4f}")
    rows.sort(key=lambda r: (-r[RANKINGS[rank]], r["macs"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    return rows


def write_table(rows: Iterable[dict], path) -> None:
    import csv

    rows = list(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["rank"] + [k for k in rows[0] if k != "rank"])
        writer.writeheader()
        writer.writerows(rows)
