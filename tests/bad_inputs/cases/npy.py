"""Column files (.npy) of a dataset directory: truncated, malformed, of a
huge or wrong shape, a wrong dtype, Fortran order. Each case is a copy of
{good}/valid with one column file replaced, read by `evaluate`."""
import numpy as np

from corpus import Case
from fixture_edits import copy_of, edit_array, npy, npy_header, replace

ROWS = 600  # rows of {good}/valid


def column_case(name, content, words, column="I3.npy", **kwargs):
    """`evaluate` on a copy of {good}/valid whose `column` is `content`."""
    return Case(name, ["evaluate", "--model", "{model}", "--data", "{dir}/d", "--no-progress"],
                words=[column] + words,
                files={"d": copy_of("good", "valid", replace(column, content))}, **kwargs)


def stream_case(name, content, words, column="I3.npy"):
    """`evaluate --stream` (npy_source, chunk by chunk) on the same broken copy."""
    return Case(name, ["evaluate", "--model", "{model}", "--data", "{dir}/d", "--stream",
                       "--no-progress"],
                words=[column] + words,
                files={"d": copy_of("good", "valid", replace(column, content))})


def array_case(name, change, words, column="I3.npy"):
    return Case(name, ["evaluate", "--model", "{model}", "--data", "{dir}/d", "--no-progress"],
                words=[column] + words, files={"d": copy_of("good", "valid", edit_array(column, change))})


F4 = np.arange(ROWS, dtype="<f4").tobytes()

