import re

import numpy as np
import pytest

import recblocks as rb
from recblocks import Tags


def test_dataset_from_numpy_shares_the_arrays():
    user = np.array([1, 2, 3, 2], dtype=np.int32)
    price = np.array([0.5, 1.5, 2.5, 3.5], dtype=np.float32)
    d = rb.Dataset.from_dict({"user": user, "price": price})
    assert len(d) == 4
    assert d.schema["user"].has_tag(Tags.CATEGORICAL) and d.schema["user"].cardinality == 4
    assert d.schema["price"].has_tag(Tags.CONTINUOUS)
    assert np.shares_memory(d["user"], user) and np.shares_memory(d["price"], price)
    # Other dtypes are converted once (float64 -> float32, int16 -> int32).
    d2 = rb.Dataset.from_dict({"x": np.arange(3, dtype=np.float64), "y": np.arange(3, dtype=np.int16)})
    assert d2["x"].dtype == np.float32 and d2["y"].dtype == np.int32


def test_dataset_refuses_strings_and_ragged_lengths():
    with pytest.raises(ValueError, match="'name'.*not numeric"):
        rb.Dataset.from_dict({"name": np.array(["a", "b"])})
    schema = rb.Schema([rb.ColumnSchema("a", "float32", [Tags.CONTINUOUS]),
                        rb.ColumnSchema("b", "float32", [Tags.CONTINUOUS])])
    with pytest.raises(rb.Error, match="rows"):
        rb.Dataset(schema, {"a": np.zeros(3, np.float32), "b": np.zeros(4, np.float32)})


@pytest.mark.parametrize("values", [np.array(["x", "yz"]), np.array([1 + 2j, 3j]),
                                    np.array([object(), 1], dtype=object)],
                         ids=["strings", "complex", "object"])
def test_dataset_names_the_column_and_dtype_of_non_numeric_arrays(values):
    # The C++ conversion itself (from_dict's Python check is not in the way here), for a dense
    # column and for a list column's values.
    dtype = re.escape(str(values.dtype))
    schema = rb.Schema([rb.ColumnSchema("a", "float32", [Tags.CONTINUOUS])])
    with pytest.raises(rb.ValueError, match=f"^column 'a': numpy dtype {dtype} is not numeric"):
        rb.Dataset(schema, {"a": values})
    lists = rb.Schema([rb.ColumnSchema("g", "int32", [Tags.CATEGORICAL])
                       .with_domain(0, 9).with_list(True)])
    with pytest.raises(rb.ValueError,
                       match=f"^column 'g' values: numpy dtype {dtype} is not numeric"):
        rb.Dataset(lists, {"g": (values, np.array([0, 1, 2], np.int64))})


def test_list_columns_are_values_and_offsets():
    schema = rb.Schema([rb.ColumnSchema("genres", "int32", [Tags.CATEGORICAL])
                        .with_domain(0, 9).with_list(True)])
    values = np.array([1, 2, 3, 4], dtype=np.int32)
    offsets = np.array([0, 1, 1, 4], dtype=np.int64)
    d = rb.Dataset(schema, {"genres": (values, offsets)})
    assert len(d) == 3
    got_values, got_offsets = d["genres"]
    assert got_values.tolist() == [1, 2, 3, 4] and got_offsets.tolist() == [0, 1, 1, 4]
    head = d.head(3)
    assert [list(x) for x in head["genres"]] == [[1], [], [2, 3, 4]]


def test_head_is_a_pandas_frame_like_merlins(movielens):
    import pandas

    train, valid = movielens
    frame = valid.head()
    assert isinstance(frame, pandas.DataFrame)
    assert len(frame) == 5 and "userId" in frame.columns and "rating_binary" in frame.columns
    assert frame["userId"].tolist() == valid["userId"][:5].tolist()


def test_pandas_and_arrow_tables_become_datasets():
    import pandas
    import pyarrow

    frame = pandas.DataFrame({"item": np.array([3, 1, 2], np.int64), "score": [0.1, 0.2, 0.3]})
    d = rb.Dataset.from_pandas(frame)
    assert len(d) == 3 and d["item"].tolist() == [3, 1, 2]
    table = pyarrow.table({"item": np.array([5, 6], np.int32), "score": np.array([1.0, 2.0], np.float32)})
    d = rb.Dataset.from_arrow(table)
    assert d["score"].tolist() == [1.0, 2.0] and d.schema["item"].cardinality == 7


def test_loader_iterates_batches_with_a_new_order_each_epoch(movielens):
    train, _ = movielens
    loader = rb.Loader(train, batch_size=1000, shuffle=True, seed=1)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-len(train) // 1000)
    assert sum(b.rows for b in batches) == len(train)
    first = batches[0]
    assert first["userId"].shape == (1000,) and "rating_binary" in first
    again = next(iter(loader))
    assert not np.array_equal(again["userId"], first["userId"])  # epoch 2: another order
    assert set(first.features().keys()) | set(first.targets().keys()) == set(first.keys())


def test_dataset_saves_and_loads(tmp_path, movielens):
    valid = movielens[1]
    valid.save(tmp_path / "valid")
    again = rb.Dataset.load(tmp_path / "valid")
    assert again.schema == valid.schema and len(again) == len(valid)
    assert np.array_equal(again["movieId"], valid["movieId"])


def test_real_movielens_100k_import(tmp_path, ml100k_raw):
    train, valid = rb.movielens("ml-100k", tmp_path, source=ml100k_raw, download=False)
    assert len(train) == 80000 and len(valid) == 20000
    assert train.schema.select_by_tag(Tags.USER_ID).column_names == ["userId"]


def test_importing_recblocks_and_its_merlin_layer_leaves_numpy_unloaded():
    # numpy costs a process ~25 MB and 0.1 s; the package loads it only when
    # arrays cross the boundary (from_dict, a block's output, predict).
    import subprocess
    import sys
    code = ("import sys, recblocks, recblocks.merlin.models.tf, recblocks.compat.tensorflow; "
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
