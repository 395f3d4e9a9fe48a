"""The recblocks CLI on Parquet that pyarrow writes as NVTabular and pandas do:
a directory of part files with _metadata and Merlin's JSON schema, int64
ids, float64 columns, list columns, several row groups; and the CLI's
Parquet output read back by pyarrow.

    RECBLOCKS_CLI=build/recblocks python3 tests/data/parquet_cli_test.py

Run as a script (ctest's cli.parquet), it exits 77 with the reason when
the CLI was built without Parquet or this Python lacks pytest, numpy or
pyarrow.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

SKIP_STATUS = 77


def _cli() -> str:
    return os.environ.get("RECBLOCKS_CLI", str(pathlib.Path(__file__).resolve().parents[2]
                                               / "build" / "recblocks"))


def _skip_reason() -> str | None:
    for module in ("pytest", "numpy", "pyarrow"):
        try:
            __import__(module)
        except ImportError:
            return f"this Python has no {module} (scripts/setup.sh installs it in .venv)"
    if not os.access(_cli(), os.X_OK):
        return f"no recblocks CLI at {_cli()} (set RECBLOCKS_CLI)"
    info = subprocess.run([_cli(), "info"], capture_output=True, text=True).stdout
    if "parquet:  off" in info:
        return "the CLI was built without Parquet support (recblocks info: parquet: off)"
    return None


if __name__ == "__main__":
    reason = _skip_reason()
    if reason:
        print(f"skipped: {reason}")
        sys.exit(SKIP_STATUS)
    import pytest
    sys.exit(pytest.main([__file__, "-q", "-rs", "-p", "no:cacheprovider"]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

if _skip_reason():
    pytest.skip(_skip_reason(), allow_module_level=True)

ROWS = 1000

# Merlin's proto-JSON schema, as merlin.io writes .merlin/schema.json.
MERLIN_SCHEMA = {"feature": [
    {"name": "userId", "type": "INT", "intDomain": {"min": 0, "max": 60, "name": "userId"},
     "annotation": {"tag": ["categorical", "user_id", "user", "id"],
                    "extraMetadata": [{"dtype_item_size": 64.0, "num_buckets": None}]}},
    {"name": "movieId", "type": "INT", "intDomain": {"min": 0, "max": 90, "name": "movieId"},
     "annotation": {"tag": ["categorical", "item_id", "item", "id"],
                    "extraMetadata": [{"dtype_item_size": 64.0}]}},
    {"name": "genres", "type": "INT", "valueCount": {"min": 0, "max": 4},
     "intDomain": {"min": 0, "max": 20, "name": "genres"},
     "annotation": {"tag": ["categorical", "list", "item"],
                    "extraMetadata": [{"dtype_item_size": 64.0, "is_list": True,
                                       "is_ragged": True}]}},
    {"name": "age", "type": "FLOAT",
     "annotation": {"tag": ["continuous"], "extraMetadata": [{"dtype_item_size": 64.0}]}},
    {"name": "rating_binary", "type": "INT",
     "annotation": {"tag": ["target", "binary_classification"],
                    "extraMetadata": [{"dtype_item_size": 32.0}]}},
]}


def nvt_table(rows: int, seed: int) -> pa.Table:
    """Columns of the types NVTabular writes: int64 ids, a float64, an int64 list, an int target."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 61, rows)
    movies = rng.integers(0, 91, rows)
    lengths = rng.integers(0, 5, rows)  # empty lists included
    genres = [rng.integers(0, 21, n).tolist() for n in lengths]
    age = rng.normal(35.0, 10.0, rows)
    label = ((users + movies) % 3 == 0).astype(np.int32)
    return pa.table({"userId": pa.array(users, pa.int64()),
                     "movieId": pa.array(movies, pa.int64()),
                     "genres": pa.array(genres, pa.list_(pa.int64())),
                     "age": pa.array(age, pa.float64()),
                     "rating_binary": pa.array(label, pa.int32()),
                     "title_len": pa.array(rng.integers(0, 80, rows), pa.int16())})


