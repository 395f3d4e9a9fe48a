"""Streaming from Python: rb.npy_source reads a dataset directory chunk by chunk; Model.fit,
Model.evaluate and Loader take it as they take a Dataset."""
import numpy as np
import pytest

import recblocks as rb


def _data(rows=600):
    rng = np.random.default_rng(3)
    user = rng.integers(0, 20, rows).astype(np.int32)
    x = rng.normal(size=rows).astype(np.float32)
    label = (rng.random(rows) < 1 / (1 + np.exp(-(x + (user % 3 - 1))))).astype(np.int32)
    schema = rb.Schema([
        rb.ColumnSchema("user", "int32", ["categorical", "user_id"]).with_domain(0, 19),
        rb.ColumnSchema("x", "float32", ["continuous"]),
        rb.ColumnSchema("click", "int32", ["target", "binary_classification"]),
    ])
    return rb.Dataset.from_dict({"user": user, "x": x, "click": label}, schema)


def _model(schema):
    body = rb.ParallelBlock({
        "e": rb.EmbeddingFeatures.from_schema(schema.select_by_name(["user"]), dim=4),
        "c": rb.ContinuousFeatures.from_schema(schema.select_by_name(["x"])),
    }).connect(rb.MLPBlock([8]))
    model = rb.Model(body, [rb.BinaryClassificationTask("click")])
    model.build(schema, seed=1)
    model.compile("adam")
    return model


def test_fit_and_evaluate_on_a_source_match_the_dataset_in_order(tmp_path):
    data = _data()
    data.save(tmp_path / "d")
    source = rb.npy_source(tmp_path / "d", chunk_rows=70)
    assert len(source) == 600 and source.num_chunks == 9 and source.chunk_rows(8) == 40
    assert "DataSource(" in repr(source)
    np.testing.assert_array_equal(source.read_chunk(1, ["x"])["x"], data["x"][70:140])
    a, b = _model(data.schema), _model(data.schema)
    ha = a.fit(data, batch_size=64, epochs=2, shuffle=False, progress=False)
    hb = b.fit(source, batch_size=64, epochs=2, shuffle=False, progress=False, shuffle_window=2)
    assert ha.history == hb.history
    for name, value in a.state().items():
        np.testing.assert_array_equal(value, b.state()[name])
    assert a.evaluate(data) == b.evaluate(source)
    with pytest.raises(TypeError, match="expected a Dataset or a DataSource, got str"):
        a.fit("train.parquet", progress=False)


def test_loader_streams_every_row_once(tmp_path):
    data = _data(500)
    data.save(tmp_path / "d")
    loader = rb.Loader(rb.npy_source(tmp_path / "d", chunk_rows=64), batch_size=50, seed=2,
                       shuffle_window=3)
    assert len(loader) == 10
    xs = np.concatenate([batch["x"] for batch in loader])
    np.testing.assert_array_equal(np.sort(xs), np.sort(data["x"]))
    with pytest.raises(ValueError, match="shuffle_window is 0"):
        rb.Loader(rb.npy_source(tmp_path / "d"), shuffle_window=0)
