import dataclasses

import pytest

from efficientnet_tf import DEFAULT_BLOCKS_ARGS, BlockArgs, decode, encode
from efficientnet_tf.models import v2_family
from efficientnet_tf.models.block_args import as_block_args

V2_STRINGS = sorted({s for table in v2_family.V2_TABLE.values() for s in table[0]})


@pytest.mark.parametrize("string", DEFAULT_BLOCKS_ARGS + tuple(V2_STRINGS))
def test_default_strings_round_trip(string):
    assert encode(decode(string)) == string


def test_v2_strings_as_google_automl_writes_them():
    # effnetv2_configs.py's v2_s_block: one-digit strides, c1 for a fused stage, no c token for MBConv.
    fused = decode("r2_k3_s1_e1_i24_o24_c1")
    assert fused == BlockArgs(2, 3, 1, 1, 24, 24, None, True, conv_type=1)
    assert (fused.fused, fused.stride) == (True, 1)
    mb = decode("r15_k3_s2_e6_i160_o256_se0.25")
    assert (mb.fused, mb.stride, mb.strides, mb.conv_type, mb.se_ratio) == (False, 2, 2, None, 0.25)
    assert decode("r1_k3_s2_e4_i8_o8_c0").fused is False
    assert encode(decode("r1_k3_s2_e4_i8_o8_c0")) == "r1_k3_s2_e4_i8_o8_c0"
    assert decode("r2_k3_s22_e6_i16_o24").stride == 2


def test_decode_values():
    b = decode("r2_k5_s22_e6_i24_o40_se0.25")
    assert b == BlockArgs(2, 5, (2, 2), 6, 24, 40, 0.25, True)
    assert decode("r1_k3_s11_e1_i32_o16_noskip").id_skip is False
    assert decode("r1_k3_s11_e1_i32_o16").se_ratio is None
    assert decode("o16_i32_e1_s11_k3_r1") == decode("r1_k3_s11_e1_i32_o16")  # any order


@pytest.mark.parametrize("args", [
    BlockArgs(3, 7, (1, 1), 4, 8, 9, None, False),
    BlockArgs(1, 1, (2, 2), 2.5, 1, 1, 0.5, True),
    BlockArgs(1, 3, (1, 2), 1, 5, 5, 1.0, True),
    BlockArgs(4, 3, 2, 4, 24, 48, None, True, conv_type=1),
    BlockArgs(1, 5, 1, 6, 8, 8, 0.25, False, conv_type=0),
])
def test_encode_decode_inverse(args):
    assert decode(encode(args)) == args


def test_block_args_are_immutable():
    b = decode(DEFAULT_BLOCKS_ARGS[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.num_repeat = 3


@pytest.mark.parametrize("string, needle", [
    ("", "empty"),
    ("r1_k3_s11_e1_i32", "o"),                        # missing output filters
    ("r1_k3_s11_e1_i32_o16_x7", "'x7'"),               # unknown key
    ("r1_k3_s3_e1_i32_o16", "strides"),                # one-digit stride 3
    ("r1_k3_s111_e1_i32_o16", "'s111'"),               # three digits
    ("r1_k3_s33_e1_i32_o16", "strides"),               # stride 3
    ("r1_k3_s1_e1_i32_o16_c2", "'c2'"),                # conv type 2
    ("r1_k3_s1_e1_i32_o16_cx", "'cx'"),                # conv type not a digit
    ("r1_k3_s1_e1_i32_o16_c", "'c'"),                  # conv type missing
    ("r1_k3_s1_e1_i32_o16_c1_c1", "given twice"),      # conv type twice
    ("r0_k3_s11_e1_i32_o16", "num_repeat"),            # no repeats
    ("r1_k4_s11_e1_i32_o16", "kernel_size"),           # even kernel
    ("r1_k3_s11_e1_i32_o16_se1.5", "se_ratio"),        # SE ratio > 1
    ("r1_k3_s11_e1_i32_o16_se0", "se_ratio"),          # SE ratio 0
    ("r1_r2_k3_s11_e1_i32_o16", "given twice"),        # duplicate key
    ("r1_k3_s11_e1_i32__o16", "''"),                   # empty token
    ("r1_k3_s11_eX_i32_o16", "'eX'"),                  # non-numeric
    ("r1_k3_s11_e0.5_i32_o16", "expand_ratio"),        # shrinking expand
    ("r-1_k3_s11_e1_i32_o16", "'r-1'"),                # negative
    ("r1_k3_s11_e1_i0_o16", "filters"),                # zero filters
])
def test_malformed_strings_raise(string, needle):
    with pytest.raises(ValueError) as e:
        decode(string)
    assert needle in str(e.value)
    if string:
        assert string in str(e.value)


def test_as_block_args_mixes_and_rejects_a_bare_string():
    mixed = as_block_args([DEFAULT_BLOCKS_ARGS[0], decode(DEFAULT_BLOCKS_ARGS[1])])
    assert [encode(b) for b in mixed] == list(DEFAULT_BLOCKS_ARGS[:2])
    with pytest.raises(ValueError, match="sequence"):
        as_block_args(DEFAULT_BLOCKS_ARGS[0])
    with pytest.raises(ValueError, match="empty"):
        as_block_args([])
