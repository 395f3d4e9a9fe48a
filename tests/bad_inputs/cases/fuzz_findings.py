"""Fuzzer findings (fuzz/, scripts/fuzz.sh) that the command line reaches: each
input a fuzz target once crashed on, given to the CLI the way a user would.
The raw reproducers are also kept as seeds in fuzz/corpus/<target>/."""
import json

from corpus import Case

SCHEMA_ONE_COLUMN = json.dumps({"format": "recblocks.schema", "version": 1, "columns": [
    {"name": "x", "dtype": "float32", "tags": ["continuous"]}]})


def npy(header: str, data: bytes = b"") -> bytes:
    """A version 1.0 .npy file with this header dict and data."""
    text = header + " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode() + data


CASES = [
    # fuzz_npy (seed wrapping_shape.npy): the byte size 16 * 2^58 * 4 wrapped
    # around to 0 bytes, the size check passed and the reader ran off the end
    # of the file (a segfault).
    Case("npy_shape_bytes_wrap_to_zero",
         ["evaluate", "--model", "{model}", "--data", "{dir}/d"],
         words=["x.npy", "(16, 288230376151711744)", "too large", "overflows"],
         files={"d/schema.json": SCHEMA_ONE_COLUMN,
                "d/x.npy": npy("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (16, 288230376151711744), }")}),
    Case("npy_shape_elements_overflow",
         ["evaluate", "--model", "{model}", "--data", "{dir}/d"],
         words=["x.npy", "too large", "overflows"],
         files={"d/schema.json": SCHEMA_ONE_COLUMN,
                "d/x.npy": npy("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (36028797018963968, 36028797018963968), }")}),
    # fuzz_schema_json (seed crash-number-overflow-1e400.json): nlohmann's
    # parser throws a number beyond double's range as out_of_range, which
    # escaped Schema::load as "internal error: number overflow" naming no file.
    Case("schema_number_overflow",
         ["data", "synthetic", "--schema", "{dir}/schema.json", "--out", "{dir}/out"],
         words=["schema.json", "not valid JSON", "1e400"],
         files={"schema.json": '{"format": "recblocks.schema", "version": 1, "columns": ['
                               '{"name": "x", "dtype": "float32", "tags": ["continuous"], '
                               '"properties": {"scale": 1e400}}]}'}),
    # The same through a CSV schema file (fuzz_csv seed crash-number-overflow-1e400).
    Case("csv_schema_number_overflow",
         ["data", "csv", "--input", "{dir}/e.csv", "--schema", "{dir}/e.json", "--out", "{dir}/out"],
         words=["e.json", "not valid JSON", "1e400"],
         files={"e.csv": "x\n1\n",
                "e.json": '{"columns": [{"name": "x", "tags": ["continuous"], "fill": 1e400}]}'}),
]
