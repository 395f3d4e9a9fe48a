"""schema.json of a dataset directory: not JSON, numbers beyond a double,
domains beyond what a table or the column's dtype can hold, wrong types,
unknown keys and dtypes. Each case is a copy of {good}/valid with its
schema.json changed, read by `evaluate`.

Merlin's schema.pbtxt (protobuf text format), read by `schema convert`,
`data synthetic --schema` and a dataset directory: cut files, unbalanced
braces, unknown fields and types, numbers beyond 64 bits or a double, deep
nesting, binary junk, broken wire bytes in extra_metadata, a FIFO; each
message names the file, the line and column and what was expected. And
`schema convert`'s --out: never an input, a directory or (without
--overwrite) an existing file, nothing written when Merlin cannot hold the
schema."""
import hashlib

from corpus import Case, fifo
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


# ---- Merlin's schema.pbtxt ------------------------------------------------------------

GOOD_FEATURE = """feature {
  name: "userId"
  type: INT
  int_domain { name: "userId" max: 942 is_categorical: true }
  annotation {
    tag: "user"
    tag: "id"
    tag: "categorical"
  }
}
"""


def feature(body):
    return 'feature {\n  name: "x"\n  ' + body + "\n}\n"


def pbtxt_case(name, text, words, **kwargs):
    """`schema convert` reading `text` as schema.pbtxt."""
    return Case(name, ["schema", "convert", "--input", "{dir}/schema.pbtxt", "--out",
                       "{dir}/out.json"],
                words=["{dir}/schema.pbtxt"] + words, files={"schema.pbtxt": text}, **kwargs)


def unchanged(rel, content):
    digest = hashlib.sha256(content.encode()).hexdigest()

    def check(work):
        path = work / rel
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return f"{rel} was replaced or changed"
        return None
    return check


def not_written(rel):
    def check(work):
        return f"{rel} was written" if (work / rel).exists() else None
    return check


BAD = 105  # CLI11's exit status for a flag value it refuses (cli_flags.py)

RECBLOCKS_SCHEMA = ('{"format": "recblocks.schema", "version": 1, "columns": [{"name": "x", '
                    '"dtype": "float32", "tags": ["continuous", "id"]}]}')

