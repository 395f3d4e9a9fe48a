"""The importers' options from Python (Criteo, CSV, synthetic data) and their
fitted transforms, on small files written here."""

import numpy as np
import pytest

import recblocks as rb

CATEGORICAL = [f"C{i}" for i in range(1, 27)]


@pytest.fixture(scope="module")
def criteo_tsv(tmp_path_factory):
    """Raw Criteo TSV files: 450 training and 150 validation rows, ids drawn
    from tables of 40 values."""
    out = tmp_path_factory.mktemp("criteo") / "synthetic"
    rb.synthetic_criteo(out, rows=600, seed=5, max_table_size=40, valid_fraction=0.25,
                        write_tsv=True)
    train, valid = out / "raw" / "train.tsv", out / "raw" / "valid.tsv"
    assert len(train.read_text().splitlines()) == 450
    assert len(valid.read_text().splitlines()) == 150
    return train, valid


def test_criteo_max_rows_reads_the_first_rows_of_each_file(tmp_path, criteo_tsv):
    train_file, valid_file = criteo_tsv
    full, _ = rb.criteo([train_file], tmp_path / "full")
    first, _ = rb.criteo([train_file], tmp_path / "first", max_rows=100)
    assert len(full) == 450 and len(first) == 100
    np.testing.assert_array_equal(first["label"], full["label"][:100])
    np.testing.assert_array_equal(first["I1"], full["I1"][:100])
    both, _ = rb.criteo([train_file, valid_file], tmp_path / "both", max_rows=30)
    assert len(both) == 60


def test_criteo_num_buckets_hashes_values_into_that_range(tmp_path, criteo_tsv):
    vocabulary, _ = rb.criteo([criteo_tsv[0]], tmp_path / "vocabulary")
    # min_frequency above any count: no value has an id of its own, all are hashed.
    hashed, _ = rb.criteo([criteo_tsv[0]], tmp_path / "hashed", num_buckets=5,
                          min_frequency=10**6)
    for name in CATEGORICAL:
        ids = hashed[name]
        assert hashed.schema[name].cardinality == 3 + 5
        assert ids.max() < 8 and set(np.unique(ids)) <= {1, 3, 4, 5, 6, 7}
    assert max(vocabulary.schema[n].cardinality for n in CATEGORICAL) > 8


def test_criteo_valid_files_split_by_file_and_on_oov(tmp_path, criteo_tsv):
    train_file, valid_file = criteo_tsv
    train, valid = rb.criteo([train_file], tmp_path / "days", valid_files=[valid_file])
    assert (len(train), len(valid)) == (450, 150)
    # Values seen fewer than 3 times in train have no id: oov maps them to 2 ...
    _, valid = rb.criteo([train_file], tmp_path / "oov", valid_files=[valid_file],
                         min_frequency=3)
    assert any((valid[name] == 2).any() for name in CATEGORICAL)
    # ... raise names them.
    with pytest.raises(ValueError, match="not in the vocabulary.*on_oov = raise"):
        rb.criteo([train_file], tmp_path / "raise", valid_files=[valid_file], min_frequency=3,
                  on_oov="raise")


def test_criteo_format_names_the_expected_layout(tmp_path, criteo_tsv):
    tsv, _ = rb.criteo([criteo_tsv[0]], tmp_path / "tsv", format="tsv", max_rows=20)
    assert len(tsv) == 20
    # A TSV file read as CSV has no header line to find the columns in.
    with pytest.raises(ValueError, match="criteo|train.tsv"):
        rb.criteo([criteo_tsv[0]], tmp_path / "csv", format="csv")


