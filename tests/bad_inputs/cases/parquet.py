"""Parquet inputs and outputs (recblocks::parquet): files pyarrow writes, then
breaks (empty, truncated, pages overwritten, not Parquet at all), special
files in their place (a FIFO, a device), directories without part files,
part files that disagree, values recblocks refuses (nulls, lossy narrowing,
strings), schema files that do not fit, and outputs that must not replace
anything. Every refusal names the file, and Arrow's own words where Arrow
found the problem. Skipped when the tool was built without Parquet or this
Python has no pyarrow."""
import json
import os
import pathlib
import subprocess

from corpus import Case, fifo
from fixture_edits import copy_of


def SKIP(cli):
    info = subprocess.run([cli, "info"], capture_output=True, text=True).stdout
    if "parquet:  off" in info:
        return "the tool was built without Parquet support (recblocks info: parquet: off)"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return ("this Python has no pyarrow to write the Parquet inputs "
                "(scripts/setup.sh installs it)")
    return None


def table(rows=300, **changes):
    """An NVTabular-like table: int64 ids, a float64, a list column, a target."""
    import pyarrow as pa
    columns = {
        "userId": pa.array([i % 17 for i in range(rows)], pa.int64()),
        "price": pa.array([i * 0.5 for i in range(rows)], pa.float64()),
        "genres": pa.array([[i % 5] * (i % 3) for i in range(rows)], pa.list_(pa.int64())),
        "click": pa.array([i % 2 for i in range(rows)], pa.int64()),
    }
    columns.update(changes)
    return pa.table(columns)


