"""Merlin interop of schema files, against the real merlin-core 23.08 (and
Merlin Models' BinaryClassificationTask) of bench/merlin/.venv:

  1. merlin-core writes a schema.pbtxt and a schema.json for columns as
     NVTabular leaves them (Categorify's properties, ragged and fixed lists,
     the single target tags); `recblocks schema convert` reads both, and
     what it makes of them is checked column by column;
  2. recblocks writes them back (--format merlin-pbtxt, merlin-json), and
     merlin-core reads what recblocks wrote: same columns, tags, dtypes,
     domains, list shapes, embedding sizes and properties; Merlin Models'
     BinaryClassificationTask finds its target.

    python3 tests/schema/merlin_interop.py --cli build/recblocks \\
        --merlin-python bench/merlin/.venv/bin/python3

Without that Python (bench/merlin/setup.sh makes it) it prints why and
exits with $RECBLOCKS_SKIP_STATUS (ctest's skip status) or 0. It runs itself
under merlin-core's Python for the Merlin side (--merlin-side)."""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile


def driver(args):
    python = pathlib.Path(args.merlin_python)
    if not python.is_file():
        print(f"skipped: no merlin-core Python at {python} (bash bench/merlin/setup.sh makes it)")
        return int(os.environ.get("RECBLOCKS_SKIP_STATUS", "0"))
    with tempfile.TemporaryDirectory(prefix="rb_merlin_interop_") as work:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        run = subprocess.run([str(python), __file__, "--merlin-side", "--cli", args.cli,
                              "--work", work], env=env, timeout=600)
        return run.returncode


# ---- the Merlin side (merlin-core's Python) ----------------------------------------