CASES = [
    column_case("npy_empty_file", b"", ["not a .npy file", "magic string"]),
    column_case("npy_text_file", b"0.5\n1.5\n2.5\n", ["not a .npy file", "magic string"]),
    column_case("npy_version_9", b"\x93NUMPY\x09\x00" + b"\x00" * 120,
                ["unsupported .npy version 9.0", "expected 1.0, 2.0 or 3.0"]),
    column_case("npy_version_1_1", b"\x93NUMPY\x01\x01" + b"\x00" * 120,
                ["unsupported .npy version 1.1"]),
    column_case("npy_no_header_length", b"\x93NUMPY\x01\x00\x10", ["truncated", "header length"]),
    column_case("npy_header_longer_than_file", npy(npy_header(), b"", header_length=60000),
                ["truncated", "the header alone needs 60010"]),
    column_case("npy_v2_header_length_4g", npy(npy_header(), b"", major=2,
                                                header_length=0xFFFFFFFF),
                ["truncated", "the header alone needs 4294967307"]),
    column_case("npy_header_not_a_dict", npy("['descr', '<f4']", F4),
                ["bad .npy header at character 0", "expected '{'"]),
    column_case("npy_header_missing_shape", npy("{'descr': '<f4', 'fortran_order': False, }", F4),
                ["bad .npy header", "needs the keys 'descr', 'fortran_order' and 'shape'"]),
    column_case("npy_header_unknown_key",
                npy("{'descr': '<f4', 'fortran_order': False, 'shape': (600,), 'x': 1, }", F4),
                ["bad .npy header", "unknown key 'x'", "expected 'descr', 'fortran_order', 'shape'"]),
    column_case("npy_header_binary_bytes",
                npy("{'descr': '<f4', 'fortran_order': \x01\xff\x80\x1b[31m }", F4),
                ["bad .npy header", "expected True or False", "\\x01\\xFF\\x80\\x1B"]),
    column_case("npy_header_60k_of_junk", npy("{'descr': '<f4', 'fortran_order': " + "z" * 60000, F4),
                ["bad .npy header", "expected True or False", "bytes)"]),
    column_case("npy_header_unterminated_string", npy("{'descr': '<f4", F4),
                ["bad .npy header", "unterminated string"]),
    column_case("npy_descr_not_a_string",
                npy("{'descr': 5, 'fortran_order': False, 'shape': (600,), }", F4),
                ["bad .npy header", "expected a quoted string"]),
    column_case("npy_shape_a_list", npy(npy_header(shape="[600]"), F4),
                ["bad .npy header", "expected '('"]),
    column_case("npy_negative_dimension", npy(npy_header(shape="(-600,)"), F4),
                ["bad .npy header", "expected a non-negative integer"]),
    column_case("npy_dimension_of_30_digits", npy(npy_header(shape="(" + "9" * 30 + ",)"), F4),
                ["bad .npy header", "dimension too large"]),
    column_case("npy_fortran_order", npy(npy_header(shape="(600,)", order="True"), F4),
                ["Fortran-order arrays are not supported", "np.ascontiguousarray"]),
    column_case("npy_dtype_float16", npy(npy_header(descr="<f2"), F4[:1200]),
                ["unsupported dtype '<f2'", "'<f4', '<i4', '<i8' and '<f8'"]),
    column_case("npy_dtype_big_endian", npy(npy_header(descr=">f4"), F4),
                ["unsupported dtype '>f4'"]),
    column_case("npy_dtype_object", npy(npy_header(descr="|O"), b"\x00" * 4800),
                ["unsupported dtype '|O'"]),
    column_case("npy_dtype_binary_descr", npy(npy_header(descr="<\x7f\x02"), F4),
                ["unsupported dtype '<\\x7F\\x02'"]),
    # The byte size of (16, 2^58) float32 is 2^64: it wrapped to 0, matched
    # the empty data section, and the reader segfaulted.
    column_case("npy_shape_bytes_wrap_to_zero", npy(npy_header(shape="(16, 288230376151711744)")),
                ["shape (16, 288230376151711744)", "'<f4'", "too large", "overflows 64 bits"]),
    column_case("npy_shape_numel_overflows",
                npy(npy_header(shape="(36028797018963968, 36028797018963968)"), F4),
                ["shape (36028797018963968, 36028797018963968)", "too large"]),
    column_case("npy_shape_empty_with_huge_rest",
                npy(npy_header(shape="(0, 36028797018963968, 36028797018963968)")),
                ["shape (0, 36028797018963968, 36028797018963968)", "too large"]),
    column_case("npy_shape_huge_but_representable",
                npy(npy_header(shape="(1000000000, 1000000000)"), F4),
                ["truncated .npy file", "shape [1000000000, 1000000000]",
                 "needs 4000000000000000000 data bytes", "the file has 2400"]),
    column_case("npy_rank_5", npy(npy_header(shape="(600, 1, 1, 1, 1)"), F4),
                ["rank 5", "(600, 1, 1, 1, 1)", "maximum rank 4"]),
    column_case("npy_truncated_data", npy(npy_header(), F4[:100]),
                ["truncated .npy file", "shape [600]", "needs 2400 data bytes", "the file has 100"]),
    column_case("npy_trailing_bytes", npy(npy_header(), F4 + b"xyz"),
                ["corrupt .npy file", "needs 2400 data bytes", "the file has 2403"]),
    column_case("npy_a_directory", lambda path: path.mkdir(), ["I3.npy"]),
    column_case("npy_missing_file", None, ["missing file for column 'I3'", "schema.json"]),
    array_case("npy_wrong_row_count", lambda a: a[:10],
               ["column 'I3'", "has 10 rows, expected 600"]),
    array_case("npy_int_column_for_float_schema", lambda a: a.astype("<i4"),
               ["column 'I3'", "has dtype int32", "expects float32"]),
    array_case("npy_float_column_for_int_schema", lambda a: a.astype("<f4"),
               ["column 'C1'", "has dtype float32", "expects int32"], column="C1.npy"),
    array_case("npy_int64_ids_for_int32_schema", lambda a: a.astype("<i8"),
               ["column 'C1'", "has dtype int64", "expects int32"], column="C1.npy"),
    array_case("npy_two_dimensional_scalar_column", lambda a: np.stack([a, a], axis=1),
               ["column 'I3'", "[600, 2]", "expected [rows]"]),
    # Streamed (--stream): the source checks each file's header and size when
    # it opens the directory, and a list column's offsets chunk by chunk.
    stream_case("npy_truncated_data_streamed", npy(npy_header(), F4[:100]),
                ["truncated .npy file", "shape [600]", "needs 2400 data bytes"]),
    stream_case("npy_text_file_streamed", b"0.5\n1.5\n", ["not a .npy file"]),
    stream_case("npy_missing_column_streamed", None, ["missing file for column 'I3'"]),
    Case("npy_wrong_dtype_streamed",
         ["evaluate", "--model", "{model}", "--data", "{dir}/d", "--stream", "--no-progress"],
         words=["C1.npy", "has dtype float32", "expects int32"],
         files={"d": copy_of("good", "valid", edit_array("C1.npy", lambda a: a.astype("<f4")))}),
]
