import pytest

import recblocks as rb
from recblocks import Tags


def test_tags_have_merlins_names_and_compound_tags():
    assert Tags.CATEGORICAL.name == "categorical"
    assert Tags.USER_ID == rb.Tag("user_id")
    assert rb.Tag("CATEGORICAL") == Tags.CATEGORICAL
    assert repr(Tags.ITEM_ID) == "Tags.item_id"
    with pytest.raises(ValueError, match="unknown tag"):
        rb.Tag("categoricals")


def test_schema_selects_by_name_and_tag(movielens):
    train, _ = movielens
    schema = train.schema
    assert "userId" in schema and "rating_binary" in schema
    assert schema.select_by_name(["userId", "movieId"]).column_names == ["userId", "movieId"]
    assert schema.select_by_name("userId").column_names == ["userId"]
    continuous = schema.select_by_tag(Tags.CONTINUOUS).column_names
    assert continuous and all(schema[c].has_tag(Tags.CONTINUOUS) for c in continuous)
    assert schema.select_by_tag(Tags.USER_ID).column_names == ["userId"]
    assert set(schema.select_by_tag([Tags.USER, Tags.ITEM]).column_names) >= {"userId", "movieId"}
    assert schema["userId"].has_tag(Tags.USER_ID)
    assert schema["userId"].cardinality > 300
    assert schema.remove_by_tag(Tags.TARGET).select_by_tag(Tags.TARGET).column_names == []
    assert len(schema) == len(list(schema)) == len(schema.column_names)
    assert "userId" in repr(schema)
    with pytest.raises(rb.ValueError, match="nope"):
        schema.select_by_name(["nope"])


def test_schema_round_trips_through_json_and_files(tmp_path, movielens):
    schema = movielens[0].schema
    assert rb.Schema.from_json(schema.to_json()) == schema
    schema.save(tmp_path / "schema.json")
    assert rb.Schema.load(tmp_path / "schema.json") == schema


def test_column_schema_is_built_in_python():
    c = rb.ColumnSchema("item", "int32", [Tags.ITEM_ID, Tags.CATEGORICAL]).with_domain(0, 99)
    assert c.cardinality == 100 and c.dtype == "int32"
    assert c.tags == ["categorical", "id", "item"]
    with pytest.raises(ValueError, match="dtype 'float16'"):
        rb.ColumnSchema("x", "float16")


def test_a_schema_saves_and_loads_in_merlins_formats(tmp_path):
    schema = rb.Schema([
        rb.ColumnSchema("user", "int32", [Tags.USER_ID, Tags.CATEGORICAL]).with_domain(0, 99),
        rb.ColumnSchema("price", "float32", [Tags.CONTINUOUS]),
        rb.ColumnSchema("click", "float32", [Tags.TARGET, Tags.BINARY_CLASSIFICATION]),
    ])
    for fmt, name in (("merlin-pbtxt", "schema.pbtxt"), ("merlin-json", "merlin.json"),
                      ("recblocks", "schema.json")):
        schema.save(tmp_path / name, format=fmt)
        assert rb.Schema.load(tmp_path / name) == schema, fmt
    assert "feature {" in (tmp_path / "schema.pbtxt").read_text()
    with pytest.raises(rb.ValueError, match="merlin-pbtxt"):
        schema.save(tmp_path / "x", format="protobuf")
