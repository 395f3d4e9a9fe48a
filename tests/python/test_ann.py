"""Exact top k, the FAISS index (AnnIndex) and a recommender serving from it."""

import gc

import numpy as np
import pytest

import recblocks as rb


@pytest.fixture(scope="module")
def catalogue():
    """4,000 random items and 300 queries of dim 24."""
    rng = np.random.default_rng(11)
    items = rng.standard_normal((4000, 24)).astype(np.float32)
    queries = rng.standard_normal((300, 24)).astype(np.float32)
    return items, queries


def brute_force(queries, items, k, exclude=None):
    scores = queries.astype(np.float64) @ items.T.astype(np.float64)
    for q, ids in enumerate(exclude or []):
        scores[q, list(ids)] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_top_k_is_the_brute_force_answer(catalogue):
    items, queries = catalogue
    ids, scores = rb.top_k(queries, items, k=7)
    assert ids.dtype == np.int64 and scores.dtype == np.float32 and ids.shape == (300, 7)
    np.testing.assert_array_equal(ids, brute_force(queries, items, 7))
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ids, axis=1),
                               rtol=1e-4, atol=1e-4)
    exclude = [[int(ids[q, 0]), 5] for q in range(300)]
    kept, _ = rb.top_k(queries, items, k=7, exclude=exclude)
    np.testing.assert_array_equal(kept, brute_force(queries, items, 7, exclude))


def test_recall_against_counts_the_exact_items_found():
    exact = np.array([[1, 2, 9], [4, 5, -1]])  # -1: the exact row ran out of items
    approx = np.array([[9, 1, 7], [5, 4, 8]], np.int32)
    assert rb.recall_against(approx, exact) == pytest.approx((2 / 3 + 1) / 2)
    assert rb.recall_against((approx, None), (exact, None)) == pytest.approx((2 / 3 + 1) / 2)
    with pytest.raises(ValueError, match="recall_against approx: ids are float32"):
        rb.recall_against(approx.astype(np.float32), exact)
    with pytest.raises(ValueError, match="answers of shapes \\[1, 3\\] and \\[2, 3\\]"):
        rb.recall_against(approx[:1], exact)


@pytest.mark.parametrize("options", [{}, {"kind": "hnsw", "hnsw_m": 16, "ef_search": 64},
                                     {"kind": "ivf", "nprobe": 60}])
def test_ann_index_recalls_the_exact_top_k(catalogue, options):
    items, queries = catalogue
    index = rb.AnnIndex(items, **options)
    assert (index.size, index.dim, len(index)) == (4000, 24, 4000)
    assert index.kind == options.get("kind", "hnsw") and isinstance(index, rb.ItemIndex)
    approx = index.search(queries, k=10)
    exact = rb.top_k(queries, items, k=10)
    ids, scores = approx
    assert ids.shape == scores.shape == (300, 10) and (np.diff(scores, axis=1) <= 1e-6).all()
    assert rb.recall_against(approx, exact) >= 0.9
    # Scores are the items' inner products with the query.
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ids, axis=1),
                               rtol=1e-4, atol=1e-4)


def test_ann_options_reach_faiss(catalogue):
    items, queries = catalogue
    exact = rb.top_k(queries, items, k=10)
    assert rb.AnnIndex(items).options == {"kind": "hnsw", "hnsw_m": 32, "ef_construction": 64,
                                          "ef_search": 128, "nlist": 0, "nprobe": 16}
    # A tiny graph searched with one candidate misses most of the answer;
    # probing every list of an inverted file is exact.
    weak = rb.AnnIndex(items, hnsw_m=2, ef_construction=1, ef_search=1)
    assert rb.recall_against(weak.search(queries, k=10), exact) < 0.5
    one_list = rb.AnnIndex(items, kind="ivf", nlist=40, nprobe=1)
    every_list = rb.AnnIndex(items, kind="ivf", nlist=40, nprobe=40)
    assert rb.recall_against(one_list.search(queries, k=10), exact) < 0.7
    assert rb.recall_against(every_list.search(queries, k=10), exact) == 1.0
    assert every_list.options["nlist"] == 40 and every_list.options["nprobe"] == 40


def test_ann_search_leaves_out_excluded_items_and_caps_k(catalogue):
    items, queries = catalogue
    index = rb.AnnIndex(items)
    best, _ = index.search(queries[:3], k=5)
    exclude = [best[0, :3].tolist(), [], np.array([best[2, 0]])]
    ids, _ = index.search(queries[:3], k=5, exclude=exclude)
    assert not set(ids[0]) & set(best[0, :3]) and ids[0, 0] == best[0, 3]
    np.testing.assert_array_equal(ids[1], best[1])
    assert best[2, 0] not in ids[2] and (ids[2] >= 0).all()
    # The same lists as a (values, offsets) pair, as list columns are.
    values = np.array(best[0, :3].tolist() + [best[2, 0]])
    pair, _ = index.search(queries[:3], k=5, exclude=(values, np.array([0, 3, 3, 4])))
    np.testing.assert_array_equal(pair, ids)
    small = rb.AnnIndex(items[:6])
    ids, scores = small.search(queries[:2], k=50)
    assert ids.shape == (2, 6) and sorted(ids[0]) == list(range(6))
    ids, scores = small.search(queries[:1], k=50, exclude=[[0, 1]])
    assert ids.shape == (1, 6) and sorted(ids[0, :4]) == [2, 3, 4, 5]
    assert (ids[0, 4:] == -1).all() and np.isneginf(scores[0, 4:]).all()


