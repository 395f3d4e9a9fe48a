"""weights.safetensors of a model directory: bad header lengths, headers
that are not JSON objects, bad dtypes, shapes and offsets, tensors that
do not match the architecture, NaN and infinite weights. Each case is a
copy of {model} with its weights replaced, loaded by `evaluate`."""
import numpy as np

from corpus import Case
from fixture_edits import copy_of, edit_weights, replace, safetensors

KERNEL = "1/dense_0/kernel"  # the top MLP's kernel in {model}


def weights_case(name, edit, words, command="evaluate"):
    argv = (["evaluate", "--model", "{dir}/m", "--data", "{good}/valid", "--no-progress"]
            if command == "evaluate" else
            ["predict", "--model", "{dir}/m", "--data", "{good}/valid", "--out", "{dir}/p"])
    return Case(name, argv, words=["weights.safetensors"] + words,
                files={"m": copy_of("model", "", edit)})


def raw(content):
    return replace("weights.safetensors", content)


def tensor_entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def set_tensor(name, value):
    def change(tensors):
        tensors[name] = value
    return edit_weights(change)


def poison(value, index=3):
    def change(tensors):
        t = tensors[KERNEL].copy()
        t.flat[index] = value
        tensors[KERNEL] = t
    return edit_weights(change)


CASES = [
    weights_case("st_empty_file", raw(b""), ["not a safetensors file", "0 bytes",
                                             "shorter than the 8-byte header length"]),
    weights_case("st_header_length_huge", raw(safetensors("{}", length=1 << 62)),
                 ["the header length is 4611686018427387904 bytes", "more than the 100000000"]),
    weights_case("st_header_longer_than_file", raw(safetensors("{}", length=5000)),
                 ["truncated safetensors file", "the header alone needs 8 + 5000"]),
    weights_case("st_header_not_json", raw(safetensors("{\"w\": {dtype: F32}}")),
                 ["the safetensors header is not valid JSON"]),
    weights_case("st_header_binary", raw(safetensors(b"\x00\xff\x1b[31m\x07")),
                 ["the safetensors header is not valid JSON"]),
    weights_case("st_header_an_array", raw(safetensors("[1, 2]")),
                 ["the safetensors header is array, expected a JSON object"]),
    weights_case("st_header_1e400", raw(safetensors('{"__metadata__": {}, "w": 1e400}')),
                 ["not valid JSON", "1e400"]),
    weights_case("st_duplicate_tensor_name",
                 raw(safetensors('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                 '"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
                                 b"\x00" * 8)),
                 ["the key 'w' twice"]),
    weights_case("st_unknown_dtype", raw(safetensors({"w": tensor_entry("F16", (2,), (0, 4))},
                                                     b"\x00" * 4)),
                 ["tensor 'w'", "unsupported dtype 'F16'", "F32, I32, I64 and BF16"]),
    weights_case("st_unknown_field",
                 raw(safetensors({"w": dict(tensor_entry(), offset=0)}, b"\x00" * 8)),
                 ["tensor 'w'", "unknown field 'offset'"]),
    weights_case("st_negative_dimension", raw(safetensors({"w": tensor_entry(shape=(-2,))},
                                                          b"\x00" * 8)),
                 ["tensor 'w'", "shape [-2]", "holds -2, expected a non-negative integer"]),
    weights_case("st_negative_offset", raw(safetensors({"w": tensor_entry(offsets=(-8, 0))},
                                                       b"\x00" * 8)),
                 ["tensor 'w'", "data_offsets[0] holds -8", "expected a non-negative integer"]),
    weights_case("st_offsets_reversed", raw(safetensors({"w": tensor_entry(offsets=(8, 0))},
                                                        b"\x00" * 8)),
                 ["tensor 'w'", "data_offsets [8, 0] end before they begin"]),
    weights_case("st_offsets_beyond_file",
                 raw(safetensors({"w": tensor_entry(shape=(1000,), offsets=(0, 4000))},
                                 b"\x00" * 8)),
                 ["tensor 'w'", "end beyond the data section of 8 bytes"]),
    weights_case("st_offsets_overlap",
                 raw(safetensors({"a": tensor_entry(offsets=(0, 8)),
                                  "b": tensor_entry(offsets=(4, 12))}, b"\x00" * 12)),
                 ["tensor 'b'", "overlap tensor 'a'"]),
    weights_case("st_offsets_gap",
                 raw(safetensors({"a": tensor_entry(offsets=(0, 8)),
                                  "b": tensor_entry(offsets=(12, 20))}, b"\x00" * 20)),
                 ["bytes [8, 12) of the data section belong to no tensor"]),
    weights_case("st_shape_does_not_match_offsets",
                 raw(safetensors({"w": tensor_entry(shape=(3,), offsets=(0, 8))}, b"\x00" * 8)),
                 ["tensor 'w'", "shape [3] of F32 needs 12 bytes", "hold 8"]),
    weights_case("st_shape_bytes_overflow",
                 raw(safetensors({"w": tensor_entry(shape=(1 << 40, 1 << 40), offsets=(0, 0))})),
                 ["tensor 'w'", "shape [1099511627776,1099511627776]", "too large"]),
    weights_case("st_empty_tensor_with_huge_rest",
                 raw(safetensors({"w": tensor_entry("BF16", (0, 1 << 61), (0, 0))})),
                 ["tensor 'w'", "too large"]),
    weights_case("st_metadata_not_strings",
                 raw(safetensors({"__metadata__": {"format": 1}})),
                 ["__metadata__", "the value of 'format' is 1, expected a string"]),
    weights_case("st_missing_file", raw(None),
                 ["cannot open the safetensors file", "No such file or directory"]),
    weights_case("st_missing_tensor", edit_weights(lambda t: t.pop(KERNEL)),
                 [f"tensor '{KERNEL}' [359, 16] is missing", "model.json"]),
    weights_case("st_extra_tensor", set_tensor("stray/kernel", np.zeros((2, 2), np.float32)),
                 ["tensor 'stray/kernel' [2, 2] is not a parameter", "model.json"]),
    weights_case("st_wrong_shape", set_tensor(KERNEL, np.zeros((3, 5), np.float32)),
                 [f"tensor '{KERNEL}' is float32 [3, 5]", "model.json", "expected float32 [359, 16]"]),
    weights_case("st_wrong_dtype", set_tensor("1/dense_0/bias", np.zeros(16, np.int32)),
                 ["tensor '1/dense_0/bias' is int32 [16]", "expected float32 [16]"]),
    weights_case("st_nan_weight", poison(np.nan),
                 [f"tensor '{KERNEL}'", "holds the value nan at flat index 3", "finite"]),
    weights_case("st_inf_weight", poison(np.inf, 0),
                 [f"tensor '{KERNEL}'", "holds the value inf at flat index 0", "finite"]),
    weights_case("st_nan_weight_at_predict", poison(-np.inf, 7),
                 [f"tensor '{KERNEL}'", "-inf at flat index 7"], command="predict"),
]