CASES += [
    pbtxt_case("pbtxt_truncated", GOOD_FEATURE[: GOOD_FEATURE.index("annotation")],
               ["not valid protobuf text at line 5, column 3",
                "expected a field name or '}', got end of file"]),
    pbtxt_case("pbtxt_truncated_in_a_string", GOOD_FEATURE[: GOOD_FEATURE.index("Id\"")],
               ["not valid protobuf text at line 2, column 9",
                "the string is not closed on its line"]),
    pbtxt_case("pbtxt_unbalanced_close", GOOD_FEATURE + "}\n",
               ["not valid protobuf text at line 11, column 1", "expected a field name, got '}'"]),
    pbtxt_case("pbtxt_unbalanced_open", GOOD_FEATURE.replace("annotation {", "annotation {{"),
               ["not valid protobuf text at line 5, column 15", "expected a field name, got '{'"]),
    pbtxt_case("pbtxt_missing_colon", feature("type INT"),
               ["line 3, column 8", "expected ':' or '{' after the field name 'type', got 'INT'"]),
    pbtxt_case("pbtxt_unknown_field", feature("int_domian { max: 3 }"),
               ["line 3, column 3", "unknown field 'int_domian' in a feature",
                "expected name, type, int_domain"]),
    pbtxt_case("pbtxt_unknown_top_level_field", "features { name: \"x\" }\n",
               ["line 1, column 1", "unknown field 'features' in tensorflow-metadata's Schema"]),
    pbtxt_case("pbtxt_unknown_type", feature("type: WORD"),
               ["line 3, column 9", "feature 'x'", "unknown type 'WORD'",
                "expected INT, FLOAT, BYTES, STRUCT or TYPE_UNKNOWN"]),
    pbtxt_case("pbtxt_bytes_feature", feature("type: BYTES"),
               ["feature 'x'", "type BYTES has no recblocks dtype"]),
    pbtxt_case("pbtxt_int_beyond_64_bits",
               feature("type: INT int_domain { max: 99999999999999999999 }"),
               ["line 3, column 31", "int_domain max", "'99999999999999999999' is out of range",
                "expected an integer from -9223372036854775808 to 9223372036854775807"]),
    pbtxt_case("pbtxt_int_as_float", feature("type: INT int_domain { max: 1e12 }"),
               ["line 3, column 31", "int_domain max: expected an integer, got '1e12'"]),
    pbtxt_case("pbtxt_domain_beyond_int32",
               feature("type: INT int_domain { max: 1099511627776 }"),
               ["line 3, column 13", "feature 'x'", "domain max 1099511627776 is too large",
                "at most 2147483647", "int32"]),
    pbtxt_case("pbtxt_domain_min_above_max", feature("type: INT int_domain { min: 9 max: 2 }"),
               ["feature 'x'", "domain min 9 > max 2"]),
    pbtxt_case("pbtxt_number_beyond_a_double",
               feature("type: FLOAT float_domain { max: 1e999 }"),
               ["line 3, column 35", "float_domain max: '1e999' is beyond the range of a double"]),
    pbtxt_case("pbtxt_deep_nesting", "a {" * 200_000,
               ["line 1, column 303", "messages nest more than 100 deep"]),
    pbtxt_case("pbtxt_binary_junk", b"\x00\xff\xfe{\x1b[2J",
               ["not valid protobuf text at line 1, column 1", "expected a field name",
                "'\\x00"]),
    pbtxt_case("pbtxt_empty", "", ["no feature in the file"]),
    pbtxt_case("pbtxt_only_comments", "# a schema\n# with nothing in it\n",
               ["no feature in the file"]),
    pbtxt_case("pbtxt_bad_escape", 'feature { name: "a\\qb" }\n',
               ["line 1, column 19", "unknown escape '\\q' in a string"]),
    pbtxt_case("pbtxt_not_utf8", b'feature { name: "\\377" }\n',
               ["line 1, column 17", "feature name: the string '\\xFF' is not valid UTF-8"]),
    pbtxt_case("pbtxt_huge_field_name", "x" * 100_000 + " { }\n",
               ["unknown field 'xxxx", "(100000 bytes)"]),
    pbtxt_case("pbtxt_unknown_tag", feature('type: FLOAT annotation { tag: "sparkly" }'),
               ["line 3, column 33", "feature 'x'", "unknown tag 'sparkly'", "known tags:"]),
    pbtxt_case("pbtxt_conflicting_tags",
               feature('type: FLOAT annotation { tag: "categorical" tag: "continuous" }'),
               ["feature 'x'", "conflicting tags"]),
    pbtxt_case("pbtxt_duplicate_feature", GOOD_FEATURE + GOOD_FEATURE,
               ["duplicate column 'userId'"]),
    pbtxt_case("pbtxt_wire_bytes_cut",
               feature('type: INT annotation { extra_metadata { type_url: '
                       '"type.googleapis.com/google.protobuf.Struct" value: "\\nG\\n" } }'),
               ["line 3, column 105", "not a serialized google.protobuf.Struct",
                "a length of 71 runs past the 1 bytes left"]),
    pbtxt_case("pbtxt_any_of_another_type",
               feature("type: INT annotation { extra_metadata { "
                       "[type.googleapis.com/google.protobuf.Duration] { } } }"),
               ["holds a 'type.googleapis.com/google.protobuf.Duration'",
                "expected a google.protobuf.Struct"]),
    pbtxt_case("pbtxt_bad_dims",
               feature("type: INT annotation { extra_metadata { "
                       "[type.googleapis.com/google.protobuf.Struct] { fields { key: \"_dims\" "
                       "value { string_value: \"2d\" } } } } }"),
               ["feature 'x'", "extra_metadata _dims must be a list"]),
    Case("pbtxt_fifo", ["schema", "convert", "--input", "{dir}/schema.pbtxt", "--out",
                        "{dir}/out.json"],
         words=["schema.pbtxt", "a FIFO (named pipe)", "expected a regular file"],
         files={"schema.pbtxt": fifo}, timeout=10),
    Case("pbtxt_synthetic_schema", ["data", "synthetic", "--schema", "{dir}/schema.pbtxt",
                                    "--out", "{dir}/o", "--rows", "10"],
         words=["{dir}/schema.pbtxt", "line 3, column 9", "unknown type 'WORD'"],
         files={"schema.pbtxt": feature("type: WORD")}),
    Case("pbtxt_in_a_dataset_directory",
         ["evaluate", "--model", "{model}", "--data", "{dir}/d", "--no-progress"],
         words=["d/schema.pbtxt", "not valid protobuf text at line 1, column 1"],
         files={"d": copy_of("good", "valid", replace("schema.json", None),
                             replace("schema.pbtxt", "{ broken"))}),
    # schema convert's output: never destructive.
    Case("convert_out_is_the_input", ["schema", "convert", "--input", "{dir}/schema.pbtxt",
                                      "--out", "{dir}/schema.pbtxt", "--overwrite"],
         words=["--out", "is also this command's --input"],
         files={"schema.pbtxt": GOOD_FEATURE}, check=unchanged("schema.pbtxt", GOOD_FEATURE)),
    Case("convert_out_exists", ["schema", "convert", "--input", "{dir}/schema.pbtxt", "--out",
                                "{dir}/notes.json"],
         words=["--out", "notes.json", "is an existing regular file", "--overwrite"],
         files={"schema.pbtxt": GOOD_FEATURE, "notes.json": "my notes"},
         check=unchanged("notes.json", "my notes")),
    Case("convert_out_is_a_directory", ["schema", "convert", "--input", "{dir}/schema.pbtxt",
                                        "--out", "{dir}/sub", "--overwrite"],
         words=["--out", "sub", "is a directory of other files", "the path of the file to write"],
         files={"schema.pbtxt": GOOD_FEATURE, "sub/keep.txt": "keep"},
         check=unchanged("sub/keep.txt", "keep")),
    Case("convert_merlin_refuses_the_tags",
         ["schema", "convert", "--input", "{dir}/schema.json", "--out", "{dir}/out.pbtxt"],
         words=["column 'x'", "merlin-core refuses the tags 'continuous' and 'id'"],
         files={"schema.json": RECBLOCKS_SCHEMA}, check=not_written("out.pbtxt")),
    Case("convert_unknown_format", ["schema", "convert", "--input", "{dir}/schema.pbtxt",
                                    "--out", "{dir}/o.json", "--format", "parquet"],
         exit=BAD, words=["--format", "parquet"], files={"schema.pbtxt": GOOD_FEATURE},
         check=not_written("o.json")),
]