def merlin_side(args):
    import warnings
    warnings.filterwarnings("ignore")
    import numpy as np
    from merlin.schema import ColumnSchema, Schema, Tags
    from merlin.schema.io.tensorflow_metadata import TensorflowMetadata

    work = pathlib.Path(args.work)
    failures = []
    checks = 0

    def check(ok, what):
        nonlocal checks
        checks += 1
        if not ok:
            failures.append(what)
            print("FAIL:", what)

    def recblocks(*argv):
        out = subprocess.run([args.cli, "schema", "convert", *argv], capture_output=True,
                             text=True, timeout=120)
        check(out.returncode == 0, f"recblocks schema convert {' '.join(argv)}: {out.stderr}")
        return out.stdout

    def categorify(name, cardinality, dim, tags, dtype=np.int64, dims=(None,)):
        # What NVTabular 23.08's Categorify puts on its output columns.
        properties = {"num_buckets": None, "freq_threshold": 0, "max_size": 0,
                      "cat_path": f".//categories/unique.{name}.parquet",
                      "domain": {"min": 0, "max": cardinality - 1, "name": name},
                      "embedding_sizes": {"cardinality": cardinality, "dimension": dim}}
        return ColumnSchema(name, tags=tags, properties=properties, dtype=dtype, dims=dims)

    original = Schema([
        categorify("userId", 6041, 210, [Tags.USER_ID, Tags.CATEGORICAL]),
        categorify("movieId", 3707, 160, [Tags.ITEM_ID, Tags.CATEGORICAL], dtype=np.int32),
        categorify("genres", 19, 16, [Tags.ITEM, Tags.CATEGORICAL], dims=(None, None)),
        categorify("C1_hist", 501, 16, [Tags.ITEM, Tags.CATEGORICAL, Tags.SEQUENCE],
                   dims=(None, (1, 20))),
        ColumnSchema("dense_vec", tags=[Tags.CONTINUOUS], dtype=np.float32, dims=(None, 4)),
        ColumnSchema("TE_movieId_rating", tags=[Tags.CONTINUOUS, Tags.ITEM], dtype=np.float64,
                     dims=(None,)),
        ColumnSchema("click", tags=[Tags.BINARY_CLASSIFICATION, Tags.TARGET], dtype=np.int8,
                     dims=(None,)),
        ColumnSchema("rating", tags=[Tags.REGRESSION, Tags.TARGET], dtype=np.float32,
                     dims=(None,)),
        ColumnSchema("genre", tags=[Tags.MULTI_CLASS_CLASSIFICATION, Tags.TARGET],
                     dtype=np.int64, dims=(None,), properties={"domain": {"min": 0, "max": 17}}),
    ])
    merlin_dir = work / "merlin"
    merlin_dir.mkdir()
    metadata = TensorflowMetadata.from_merlin_schema(original)
    metadata.to_proto_text_file(str(merlin_dir))  # schema.pbtxt
    metadata.to_json_file(str(merlin_dir))  # schema.json

    # 1. recblocks reads what merlin-core wrote.
    recblocks("--input", str(merlin_dir / "schema.pbtxt"), "--out", str(work / "from_pbtxt.json"))
    recblocks("--input", str(merlin_dir / "schema.json"), "--out", str(work / "from_json.json"))
    from_pbtxt = json.loads((work / "from_pbtxt.json").read_text())
    from_json = json.loads((work / "from_json.json").read_text())
    check(from_pbtxt == from_json, "the pbtxt and the JSON of one schema read differently")
    columns = {c["name"]: c for c in from_pbtxt["columns"]}
    check(list(columns) == original.column_names, f"column names: {list(columns)}")
    expected_dtype = {"userId": "int64", "movieId": "int32", "genres": "int64",
                      "C1_hist": "int64", "dense_vec": "float32", "TE_movieId_rating": "float32",
                      "click": "int32", "rating": "float32", "genre": "int64"}
    expected_tags = {"userId": ["categorical", "id", "user"],
                     "movieId": ["categorical", "id", "item"],
                     "genres": ["categorical", "list", "item"],
                     "C1_hist": ["categorical", "list", "sequence", "item"],
                     "dense_vec": ["continuous", "list"],
                     "TE_movieId_rating": ["continuous", "item"],
                     "click": ["target", "classification", "binary"],
                     "rating": ["target", "regression"],
                     "genre": ["target", "classification", "multi_class"]}
    for name, c in columns.items():
        check(c["dtype"] == expected_dtype[name], f"{name}: dtype {c['dtype']}")
        check(c["tags"] == expected_tags[name], f"{name}: tags {c['tags']}")
        check("_dims" not in c["properties"] and "is_list" not in c["properties"],
              f"{name}: Merlin's shape keys left in the properties: {c['properties']}")
    for name, cardinality, dim in [("userId", 6041, 210), ("movieId", 3707, 160),
                                   ("genres", 19, 16), ("C1_hist", 501, 16)]:
        c = columns[name]
        check(c["domain"] == {"min": 0, "max": cardinality - 1, "name": name},
              f"{name}: domain {c.get('domain')}")
        check(c.get("embedding_dim") == dim, f"{name}: embedding_dim {c.get('embedding_dim')}")
        check(c["properties"] == {"cat_path": f".//categories/unique.{name}.parquet",
                                  "freq_threshold": 0, "max_size": 0, "num_buckets": None},
              f"{name}: properties {c['properties']}")
    check(columns["genres"]["is_list"] and columns["genres"]["is_ragged"], "genres: not ragged")
    check(columns["C1_hist"]["value_count"] == {"min": 1, "max": 20},
          f"C1_hist: value_count {columns['C1_hist'].get('value_count')}")
    check(columns["dense_vec"]["is_list"] and not columns["dense_vec"]["is_ragged"]
          and columns["dense_vec"]["value_count"] == {"min": 4, "max": 4},
          f"dense_vec: {columns['dense_vec']}")
    check(not columns["click"]["is_list"], "click: a list")
    check(columns["genre"]["domain"] == {"min": 0, "max": 17, "name": "genre"},
          f"genre: domain {columns['genre'].get('domain')}")

    # 2. merlin-core reads what recblocks wrote.
    recblocks("--input", str(work / "from_pbtxt.json"), "--out", str(work / "rb" / "schema.pbtxt"))
    recblocks("--input", str(work / "from_pbtxt.json"), "--out", str(work / "rb" / "schema.json"),
              "--format", "merlin-json")
    read_pbtxt = TensorflowMetadata.from_proto_text_file(str(work / "rb")).to_merlin_schema()
    read_json = TensorflowMetadata.from_json_file(str(work / "rb")).to_merlin_schema()
    # recblocks computes in 32 bits: int8 reads as int32, float64 as float32.
    merlin_dtype = {"click": "int32", "TE_movieId_rating": "float32"}
    for read, form in [(read_pbtxt, "pbtxt"), (read_json, "json")]:
        check(read.column_names == original.column_names, f"{form}: names {read.column_names}")
        for name in original.column_names:
            want, got = original[name], read[name]
            where = f"{form} {name}"
            check(set(got.tags) == set(want.tags), f"{where}: tags {got.tags} != {want.tags}")
            check(got.dtype.name == merlin_dtype.get(name, want.dtype.name),
                  f"{where}: dtype {got.dtype.name}")
            check(got.is_list == want.is_list and got.is_ragged == want.is_ragged,
                  f"{where}: list {got.is_list}/{got.is_ragged}, expected "
                  f"{want.is_list}/{want.is_ragged}")
            check(got.shape == want.shape, f"{where}: shape {got.shape} != {want.shape}")
            for key, value in want.properties.items():
                if key == "domain":
                    domain = dict(value, name=value.get("name", name))
                    check(got.properties.get("domain") == domain,
                          f"{where}: domain {got.properties.get('domain')} != {domain}")
                elif key != "value_count":
                    check(got.properties.get(key) == value,
                          f"{where}: property {key} = {got.properties.get(key)!r}, expected "
                          f"{value!r}")
        check(read.select_by_tag(Tags.BINARY_CLASSIFICATION).column_names == ["click"],
              f"{form}: select_by_tag(BINARY_CLASSIFICATION) gives "
              f"{read.select_by_tag(Tags.BINARY_CLASSIFICATION).column_names}")
        check(read.select_by_tag(Tags.MULTI_CLASS_CLASSIFICATION).column_names == ["genre"],
              f"{form}: MULTI_CLASS_CLASSIFICATION")
        check(read.select_by_tag(Tags.REGRESSION).column_names == ["rating"], f"{form}: REGRESSION")
    try:
        import merlin.models.tf as mm
    except ImportError as e:  # Merlin Models is optional for this test
        print("note: merlin.models.tf is not importable, the task check is left out:", e)
    else:
        task = mm.BinaryClassificationTask(read_pbtxt.select_by_tag(Tags.TARGET))
        check(task.target_name == "click", f"BinaryClassificationTask target {task.target_name}")

    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cli", required=True, help="the recblocks executable")
    parser.add_argument("--merlin-python", default="bench/merlin/.venv/bin/python3")
    parser.add_argument("--merlin-side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.exit(merlin_side(args) if args.merlin_side else driver(args))


if __name__ == "__main__":
    main()
