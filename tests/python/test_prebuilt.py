"""The prebuilt ranking and retrieval models from Python (native and Merlin names)."""

import numpy as np
import pytest

import recblocks as rb
import recblocks.merlin.models.tf as mm
from recblocks import Tags

RANKING_COLUMNS = ["userId", "movieId", "gender", "age", "TE_movieId_rating", "rating_binary"]


@pytest.fixture()
def ranking(movielens):
    train, valid = movielens
    return train.select_by_name(RANKING_COLUMNS), valid.select_by_name(RANKING_COLUMNS)


@pytest.mark.parametrize("make", [
    lambda s: mm.DLRMModel(s, embedding_dim=16, bottom_block=mm.MLPBlock([16]),
                           top_block=mm.MLPBlock([16]), prediction_tasks=mm.BinaryOutput("rating_binary")),
    lambda s: mm.DCNModel(s, depth=2, deep_block=mm.MLPBlock([16]),
                          prediction_tasks=mm.BinaryOutput("rating_binary")),
    lambda s: mm.DeepFMModel(s, embedding_dim=8, deep_block=mm.MLPBlock([16])),
    lambda s: mm.WideAndDeepModel(s, deep_block=mm.MLPBlock([16])),
    lambda s: rb.NCFModel(s.select_by_name(["userId", "movieId", "rating_binary"]), embedding_dim=8),
    lambda s: rb.MLPModel(s, dims=[16, 8]),
    lambda s: rb.MMOEModel(s, num_experts=2, expert_block=rb.MLPBlock([8])),
    lambda s: rb.PLEModel(s, num_layers=1, expert_block=rb.MLPBlock([8])),
], ids=["dlrm", "dcn", "deepfm", "wide_deep", "ncf", "mlp", "mmoe", "ple"])
def test_ranking_models_train_and_predict(ranking, make):
    train, valid = ranking
    model = make(train.schema)
    model.compile(optimizer="adam")
    history = model.fit(train, batch_size=2048, epochs=1, progress=False)
    assert np.isfinite(history.history["loss"][0])
    p = model.predict(valid)["rating_binary/binary_classification_task"]
    assert p.shape == (len(valid),) and ((p > 0) & (p < 1)).all()


def test_two_tower_and_matrix_factorization_retrieve(movielens):
    train, valid = movielens
    schema = train.schema.select_by_name(["userId", "movieId", "gender", "age"])
    for model in (mm.TwoTowerModel(schema, query_tower=mm.MLPBlock([16]), temperature=0.5,
                                   metrics=["recall_at_10"]),
                  mm.MatrixFactorizationModel(schema.select_by_name(["userId", "movieId"]), dim=16,
                                              loss="bpr")):
        model.compile(optimizer="adam")
        history = model.fit(train, batch_size=1024, epochs=1, progress=False)
        assert np.isfinite(history.history["loss"][0])
        scores = model.evaluate(valid, batch_size=1024)
        assert any(k.endswith("recall_at_10") for k in scores)


def test_options_errors_name_the_group_and_key(movielens):
    schema = movielens[0].schema
    with pytest.raises(ValueError, match="embedding_options.*dimm|dimm"):
        rb.DLRMModel(schema, embedding_options={"dimm": 3})
    with pytest.raises(ValueError, match="retrieval.*tempreature|tempreature"):
        rb.MatrixFactorizationModel(schema.select_by_name(["userId", "movieId"]),
                                    retrieval={"tempreature": 2})


def test_youtube_dnn_on_histories(tmp_path):
    rb.synthetic_movielens(tmp_path / "raw", users=200, movies=300, ratings=20000, seed=3)
    train, valid = rb.movielens("ml-1m", tmp_path, source=tmp_path / "raw", download=False,
                                split="leave-last-out", history_length=10)
    assert "movieId_history" in train.schema
    model = mm.YoutubeDNNRetrievalModel(train.schema, top_block=mm.MLPBlock([32]), num_sampled=50)
    model.compile(optimizer="adam")
    history = model.fit(train, batch_size=512, epochs=1, progress=False)
    assert np.isfinite(history.history["loss"][0])
    scores = model.evaluate(valid, batch_size=512)
    assert 0 <= scores["movieId/next_item_prediction_task/recall_at_10"] <= 1


def test_top_k_recommender_over_the_whole_catalogue(movielens):
    train, valid = movielens
    schema = train.schema.select_by_name(["userId", "movieId"])
    model = rb.MatrixFactorizationModel(schema, dim=16)
    model.compile(optimizer="adam")
    model.fit(train, batch_size=1024, epochs=2, progress=False)
    item_ids = np.unique(train["movieId"])
    items = rb.Dataset(schema.select_by_name(["movieId"]), {"movieId": item_ids})
    recommender = model.to_top_k_recommender(items)
    assert isinstance(recommender, rb.TopKRecommender)
    assert recommender.num_items == len(item_ids)
    assert recommender.item_vectors.shape == (len(item_ids), 16)
    seen = rb.SeenItems(train, "userId", "movieId")
    ids, scores = recommender.recommend(valid.slice_rows(0, 5), k=7, seen=seen)
    assert ids.shape == scores.shape == (5, 7) and (np.diff(scores, axis=1) <= 0).all()
    assert set(ids.ravel()) <= set(item_ids.tolist())
    metrics = recommender.evaluate(valid, ks=[10], seen=seen)
    baseline = rb.PopularityRecommender(train, "movieId").evaluate(valid, ks=[10], seen=seen)
    assert 0 <= metrics["recall_at_10"] <= 1 and "ndcg_at_10" in baseline
