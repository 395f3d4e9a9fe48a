"""schema.json of a dataset directory: not JSON, numbers beyond a double,
domains beyond what a table or the column's dtype can hold, wrong types,
unknown keys and dtypes. Each case is a copy of {good}/valid with its
schema.json changed, read by `evaluate`."""
from corpus import Case
from fixture_edits import copy_of, edit_json, edit_text, replace


def schema_case(name, edit, words, **kwargs):
    return Case(name, ["evaluate", "--model", "{model}", "--data", "{dir}/d", "--no-progress"],
                words=["schema.json"] + words, files={"d": copy_of("good", "valid", edit)},
                **kwargs)


def column(name):
    """An edit of column `name`'s JSON object in schema.json."""
    def make(change):
        def edit(schema):
            for c in schema["columns"]:
                if c["name"] == name:
                    change(c)
        return edit_json("schema.json", edit)
    return make


def set_key(key, value):
    def change(c):
        c[key] = value
    return change


def set_domain_max(value):
    def change(c):
        c["domain"]["max"] = value
    return change


def raw_domain_max(text):
    """C1's domain max written as `text` verbatim (JSON that Python's json
    module would not write: 1e400, huge integers)."""
    return edit_text("schema.json", lambda s: s.replace('"max": 502', '"max": ' + text, 1))


CASES = [
    schema_case("schema_empty_file", replace("schema.json", ""),
                ["not valid JSON at line 1, column 1"]),
    schema_case("schema_not_json", replace("schema.json", "columns: [label, I1]\n"),
                ["not valid JSON at line 1", "invalid literal"]),
    schema_case("schema_truncated", edit_text("schema.json", lambda s: s[: len(s) // 2]),
                ["not valid JSON at line"]),
    schema_case("schema_binary_garbage", replace("schema.json", b"\x00\xff\xfe{\x1b[2J"),
                ["not valid JSON at line 1"]),
    schema_case("schema_domain_1e400", raw_domain_max("1e400"),
                ["not valid JSON at line", "column", "number overflow", "1e400"]),
    schema_case("schema_domain_int64_max", raw_domain_max("9223372036854775807"),
                ["column 'C1'", "domain max 9223372036854775807 is too large",
                 "at most 2147483647", "int32"]),
    schema_case("schema_domain_2_pow_58_minus_1", raw_domain_max("288230376151711743"),
                ["column 'C1'", "domain max 288230376151711743 is too large", "at most 2147483647"]),
    schema_case("schema_domain_1e12", raw_domain_max("1e12"),
                ["column 'C1'", "domain max 1000000000000 is too large"]),
    schema_case("schema_domain_beyond_uint64", raw_domain_max("99999999999999999999999"),
                ["column 'C1'", "expected an integer"]),
    schema_case("schema_domain_2_pow_63", raw_domain_max("9223372036854775808"),
                ["column 'C1'", "9223372036854775808 is too large", "expected an integer up to"]),
    schema_case("schema_domain_fraction", column("C1")(set_domain_max(10.5)),
                ["column 'C1'", "expected an integer, got 10.5"]),
    schema_case("schema_domain_string", column("C1")(set_domain_max("lots")),
                ["column 'C1'", "expected an integer, got \"lots\""]),
    schema_case("schema_domain_min_above_max", column("C1")(set_key("domain", {"min": 9, "max": 2})),
                ["column 'C1'", "domain min 9 > max 2"]),
    schema_case("schema_domain_unknown_key",
                column("C1")(set_key("domain", {"min": 0, "max": 502, "maximum": 9})),
                ["column 'C1' domain", "unknown key 'maximum'", "expected one of: min, max, name"]),
    schema_case("schema_domain_on_a_float_column",
                column("I3")(set_key("domain", {"min": 0, "max": 5})),
                ["column 'I3'", "an integer domain needs an int32 or int64 column, got float32"]),
    schema_case("schema_unknown_dtype", column("I3")(set_key("dtype", "float64")),
                ["column 'I3'", "unknown dtype 'float64'", "expected float32, int32, int64"]),
    schema_case("schema_dtype_not_a_string", column("I3")(set_key("dtype", 32)),
                ["unexpected JSON value", "string"]),
    schema_case("schema_unknown_column_key", column("I3")(set_key("dtyp", "float32")),
                ["columns[3]", "unknown key 'dtyp'", "expected one of"]),
    schema_case("schema_missing_name", edit_json("schema.json", lambda s: s["columns"][2].pop("name")),
                ["columns[2]", "missing key 'name'"]),
    schema_case("schema_embedding_dim_zero", column("C1")(set_key("embedding_dim", 0)),
                ["column 'C1'", "embedding dim must be > 0, got 0"]),
    schema_case("schema_version_7", edit_json("schema.json", lambda s: s.update(version=7)),
                ["schema format version 7 is not supported", "reads version 1"]),
    schema_case("schema_not_a_schema", edit_json("schema.json", lambda s: s.update(format="x")),
                ["not a schema file", "\"format\": \"recblocks.schema\""]),
    schema_case("schema_columns_not_an_array",
                edit_json("schema.json", lambda s: s.update(columns={"I3": "float32"})),
                ["'columns' must be an array"]),
    schema_case("schema_top_level_array", replace("schema.json", "[1, 2, 3]"),
                ["expected a JSON object at the top level"]),
    schema_case("schema_duplicate_column",
                edit_json("schema.json", lambda s: s["columns"].append(dict(s["columns"][3]))),
                ["duplicate column 'I3'"]),
    schema_case("schema_duplicate_key",
                edit_text("schema.json", lambda s: s.replace('"name": "I3"',
                                                             '"name": "I3", "name": "I4"', 1)),
                ["the key 'name' appears twice", "expected each key once"]),
    schema_case("schema_unknown_tag", column("I3")(set_key("tags", ["continuous", "sparkly"])),
                ["sparkly"]),
    schema_case("schema_dtype_disagrees_with_file", column("I3")(set_key("dtype", "int32")),
                ["I3.npy", "column 'I3'", "has dtype float32", "expects int32"]),
    schema_case("schema_column_without_a_file",
                edit_json("schema.json", lambda s: s["columns"].append(
                    {"name": "extra", "dtype": "float32", "tags": ["continuous"]})),
                ["extra.npy", "missing file for column 'extra'"]),
]