@pytest.mark.parametrize("options, message", [
    ({"format": "json"}, "unknown Criteo format 'json', expected auto, tsv or csv"),
    ({"on_oov": "drop"}, "criteo: on_oov 'drop', expected 'oov' \\(id 2\\) or 'raise'"),
    ({"max_rows": -1}, "criteo: max_rows -1, expected >= 0"),
    ({"num_buckets": -2}, "min_frequency 1 and num_buckets -2, expected >= 1 and >= 0"),
    ({"min_frequency": 0}, "min_frequency 0 and num_buckets 0, expected >= 1 and >= 0"),
    ({"valid_fraction": 1.0}, "criteo: valid_fraction 1, expected in \\[0, 1\\)"),
    ({"valid_fraction": 0.1, "valid_files": ["x.tsv"]},
     "give either valid_files or valid_fraction, not both"),
])
def test_criteo_bad_options_raise_the_library_errors(tmp_path, criteo_tsv, options, message):
    with pytest.raises(rb.ValueError, match=message):
        rb.criteo([criteo_tsv[0]], tmp_path / "out", **options)


def test_criteo_transform_turns_a_later_day_into_the_imports_rows(tmp_path, criteo_tsv):
    train_file, valid_file = criteo_tsv
    _, valid = rb.criteo([train_file], tmp_path / "out", valid_files=[valid_file])
    transform = rb.CriteoTransform.load(tmp_path / "out" / "etl")
    assert transform.schema == valid.schema
    rows = transform.transform(valid_file)
    assert len(rows) == 150
    for name in ["label", "I5", "C1", "C26"]:
        np.testing.assert_array_equal(rows[name], valid[name])
    assert len(transform.transform(valid_file, format="tsv", max_rows=7)) == 7
    with pytest.raises(ValueError, match="unknown Criteo format 'xml'"):
        transform.transform(valid_file, format="xml")


SPEC = {"columns": [
    {"name": "user", "tags": ["categorical", "user_id"]},
    {"name": "city", "tags": ["categorical"]},
    {"name": "clicked", "tags": ["target", "binary_classification"]},
]}


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_delimiter_and_header_override_the_spec(tmp_path):
    rows = ["u1;paris;1", "u2;rome;0", "u1;rome;1", "u3;oslo;0"]
    no_header = write(tmp_path / "plain.csv", rows)
    # The spec says ',' and a header line: the file has neither.
    with pytest.raises(ValueError, match="plain.csv"):
        rb.csv(no_header, SPEC, tmp_path / "default")
    train, valid = rb.csv(no_header, SPEC, tmp_path / "out", delimiter=";", header=False)
    assert len(train) == 4 and len(valid) == 0
    np.testing.assert_array_equal(train["clicked"], [1, 0, 1, 0])
    users = train["user"]
    assert users[0] == users[2] and len(set(users.tolist())) == 3 and users.min() >= 3
    tabs = write(tmp_path / "tabs.tsv", ["user\tcity\tclicked"] + [r.replace(";", "\t")
                                                                  for r in rows])
    train, _ = rb.csv(tabs, SPEC, tmp_path / "tabs", delimiter="tab")
    np.testing.assert_array_equal(train["user"], users)


def test_csv_quote_overrides_the_spec(tmp_path):
    lines = ["user,city,clicked", "u1,'Paris, FR',1", "u2,'Rome, IT',0", "u3,'Paris, FR',1"]
    single = write(tmp_path / "single.csv", lines)
    train, _ = rb.csv(single, SPEC, tmp_path / "single", quote="'")
    city = train["city"]
    assert city[0] == city[2] != city[1]
    np.testing.assert_array_equal(train["clicked"], [1, 0, 1])
    # With the spec's '"' (or no quoting) the quoted comma splits the field.
    for quote in [None, ""]:
        with pytest.raises(ValueError, match="single.csv:2"):
            rb.csv(single, SPEC, tmp_path / "split", quote=quote)
    # No quoting keeps '"' as part of the value.
    doubled = write(tmp_path / "doubled.csv", ['user,city,clicked', 'u1,"x",1', 'u2,x,0'])
    quoted, _ = rb.csv(doubled, SPEC, tmp_path / "quoted")
    verbatim, _ = rb.csv(doubled, SPEC, tmp_path / "verbatim", quote="")
    assert quoted["city"][0] == quoted["city"][1]
    assert verbatim["city"][0] != verbatim["city"][1]