def parquet(rows=300, row_group_size=100, cut=None, garbage=False, **changes):
    """A file content: the table as Parquet, optionally cut short or with its pages overwritten."""
    def make(path: pathlib.Path) -> None:
        import pyarrow.parquet as pq
        pq.write_table(table(rows, **changes), path, row_group_size=row_group_size)
        data = bytearray(path.read_bytes())
        if garbage:
            for i in range(4, len(data) // 2):
                data[i] = (0x5A + i) % 256
        if cut is not None:
            data = data[:cut(len(data))]
        path.write_bytes(bytes(data))
    return make


def symlink_to(target):
    def make(path: pathlib.Path) -> None:
        os.symlink(target, path)
    return make


def directory(path: pathlib.Path) -> None:
    path.mkdir()


MERLIN_SCHEMA = json.dumps({"feature": [
    {"name": "userId", "type": "INT", "intDomain": {"min": 0, "max": 16},
     "annotation": {"tag": ["categorical", "user_id"],
                    "extraMetadata": [{"dtype_item_size": 64.0}]}},
    {"name": "click", "type": "INT",
     "annotation": {"tag": ["target", "binary_classification"]}},
]})
CONVERT = ["data", "convert", "--out", "{dir}/o", "--input"]
STREAM_SCHEMA = json.dumps({"feature": [
    *json.loads(MERLIN_SCHEMA)["feature"],
    {"name": "price", "type": "FLOAT", "annotation": {"tag": ["continuous"]}},
]})
STREAM_TRAIN = ["train", "--stream", "--schema", "{dir}/s.json", "--out", "{dir}/m", "--epochs",
                "1", "--no-progress", "--model", "mlp", "--train"]


def no_model(work: pathlib.Path):
    return "a model was written" if (work / "m").exists() else None
ARROW_SAYS = "(Arrow: "


def untouched(rel, size):
    def check(work: pathlib.Path):
        path = work / rel
        return None if path.is_file() and path.stat().st_size == size else f"{rel} was changed"
    return check


def pyarrow_null_table(path: pathlib.Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(table(price=pa.array([None if i == 250 else 1.0 for i in range(300)],
                                        pa.float64())), path, row_group_size=100)


def mismatched_parts(path: pathlib.Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    path.mkdir()
    pq.write_table(table(), path / "part_0.parquet")
    pq.write_table(table(userId=pa.array(range(300), pa.int32())), path / "part_1.parquet")


def parts_with_fifo(path: pathlib.Path) -> None:
    import pyarrow.parquet as pq
    path.mkdir()
    pq.write_table(table(), path / "part_0.parquet")
    os.mkfifo(path / "part_1.parquet")


def parts_with_pbtxt(path: pathlib.Path) -> None:
    import pyarrow.parquet as pq
    path.mkdir()
    pq.write_table(table(), path / "part_0.parquet")
    pq.write_metadata(table().schema, path / "_metadata")
    (path / "schema.pbtxt").write_text('feature {\n  name: "userId"\n  type: INT\n')


def only_metadata(path: pathlib.Path) -> None:
    import pyarrow.parquet as pq
    path.mkdir()
    pq.write_metadata(table().schema, path / "_metadata")


def strings(path: pathlib.Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(table(name=pa.array([f"u{i}" for i in range(300)])), path)


def float_ids(path: pathlib.Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(table(userId=pa.array([i + (0.5 if i == 123 else 0.0) for i in range(300)],
                                         pa.float64())), path, row_group_size=100)


def huge_float(path: pathlib.Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(table(price=pa.array([1e300 if i == 7 else 1.0 for i in range(300)])), path)


CASES = [
    # Files that are not (whole) Parquet files.
    Case("empty_file", [*CONVERT, "{dir}/e.parquet"], files={"e.parquet": b""},
         words=["e.parquet: not a readable Parquet file", ARROW_SAYS, "0 bytes"]),
    Case("truncated_file", [*CONVERT, "{dir}/t.parquet"],
         files={"t.parquet": parquet(cut=lambda n: n // 2)},
         words=["t.parquet: not a readable Parquet file", ARROW_SAYS, "magic bytes"]),
    Case("footer_cut", [*CONVERT, "{dir}/t.parquet"],
         files={"t.parquet": parquet(cut=lambda n: n - 6)},
         words=["t.parquet: not a readable Parquet file", ARROW_SAYS]),
    Case("pages_overwritten", [*CONVERT, "{dir}/c.parquet"],
         files={"c.parquet": parquet(garbage=True)}, words=["c.parquet: ", ARROW_SAYS]),
    Case("text_named_parquet", [*CONVERT, "{dir}/x.parquet"],
         files={"x.parquet": "userId,click\n1,0\n"},
         words=["x.parquet: not a readable Parquet file", "magic bytes"]),
    Case("missing_file", [*CONVERT, "{dir}/nothing.parquet"],
         words=["nothing.parquet: no such file or directory"]),
    Case("glob_matching_nothing", [*CONVERT, "{dir}/part_*.parquet"],
         words=["part_*.parquet", "no file matches it as a pattern"]),
    # Special files: refused by name before anything opens them.
    Case("fifo", [*CONVERT, "{dir}/p.parquet"], files={"p.parquet": fifo},
         words=["p.parquet", "a FIFO (named pipe)", "expected a regular file"], timeout=10),
    Case("fifo_among_part_files", [*CONVERT, "{dir}/d"], files={"d": parts_with_fifo},
         words=["part_1.parquet", "a FIFO (named pipe)"], timeout=10),
    Case("device", [*CONVERT, "{dir}/z.parquet"], files={"z.parquet": symlink_to("/dev/zero")},
         words=["z.parquet", "a character device"], timeout=10),
    Case("directory_named_parquet", [*CONVERT, "{dir}/d.parquet"],
         files={"d.parquet": directory},
         words=["d.parquet: neither a dataset directory", "no *.parquet files"]),
    # Directories that are no Parquet dataset.
    Case("empty_directory", [*CONVERT, "{dir}/d"], files={"d": directory},
         words=["d: neither a dataset directory", "nor Parquet data"]),
    Case("only_metadata", [*CONVERT, "{dir}/d"], files={"d": only_metadata},
         words=["d: neither a dataset directory", "no *.parquet files"]),
    Case("part_files_disagree", [*CONVERT, "{dir}/d"], files={"d": mismatched_parts},
         words=["part_1.parquet: column 'userId' is int32", "part_0.parquet it is int64",
                "the same column types"]),
    Case("text_schema_cut_short", [*CONVERT, "{dir}/d"], files={"d": parts_with_pbtxt},
         words=["schema.pbtxt"]),
    # Values recblocks does not take.
    Case("null_value", [*CONVERT, "{dir}/n.parquet"], files={"n.parquet": pyarrow_null_table},
         words=["n.parquet: column 'price', row 250: a null value", "no missing values"]),
    Case("string_column", [*CONVERT, "{dir}/s.parquet"], files={"s.parquet": strings},
         words=["s.parquet: column 'name' is string", "recblocks reads numbers"]),
    Case("float_ids_as_int", [*CONVERT, "{dir}/f.parquet", "--schema", "{dir}/schema.json"],
         files={"f.parquet": float_ids, "schema.json": MERLIN_SCHEMA},
         words=["f.parquet: column 'userId', row 123: value 123.5 is not an integer",
                "expected int64", "the file's column is double"]),
    Case("float64_beyond_float32", [*CONVERT, "{dir}/h.parquet"], files={"h.parquet": huge_float},
         words=["h.parquet: column 'price', row 7: value 1e+300 is beyond the range of float32"]),
    Case("schema_column_missing", [*CONVERT, "{dir}/g.parquet", "--schema", "{dir}/s.json"],
         files={"g.parquet": parquet(),
                "s.json": json.dumps({"feature": [{"name": "age", "type": "FLOAT"}]})},
         words=["s.json: column 'age' is not in the Parquet data", "userId, price"]),
    Case("schema_for_a_dataset_directory",
         ["data", "convert", "--input", "{good}/valid", "--schema", "{dir}/s.json", "--out",
          "{dir}/o"], files={"s.json": MERLIN_SCHEMA},
         words=["--schema", "a schema file is for Parquet data"]),
    Case("evaluate_corrupt", ["evaluate", "--model", "{model}", "--data", "{dir}/c.parquet",
                              "--no-progress"],
         files={"c.parquet": parquet(cut=lambda n: n - 100)},
         words=["c.parquet: not a readable Parquet file", ARROW_SAYS]),
    # Outputs: never replacing what the user did not ask to replace.
    Case("convert_out_is_input", ["data", "convert", "--input", "{dir}/d", "--to", "parquet",
                                  "--out", "{dir}/d", "--overwrite"],
         files={"d": copy_of("good", "valid")},
         words=["--out", "is also this command's --input"]),
    Case("convert_out_holds_glob_input",
         ["data", "convert", "--input", "{dir}/d/part_*.parquet", "--out", "{dir}/d",
          "--overwrite"],
         files={"d/part_0.parquet": parquet()},
         words=["--out", "is also this command's --input"],
         check=lambda work: None if (work / "d" / "part_0.parquet").is_file()
         else "the input part file was removed"),
    Case("convert_out_regular_file",
         ["data", "convert", "--input", "{dir}/g.parquet", "--out", "{dir}/notes.txt"],
         files={"g.parquet": parquet(), "notes.txt": "mine\n"},
         words=["--out", "notes.txt", "an existing regular file"],
         check=untouched("notes.txt", 5)),
    Case("convert_out_is_model", ["data", "convert", "--input", "{dir}/g.parquet", "--out",
                                  "{dir}/m", "--to", "parquet"],
         files={"g.parquet": parquet(), "m": copy_of("model")},
         words=["--out", "is a model directory", "--overwrite"]),
    Case("predict_parquet_out_regular_file",
         ["predict", "--model", "{model}", "--data", "{good}/valid", "--format", "parquet",
          "--out", "{dir}/notes.txt"], files={"notes.txt": "mine\n"},
         words=["--out", "notes.txt", "an existing regular file"], check=untouched("notes.txt", 5)),
    Case("predict_bad_format", ["predict", "--model", "{model}", "--data", "{good}/valid",
                                "--format", "csv", "--out", "{dir}/p"],
         exit=105, words=["--format", "csv"]),
    Case("rows_per_file_negative", [*CONVERT, "{good}/valid", "--to", "parquet",
                                    "--rows-per-file", "-1"],
         exit=105, words=["--rows-per-file", "-1", "out of range"]),
    # Streamed: a row group that Arrow cannot decode, or a null in a later
    # row group, fails on the loader's reader thread; the error reaches the
    # command, naming the file, and no model is written.
    Case("pages_overwritten_streamed", [*STREAM_TRAIN, "{dir}/c.parquet"],
         files={"c.parquet": parquet(garbage=True), "s.json": STREAM_SCHEMA},
         words=["c.parquet: ", ARROW_SAYS], check=no_model),
    Case("null_in_a_later_row_group_streamed", [*STREAM_TRAIN, "{dir}/n.parquet"],
         files={"n.parquet": pyarrow_null_table, "s.json": STREAM_SCHEMA},
         words=["n.parquet: column 'price', row 250: a null value"], check=no_model),
]