@pytest.mark.parametrize("make, message", [
    (lambda i, q: rb.AnnIndex(i[0]), "AnnIndex: items are float32 \\[24\\], expected float32"),
    (lambda i, q: rb.AnnIndex(i.astype(np.int64)), "items are int64 \\[4000, 24\\], expected"),
    (lambda i, q: rb.AnnIndex(i[:0]), "items are float32 \\[0, 24\\]"),
    (lambda i, q: rb.AnnIndex(i, kind="flat"),
     "approximate index 'flat' is unknown \\(expected hnsw or ivf\\)"),
    (lambda i, q: rb.AnnIndex(i, hnsw_m=1), "hnsw_m 1 \\(>= 2\\)"),
    (lambda i, q: rb.AnnIndex(i, kind="ivf", nlist=5000), "nlist 5000 must be in \\[1, 4000\\]"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q, k=0), "k is 0, expected >= 1"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q, k=-3), "k is -3, expected >= 1"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q[0], k=3), "queries are float32 \\[24\\]"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q[:, :5], k=3), "expected float32 \\[Q, 24\\]"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q.astype(np.int32), k=3), "queries are int32"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q[:2], k=3, exclude=[[50], []]),
     "query 0 excludes item 50, outside \\[0, 50\\)"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q[:2], k=3, exclude=[[1]]),
     "1 exclusion lists for 2 queries"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q[:1], k=3, exclude=[["a"]]),
     "exclude: query 0 has 'a', expected integer item ids"),
    (lambda i, q: rb.AnnIndex(i[:50]).search(q[:2], k=3, exclude=[4, 5]),
     "exclude: query 0 has 4, expected a sequence of item ids"),
    (lambda i, q: rb.top_k(q, i, k=0), "top_k: k is 0, expected >= 1"),
    (lambda i, q: rb.top_k(q[0], i, k=3), "top_k: queries must be float32 \\[queries, dim\\]"),
])
def test_bad_input_raises_value_error(catalogue, make, message):
    with pytest.raises(ValueError, match=message):
        make(*catalogue)


def test_recommender_serves_from_an_index(movielens):
    train, valid = movielens
    schema = train.schema.select_by_name(["userId", "movieId"])
    model = rb.MatrixFactorizationModel(schema, dim=16)
    model.compile(optimizer="adam")
    model.fit(train, batch_size=1024, epochs=1, progress=False)
    items = rb.Dataset(schema.select_by_name(["movieId"]), {"movieId": np.unique(train["movieId"])})
    recommender = model.to_top_k_recommender(items)
    queries = valid.slice_rows(0, 200)
    seen = rb.SeenItems(train, "userId", "movieId")
    exact_ids, exact_scores = recommender.recommend(queries, k=10, seen=seen)
    assert not recommender.has_index
    with pytest.raises(ValueError, match="index_recall: no approximate index"):
        recommender.index_recall(queries, k=10)

    recommender.use_index(rb.AnnIndex(recommender.item_vectors))
    gc.collect()  # the recommender holds the index
    assert recommender.has_index
    ids, _ = recommender.recommend(queries, k=10, seen=seen)
    assert set(ids.ravel()) <= set(recommender.item_ids.tolist())
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ids, exact_ids)])
    assert recall >= 0.9
    assert recommender.index_recall(queries, k=10, seen=seen) == pytest.approx(recall)
    np.testing.assert_array_equal(recommender.recommend_exact(queries, k=10, seen=seen)[0],
                                  exact_ids)

    # recommend() asks the index: one over the negated vectors ranks the
    # catalogue backwards (positions map back to item ids).
    vectors = recommender.item_vectors
    recommender.use_index(rb.AnnIndex(-vectors, kind="ivf", nlist=1))
    worst, _ = recommender.recommend(queries, k=5)
    positions = rb.top_k(recommender.query_vectors(queries), -vectors, k=5)[0]
    np.testing.assert_array_equal(worst, recommender.item_ids[positions])
    # evaluate() stays exact.
    recommender.use_index(None)
    exact_metrics = recommender.evaluate(valid, ks=[10], seen=seen)
    recommender.use_index(rb.AnnIndex(-vectors, kind="ivf", nlist=1))
    assert recommender.evaluate(valid, ks=[10], seen=seen) == exact_metrics
    recommender.use_index(None)
    assert not recommender.has_index
    np.testing.assert_array_equal(recommender.recommend(queries, k=10, seen=seen)[0], exact_ids)

    with pytest.raises(ValueError, match="use_index: an index of 3 items of dim 16, expected"):
        recommender.use_index(rb.AnnIndex(vectors[:3]))