@pytest.mark.parametrize("options, message", [
    ({"delimiter": ";;"}, 'delimiter ";;": expected one character'),
    ({"quote": "''"}, "csv: quote \"''\": expected one character or \"\""),
    ({"valid_fraction": -0.5}, "csv: valid_fraction -0.5, expected in \\[0, 1\\)"),
])
def test_csv_bad_options_raise_the_library_errors(tmp_path, options, message):
    data = write(tmp_path / "data.csv", ["user,city,clicked", "u1,paris,1"])
    with pytest.raises(rb.ValueError, match=message):
        rb.csv(data, SPEC, tmp_path / "out", **options)


def test_csv_transform_applies_the_fitted_vocabularies_to_a_new_file(tmp_path):
    first = write(tmp_path / "first.csv", ["u1;paris;1", "u2;rome;0", "u1;rome;1"])
    train, _ = rb.csv(first, SPEC, tmp_path / "out", delimiter=";", header=False)
    transform = rb.CsvTransform.load(tmp_path / "out" / "etl")
    assert transform.schema == train.schema
    again = transform.transform(first)  # the import's overrides were saved with it
    for name in ["user", "city", "clicked"]:
        np.testing.assert_array_equal(again[name], train[name])
    later = transform.transform(write(tmp_path / "later.csv", ["u2;paris;0", "u9;lima;1"]))
    user_ids = dict(zip(["u1", "u2"], train["user"][:2].tolist()))
    np.testing.assert_array_equal(later["user"], [user_ids["u2"], 2])  # u9 unseen: OOV
    np.testing.assert_array_equal(later["city"], [train["city"][0], 2])


def test_synthetic_criteo_table_sizes_and_zipf_exponent(tmp_path):
    small, _ = rb.synthetic_criteo(tmp_path / "small", rows=500, table_sizes=[4] * 26)
    for name in CATEGORICAL:
        assert small[name].max() <= 2 + 4 and small.schema[name].cardinality == 3 + 4
    with pytest.raises(ValueError, match="synthetic criteo: 3 table sizes, expected 26"):
        rb.synthetic_criteo(tmp_path / "bad", rows=10, table_sizes=[4, 4, 4])

    def top_share(zipf):
        data, _ = rb.synthetic_criteo(tmp_path / f"z{zipf}", rows=2000, max_table_size=1000,
                                      zipf_exponent=zipf)
        ids = data["C4"][data["C4"] > 2]
        return np.bincount(ids).max() / len(ids)

    assert top_share(2.0) > 2 * top_share(0.2)


def test_synthetic_movielens_min_ratings_per_user(tmp_path):
    def ratings_per_user(folder, **options):
        rb.synthetic_movielens(folder, users=100, movies=400, ratings=3000, seed=2, **options)
        users = [line.split("::")[0] for line in (folder / "ratings.dat").read_text().splitlines()]
        return np.unique(users, return_counts=True)[1]

    assert ratings_per_user(tmp_path / "few", min_ratings_per_user=1).min() < 25
    assert ratings_per_user(tmp_path / "many", min_ratings_per_user=25).min() >= 25
    with pytest.raises(ValueError, match="power law .* exponent -1"):
        rb.synthetic_movielens(tmp_path / "bad", users=5, movies=10, ratings=30,
                               zipf_exponent=-1.0)


def test_synthetic_from_schema_positive_rate(tmp_path):
    schema = rb.Schema([
        rb.ColumnSchema("item", "int32", ["categorical", "item_id"]).with_domain(0, 50),
        rb.ColumnSchema("clicked", "int32", ["target", "binary_classification"]),
    ])
    rare, _ = rb.synthetic(schema, tmp_path / "rare", rows=4000, positive_rate=0.1)
    common, _ = rb.synthetic(schema, tmp_path / "common", rows=4000, positive_rate=0.8)
    assert rare["clicked"].mean() < 0.25 < 0.65 < common["clicked"].mean()
    with pytest.raises(ValueError, match="synthetic: positive_rate 1.5, expected in \\(0, 1\\)"):
        rb.synthetic(schema, tmp_path / "bad", rows=10, positive_rate=1.5)
