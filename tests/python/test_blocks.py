import numpy as np
import pytest

import recblocks as rb
from recblocks import Tags


def test_every_registered_block_type_has_a_constructor():
    for type_name in rb.block_type_docs():
        assert hasattr(rb, type_name), type_name
        assert type_name in getattr(rb, type_name).__doc__


def test_mlp_on_continuous_features_returns_numpy(movielens):
    train, _ = movielens
    batch = next(iter(rb.Loader(train, batch_size=4, shuffle=False)))
    continuous = rb.ContinuousFeatures.from_schema(train.schema, Tags.CONTINUOUS)
    out = continuous(batch)
    assert isinstance(out, dict) and all(v.shape == (4, 1) for v in out.values())
    deep = continuous.connect(rb.MLPBlock([64]))
    y = deep(batch)
    assert isinstance(y, np.ndarray) and y.shape == (4, 64) and y.dtype == np.float32
    assert (y >= 0).all()  # relu
    assert isinstance(deep, rb.Block) and isinstance(rb.MLPBlock([8]), rb.MLPBlock)


def test_embeddings_parallel_and_shortcut_as_in_the_seed(movielens):
    train, _ = movielens
    schema = train.schema
    batch = next(iter(rb.Loader(train, batch_size=5, shuffle=False)))
    embeddings = rb.EmbeddingFeatures.from_schema(schema.select_by_tag(Tags.CATEGORICAL), dim=16)
    looked_up = embeddings(batch)
    assert looked_up["userId"].shape == (5, 16)
    continuous = rb.ContinuousFeatures.from_schema(schema, Tags.CONTINUOUS).connect(rb.MLPBlock([16]))
    inputs = rb.ParallelBlock({"embeddings": embeddings, "deep_continuous": continuous})
    interaction = inputs.connect_with_shortcut(
        rb.DotProductInteractionBlock(), shortcut_filter=rb.Filter("deep_continuous"),
        aggregation="concat")
    n = len(looked_up) + 1
    assert interaction(batch).shape == (5, n * (n - 1) // 2 + 16)


def test_options_are_checked_by_name():
    with pytest.raises(ValueError, match="MLPBlock config: unknown key 'unit'"):
        rb.MLPBlock([4], unit=3)
    with pytest.raises(TypeError, match="takes 1 positional"):
        rb.MLPBlock([4], "relu")
    with pytest.raises(ValueError, match="unknown block type 'Nope'"):
        rb.Block.from_json({"type": "Nope"})


def test_blocks_share_weights_and_round_trip_through_json(movielens):
    train, _ = movielens
    batch = next(iter(rb.Loader(train, batch_size=3, shuffle=False)))
    mlp = rb.MLPBlock([8, 4], activation="tanh")
    body = rb.ContinuousFeatures.from_schema(train.schema).connect(mlp)
    first = body(batch)
    assert mlp.built  # the child is the same block, built with the body
    again = rb.Block.from_json(body.to_json())
    again.build(train.schema)
    again.load_state(body.state())
    assert np.array_equal(again(batch), first)
