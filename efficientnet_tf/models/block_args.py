"""Block-argument strings of the reference implementation, decoded to plain immutable data.

Grammar (one string per stage, tokens joined by ``_``, any order, each at most once)::

    r<int>       repeats of the block in the stage (>= 1)                 required
    k<int>       depthwise kernel size (odd, >= 1)                        required
    s<d><d>      strides as two digits, each 1 or 2 (``s11``, ``s22``)    required
    s<d>         or one square stride, 1 or 2 (EfficientNetV2's ``s2``)
    e<number>    expand ratio (>= 1)                                      required
    i<int>       input filters, before width scaling (>= 1)               required
    o<int>       output filters, before width scaling (>= 1)              required
    se<number>   squeeze-excite ratio relative to the input filters, (0, 1]
    c<d>         conv type: 0 MBConv (the default), 1 fused MBConv (EfficientNetV2)
    noskip       no identity skip (and so no stochastic depth)

Examples: ``r1_k3_s11_e1_i32_o16_se0.25`` (V1, tensorflow/tpu), ``r2_k3_s1_e1_i24_o24_c1`` (V2,
google/automl). ``BlockArgs`` keeps the notation it was given (``strides`` an int for ``s2``, a
pair for ``s22``; ``conv_type`` None when no ``c`` token was written), and ``encode`` writes the
tokens in the order above, so ``encode(decode(s)) == s`` for every string in that canonical order
(all reference strings are), and ``decode(encode(b)) == b`` for every ``BlockArgs``. Decoding never
builds a model: the builder only reads the resulting ``BlockArgs``.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Optional, Tuple, Union

DEFAULT_BLOCKS_ARGS: Tuple[str, ...] = (
    "r1_k3_s11_e1_i32_o16_se0.25",
    "r2_k3_s22_e6_i16_o24_se0.25",
    "r2_k5_s22_e6_i24_o40_se0.25",
    "r3_k3_s22_e6_i40_o80_se0.25",
    "r3_k5_s11_e6_i80_o112_se0.25",
    "r4_k5_s22_e6_i112_o192_se0.25",
    "r1_k3_s11_e6_i192_o320_se0.25",
)

_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+)"
_TOKEN = re.compile(
    rf"^(?:(?P<key>r|k|i|o|c)(?P<int>\d+)|s(?P<s>\d\d?)|(?P<fkey>e|se)(?P<num>{_NUMBER})|(?P<noskip>noskip))$"
)
CONV_TYPES = {0: "MBConv", 1: "fused MBConv"}
_REQUIRED = ("r", "k", "s", "e", "i", "o")


@dataclasses.dataclass(frozen=True)
class BlockArgs:
    """One stage of MBConv blocks, before width/depth scaling."""

    num_repeat: int
    kernel_size: int
    strides: Union[int, Tuple[int, int]]
    expand_ratio: Union[int, float]
    input_filters: int
    output_filters: int
    se_ratio: Optional[float] = None
    id_skip: bool = True
    conv_type: Optional[int] = None

    @property
    def stride(self) -> int:
        """The first block's stride; the builders take square strides only."""
        return self.strides if isinstance(self.strides, int) else self.strides[0]

    @property
    def fused(self) -> bool:
        return self.conv_type == 1

    def __post_init__(self):
        def bad(msg):
            raise ValueError(f"invalid BlockArgs {self!r}: {msg}")

        if self.num_repeat < 1:
            bad("num_repeat must be >= 1")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            bad("kernel_size must be odd and >= 1")
        pair = (self.strides,) if isinstance(self.strides, int) else self.strides
        if len(pair) not in (1, 2) or any(s not in (1, 2) for s in pair):
            bad("strides must be 1 or 2, or two values, each 1 or 2")
        if self.expand_ratio < 1:
            bad("expand_ratio must be >= 1")
        if self.input_filters < 1 or self.output_filters < 1:
            bad("filters must be >= 1")
        if self.se_ratio is not None and not 0 < self.se_ratio <= 1:
            bad("se_ratio must be in (0, 1]")
        if self.conv_type is not None and self.conv_type not in CONV_TYPES:
            bad(f"conv_type must be one of {CONV_TYPES}")


def _bad_token(token: str, string: str, why: str):
    return ValueError(f"bad token {token!r} in block string {string!r}: {why}")


def decode(string: str) -> BlockArgs:
    """Parses one block string (see the module docstring for the grammar)."""
    if not isinstance(string, str):
        raise ValueError(f"block string must be a str, got {type(string).__name__}: {string!r}")
    if not string:
        raise ValueError("empty block string")
    fields = {}
    for token in string.split("_"):
        m = _TOKEN.match(token)
        if m is None:
            raise _bad_token(token, string, "expected one of r<int> k<int> s<d><d> s<d> e<num> i<int> o<int> "
                                            "se<num> c<d> noskip")
        key = m.group("key") or m.group("fkey") or ("s" if m.group("s") else "noskip")
        if key in fields:
            raise _bad_token(token, string, f"key {key!r} given twice")
        if key == "c" and int(m.group("int")) not in CONV_TYPES:
            raise _bad_token(token, string, f"conv type must be one of {CONV_TYPES}")
        if key == "s":
            digits = m.group("s")
            fields[key] = int(digits) if len(digits) == 1 else (int(digits[0]), int(digits[1]))
        elif key == "e":
            num = float(m.group("num"))
            fields[key] = int(num) if "." not in m.group("num") else num
        elif key == "se":
            fields[key] = float(m.group("num"))
        elif key == "noskip":
            fields[key] = True
        else:
            fields[key] = int(m.group("int"))
    missing = [k for k in _REQUIRED if k not in fields]
    if missing:
        raise ValueError(f"block string {string!r} lacks required token(s) {', '.join(missing)}")
    try:
        return BlockArgs(
            num_repeat=fields["r"],
            kernel_size=fields["k"],
            strides=fields["s"],
            expand_ratio=fields["e"],
            input_filters=fields["i"],
            output_filters=fields["o"],
            se_ratio=fields.get("se"),
            id_skip=not fields.get("noskip", False),
            conv_type=fields.get("c"),
        )
    except ValueError as e:
        raise ValueError(f"block string {string!r}: {e}") from None


def _num(x: Union[int, float]) -> str:
    return str(x) if isinstance(x, int) else repr(float(x))


def encode(args: BlockArgs) -> str:
    """Writes ``args`` as a canonical block string; the exact inverse of ``decode``."""
    parts = [
        f"r{args.num_repeat}",
        f"k{args.kernel_size}",
        f"s{args.strides}" if isinstance(args.strides, int) else f"s{args.strides[0]}{args.strides[1]}",
        f"e{_num(args.expand_ratio)}",
        f"i{args.input_filters}",
        f"o{args.output_filters}",
    ]
    if args.se_ratio is not None:
        parts.append(f"se{_num(args.se_ratio)}")
    if args.conv_type is not None:
        parts.append(f"c{args.conv_type}")
    if not args.id_skip:
        parts.append("noskip")
    return "_".join(parts)


def as_block_args(blocks: Union[str, Iterable[Union[str, BlockArgs]]]) -> Tuple[BlockArgs, ...]:
    """Accepts strings, ``BlockArgs`` or a mix, and returns ``BlockArgs`` only."""
    if isinstance(blocks, str):
        raise ValueError("blocks_args must be a sequence of block strings, not one string")
    out = tuple(b if isinstance(b, BlockArgs) else decode(b) for b in blocks)
    if not out:
        raise ValueError("blocks_args is empty")
    return out