def write_nvt_dir(path: pathlib.Path, table: pa.Table, parts: int, row_group_size: int,
                  merlin_schema: bool = True) -> None:
    """A directory as NVTabular's to_parquet leaves it: part_N.parquet, _metadata,
    _file_list.txt and Merlin's schema under .merlin/."""
    path.mkdir(parents=True)
    collector = []
    per = -(-table.num_rows // parts)
    for i in range(parts):
        name = f"part_{i}.parquet"
        pq.write_table(table.slice(i * per, per), path / name, row_group_size=row_group_size,
                       metadata_collector=collector)
        collector[-1].set_file_path(name)
    pq.write_metadata(table.schema, path / "_metadata", metadata_collector=collector)
    (path / "_file_list.txt").write_text(f"{parts}\n" + "\n".join(
        f"part_{i}.parquet" for i in range(parts)) + "\n")
    if merlin_schema:
        (path / ".merlin").mkdir()
        (path / ".merlin" / "schema.json").write_text(json.dumps(MERLIN_SCHEMA))


def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([_cli(), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == expect, f"exit {proc.returncode}: {proc.stdout}\n{proc.stderr}"
    return proc


def load(dir: pathlib.Path, column: str) -> np.ndarray:
    return np.load(dir / f"{column}.npy")


@pytest.fixture(scope="module")
def nvt(tmp_path_factory):
    """(root, train table, valid table): root/train and root/valid as NVTabular writes them."""
    root = tmp_path_factory.mktemp("nvt")
    train, valid = nvt_table(ROWS, 1), nvt_table(300, 2)
    write_nvt_dir(root / "train", train, parts=12, row_group_size=40)
    write_nvt_dir(root / "valid", valid, parts=1, row_group_size=100)
    return root, train, valid


def test_convert_reads_every_part_and_row_group_in_order(nvt, tmp_path):
    root, train, _ = nvt
    out = run("data", "convert", "--input", str(root / "train"), "--out",
              str(tmp_path / "ds")).stdout
    assert f"{ROWS} rows, 5 columns from 12 Parquet files" in out
    assert "schema: " + str(root / "train" / ".merlin" / "schema.json") in out
    assert "not in the schema, not read: 'title_len'" in out
    ds = tmp_path / "ds"
    # part_10 and part_11 come after part_9: the rows in the order written.
    assert load(ds, "userId").dtype == np.int64
    np.testing.assert_array_equal(load(ds, "userId"), train["userId"].to_numpy())
    np.testing.assert_array_equal(load(ds, "movieId"), train["movieId"].to_numpy())
    # float64 rounded to float32, as numpy's astype does.
    assert load(ds, "age").dtype == np.float32
    np.testing.assert_array_equal(load(ds, "age"),
                                  train["age"].to_numpy().astype(np.float32))
    assert load(ds, "rating_binary").dtype == np.int32
    np.testing.assert_array_equal(load(ds, "rating_binary"), train["rating_binary"].to_numpy())
    # The list column: values and offsets, empty lists included.
    genres = train["genres"].to_pylist()
    offsets = np.cumsum([0] + [len(g) for g in genres])
    np.testing.assert_array_equal(np.load(ds / "genres.offsets.npy"), offsets)
    np.testing.assert_array_equal(load(ds, "genres"), [v for g in genres for v in g])
    schema = json.loads((ds / "schema.json").read_text())
    by_name = {c["name"]: c for c in schema["columns"]}
    assert by_name["userId"]["domain"]["max"] == 60
    assert {"categorical", "user", "id"} <= set(by_name["userId"]["tags"])
    assert by_name["genres"]["is_ragged"] is True


def test_glob_and_single_file_read_the_same_rows(nvt, tmp_path):
    root, train, _ = nvt
    run("data", "convert", "--input", str(root / "train" / "part_1*.parquet"), "--schema",
        str(root / "train" / ".merlin" / "schema.json"), "--out", str(tmp_path / "glob"))
    per = -(-ROWS // 12)
    # part_1, part_10, part_11 in that order
    expected = np.concatenate([train["userId"].to_numpy()[i * per:(i + 1) * per]
                               for i in (1, 10, 11)])
    np.testing.assert_array_equal(load(tmp_path / "glob", "userId"), expected)
    out = run("data", "convert", "--input", str(root / "train" / "part_3.parquet"), "--out",
              str(tmp_path / "one")).stdout
    assert "from 1 Parquet file" in out
    np.testing.assert_array_equal(load(tmp_path / "one", "userId"),
                                  train["userId"].to_numpy()[3 * per:4 * per])


# NVTabular's schema.pbtxt for the same columns (no dtype_item_size: INT reads as int32).
NVT_PBTXT = """feature {
  name: "userId"
  type: INT
  int_domain {
    name: "userId"
    max: 60
    is_categorical: true
  }
  annotation {
    tag: "user"
    tag: "id"
    tag: "categorical"
  }
}
feature {
  name: "genres"
  value_count {
  }
  type: INT
  int_domain {
    name: "genres"
    max: 20
    is_categorical: true
  }
  annotation {
    tag: "item"
    tag: "categorical"
  }
}
feature {
  name: "rating_binary"
  type: INT
  annotation {
    tag: "target"
    tag: "binary_classification"
  }
}
"""


def test_nvtabular_schema_pbtxt_beside_the_data(tmp_path):
    table = nvt_table(200, 5)
    write_nvt_dir(tmp_path / "raw", table, parts=3, row_group_size=50, merlin_schema=False)
    (tmp_path / "raw" / "schema.pbtxt").write_text(NVT_PBTXT)
    out = run("data", "convert", "--input", str(tmp_path / "raw"), "--out",
              str(tmp_path / "ds")).stdout
    assert "schema: " + str(tmp_path / "raw" / "schema.pbtxt") in out
    assert "not read: 'movieId, age, title_len'" in out
    # The int64 ids narrowed to the schema's int32: every value fits.
    assert load(tmp_path / "ds", "userId").dtype == np.int32
    np.testing.assert_array_equal(load(tmp_path / "ds", "userId"), table["userId"].to_numpy())
    genres = table["genres"].to_pylist()
    np.testing.assert_array_equal(load(tmp_path / "ds", "genres"), [v for g in genres for v in g])
    schema = json.loads((tmp_path / "ds" / "schema.json").read_text())
    by_name = {c["name"]: c for c in schema["columns"]}
    assert "target" in by_name["rating_binary"]["tags"]


def test_inferred_schema_is_reported(tmp_path):
    table = nvt_table(200, 3)
    write_nvt_dir(tmp_path / "raw", table, parts=2, row_group_size=50, merlin_schema=False)
    out = run("data", "convert", "--input", str(tmp_path / "raw"), "--out",
              str(tmp_path / "ds")).stdout
    assert "schema: inferred (no schema file beside the data)" in out
    schema = json.loads((tmp_path / "ds" / "schema.json").read_text())
    by_name = {c["name"]: c for c in schema["columns"]}
    # As rb.Dataset.from_dict: int16 -> int32, int64 -> int64, both categorical with the domain
    # [0, max]; floats continuous.
    assert by_name["title_len"]["dtype"] == "int32"
    assert by_name["title_len"]["domain"]["max"] == int(table["title_len"].to_numpy().max())
    assert by_name["userId"]["dtype"] == "int64"
    assert by_name["userId"]["domain"]["max"] == int(table["userId"].to_numpy().max())
    assert "categorical" in by_name["userId"]["tags"]
    assert by_name["age"]["dtype"] == "float32" and "continuous" in by_name["age"]["tags"]
    assert by_name["genres"]["is_list"] and by_name["genres"]["is_ragged"]


def test_pandas_files_with_an_index(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": np.arange(10, dtype=np.int64), "y": np.linspace(0, 1, 10)},
                         index=np.arange(100, 110))
    frame.to_parquet(tmp_path / "f.parquet")  # the index as __index_level_0__
    out = run("data", "convert", "--input", str(tmp_path / "f.parquet"), "--out",
              str(tmp_path / "ds")).stdout
    assert "10 rows, 2 columns" in out
    np.testing.assert_array_equal(load(tmp_path / "ds", "x"), np.arange(10))


def test_train_evaluate_predict_on_parquet(nvt, tmp_path):
    root, _, valid = nvt
    model = tmp_path / "model"
    out = run("train", "--data", str(root), "--model", "dlrm", "--embedding-dim", "8",
              "--bottom", "16,8", "--top", "16", "--epochs", "1", "--out", str(model),
              "--no-progress").stdout
    assert f"trained 1 epochs on {ROWS} rows" in out
    assert "evaluation on" in out and "auc" in out
    evaluation = run("evaluate", "--model", str(model), "--data", str(root / "valid"), "--json",
                     "--no-progress")
    logs = json.loads(evaluation.stdout)  # the report of what was read went to stderr
    assert "read " in evaluation.stderr
    assert 0.0 <= logs["rating_binary/binary_classification_task/auc"] <= 1.0
    # Predictions as Parquet equal the ones written as a dataset directory.
    run("predict", "--model", str(model), "--data", str(root / "valid"), "--format", "parquet",
        "--out", str(tmp_path / "pq"))
    run("predict", "--model", str(model), "--data", str(root / "valid"), "--out",
        str(tmp_path / "npy"))
    written = pq.read_table(tmp_path / "pq" / "part_0.parquet")
    assert written.num_rows == valid.num_rows
    np.testing.assert_array_equal(written["rating_binary_prediction"].to_numpy(),
                                  np.load(tmp_path / "npy" / "rating_binary_prediction.npy"))
    np.testing.assert_array_equal(written["userId"].to_numpy(), valid["userId"].to_numpy())
    assert json.loads((tmp_path / "pq" / "schema.json").read_text())["columns"][-1]["name"] \
        == "rating_binary_prediction"


def test_stream_trains_and_evaluates_row_group_by_row_group(nvt, tmp_path):
    """--stream: NVTabular's output read row group by row group (12 files of 40-row groups)."""
    root, _, _ = nvt
    model = tmp_path / "model"
    out = run("train", "--data", str(root / "train"), "--valid", str(root / "valid"), "--stream",
              "--shuffle-window", "3", "--model", "dlrm", "--embedding-dim", "8", "--bottom",
              "16,8", "--top", "16", "--epochs", "2", "--out", str(model), "--no-progress").stdout
    assert "streaming (35 row groups)" in out  # 11 parts of 84 rows (40+40+4), one of 76 (40+36)
    assert f"trained 2 epochs on {ROWS} rows" in out
    # In order, the streamed evaluation sees the same batches: the same figures.
    streamed = run("evaluate", "--model", str(model), "--data", str(root / "valid"), "--json",
                   "--stream", "--no-progress", "--batch-size", "64")
    whole = run("evaluate", "--model", str(model), "--data", str(root / "valid"), "--json",
                "--no-progress", "--batch-size", "64")
    assert "streaming (" in streamed.stderr
    assert json.loads(streamed.stdout) == json.loads(whole.stdout)
    # A dataset directory streams too.
    run("data", "convert", "--input", str(root / "valid"), "--out", str(tmp_path / "valid_npy"))
    npy = run("evaluate", "--model", str(model), "--data", str(tmp_path / "valid_npy"), "--json",
              "--stream", "--no-progress", "--batch-size", "64")
    assert json.loads(npy.stdout) == json.loads(whole.stdout)
    refused = run("evaluate", "--model", str(model), "--data", str(root / "valid"), "--stream",
                  "--items", str(root / "train"), expect=1)
    assert "--items (top-k metrics) needs the data in memory" in refused.stderr


def test_parquet_output_reads_back_in_pyarrow(nvt, tmp_path):
    root, train, _ = nvt
    run("data", "convert", "--input", str(root / "train"), "--out", str(tmp_path / "ds"))
    out = run("data", "convert", "--input", str(tmp_path / "ds"), "--to", "parquet",
              "--rows-per-file", "300", "--row-group-size", "64", "--compression", "zstd",
              "--out", str(tmp_path / "pq")).stdout
    assert "4 part files, schema.json and Merlin's schema.pbtxt" in out
    files = sorted((tmp_path / "pq").glob("part_*.parquet"), key=lambda p: int(p.stem[5:]))
    assert [f.name for f in files] == [f"part_{i}.parquet" for i in range(4)]
    first = pq.ParquetFile(files[0])
    assert first.metadata.num_rows == 300 and first.metadata.num_row_groups == 5
    assert first.metadata.row_group(0).column(0).compression == "ZSTD"
    back = pa.concat_tables([pq.read_table(f) for f in files])
    np.testing.assert_array_equal(back["movieId"].to_numpy(), train["movieId"].to_numpy())
    assert back["genres"].to_pylist() == train["genres"].to_pylist()
    assert back.schema.field("age").type == pa.float32()
    # A directory reader skips schema.json when told to skip what is not Parquet.
    import pyarrow.dataset as ds
    assert ds.dataset(tmp_path / "pq", format="parquet",
                      exclude_invalid_files=True).to_table().num_rows == ROWS


def test_refusals_name_file_column_and_row(tmp_path):
    table = nvt_table(100, 4).set_column(3, "age", pa.array([None if i == 42 else 1.0
                                                              for i in range(100)]))
    pq.write_table(table, tmp_path / "nulls.parquet", row_group_size=30)
    err = run("data", "convert", "--input", str(tmp_path / "nulls.parquet"), "--out",
              str(tmp_path / "o"), expect=1).stderr
    assert "nulls.parquet: column 'age', row 42: a null value" in err
    assert not (tmp_path / "o").exists()
    big = pa.table({"userId": pa.array([1, 2**40], pa.int64())})
    pq.write_table(big, tmp_path / "big.parquet")
    (tmp_path / "int32.json").write_text(json.dumps(
        {"feature": [{"name": "userId", "type": "INT"}]}))
    err = run("data", "convert", "--input", str(tmp_path / "big.parquet"), "--schema",
              str(tmp_path / "int32.json"), "--out", str(tmp_path / "o"), expect=1).stderr
    assert "big.parquet: column 'userId', row 1: value 1099511627776 does not fit int32" in err
