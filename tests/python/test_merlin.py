"""The Merlin Models names (recblocks.merlin, recblocks.compat.tensorflow)."""

import numpy as np
import pytest

import recblocks as rb
import recblocks.compat.tensorflow as tf
import recblocks.merlin.models.tf as mm
from recblocks.merlin.datasets.entertainment import get_movielens as get_movielens_v2
from recblocks.merlin.models.data.movielens import get_movielens
from recblocks.merlin.schema.tags import Tags

COLUMNS = ["userId", "movieId", "title", "gender", "TE_zipcode_rating", "TE_movieId_rating",
           "rating_binary"]


@pytest.fixture()
def data(movielens):
    train, valid = movielens
    return train.select_by_name(COLUMNS), valid.select_by_name(COLUMNS)


def test_batched_dataset_and_sample_batch_split_features_and_targets(data):
    _, valid = data
    features, targets = next(iter(mm.BatchedDataset(valid, batch_size=4, shuffle=False)))
    assert "rating_binary" not in features.keys() and list(targets.keys()) == ["rating_binary"]
    assert features["userId"].tolist() == valid["userId"][:4].tolist()
    only = mm.sample_batch(valid, batch_size=3, shuffle=False, include_targets=False)
    assert only["movieId"].shape == (3,)


def test_keras_metric_classes_instances_and_optimizers(data):
    train, valid = data
    body = mm.ContinuousFeatures.from_schema(train.schema, tags=Tags.CONTINUOUS).connect(
        mm.MLPBlock([8]))
    for metric in (tf.keras.metrics.AUC, tf.keras.metrics.AUC(), "auc"):
        task = mm.BinaryClassificationTask(target_name="rating_binary", metrics=[metric])
        model = mm.Model(body, task)
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.01))
        model.fit(train, batch_size=4096, epochs=1, progress=False)
        values = model.evaluate(valid, batch_size=4096, return_dict=False)
        scores = model.evaluate(valid, batch_size=4096, return_dict=True)
        assert values[0] == scores["loss"]
        assert set(scores) == {"rating_binary/binary_classification_task/auc", "loss",
                               "regularization_loss", "total_loss"}
    with pytest.raises(AttributeError, match="tf.keras.layers has no recblocks stand-in|layers"):
        tf.keras.layers  # noqa: B018


def test_embedding_options_binary_output_and_dlrm_model(data):
    train, valid = data
    embeddings = mm.EmbeddingFeatures.from_schema(
        train.schema, embedding_options=mm.EmbeddingOptions(embedding_dim_default=8,
                                                            embedding_dims={"userId": 4}))
    batch = mm.sample_batch(valid, batch_size=2, shuffle=False, include_targets=False)
    out = embeddings(batch)
    assert out["userId"].shape == (2, 4) and out["movieId"].shape == (2, 8)
    model = mm.DLRMModel(train.schema, embedding_dim=16, bottom_block=mm.MLPBlock([32, 16]),
                         top_block=mm.MLPBlock([32, 16]),
                         prediction_tasks=mm.BinaryOutput("rating_binary"))
    model.compile(optimizer="adam")
    history = model.fit(train, batch_size=1024, epochs=1, progress=False)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(valid)["rating_binary/binary_classification_task"].shape == (len(valid),)


def test_get_movielens_reads_the_offline_source(tmp_path, monkeypatch):
    rb.synthetic_movielens(tmp_path / "raw", users=100, movies=80, ratings=3000, seed=2)
    monkeypatch.setenv("RECBLOCKS_MOVIELENS_SOURCE", str(tmp_path / "raw"))
    train, valid = get_movielens(path=tmp_path / "cache", variant="ml-1m")
    assert len(train) + len(valid) == 3000
    train2, _ = get_movielens_v2(path=tmp_path / "cache", variant="ml-1m")  # cached
    assert len(train2) == len(train)
