"""`recblocks data csv`: bad CSV/TSV files and bad schema files.

Each error names the file, the line, the column and the value, and says
what was expected; nothing is written to --out.
"""
import json
import pathlib

from corpus import Case, fifo

# A schema of one column of each kind: categorical, continuous, binary target.
SCHEMA = json.dumps({"columns": [
    {"name": "user", "tags": ["categorical", "user_id"]},
    {"name": "price", "tags": ["continuous"]},
    {"name": "clicked", "tags": ["target", "binary_classification"]},
]})
HEADER = "user,price,clicked\n"
GOOD_ROWS = "u1,1.5,1\nu2,2.5,0\n"


def schema_with(**changes) -> str:
    """SCHEMA with some columns' keys changed: schema_with(price={"dtype": "int32"})."""
    columns = json.loads(SCHEMA)["columns"]
    for c in columns:
        c.update(changes.get(c["name"], {}))
    return json.dumps({"columns": columns})


def no_output(work: pathlib.Path):
    """A refused import leaves no dataset behind."""
    if (work / "out" / "train").exists():
        return "a refused import wrote out/train"
    return None


def csv(name, text, words, schema=SCHEMA, extra=(), exit=1, check=no_output, **kw):
    files = {"in.csv": text, "s.json": schema}
    argv = ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/s.json",
            "--out", "{dir}/out", *extra]
    return Case(name, argv, exit=exit, words=words, files=files,
                check=check if exit != 0 else None, **kw)


def value_case(name, value, words, column="price", schema=SCHEMA):
    """The value `value` in column `column` of the second data row (line 3)."""
    row = {"user": "u3", "price": "3.5", "clicked": "1"}
    row[column] = value
    text = HEADER + "u1,2,1\n" + ",".join(row[c] for c in ("user", "price", "clicked")) + "\n"
    return csv(name, text, ["{dir}/in.csv:3", *words], schema=schema)


PRICE = ["column 2", "'price'"]
CLICKED = ["column 3", "'clicked'"]
FINITE = "expected a finite float32 number"

CASES = [
    # Non-finite and out-of-range continuous values (imported as such before).
    value_case("csv_nan", "nan", [*PRICE, FINITE, "found 'nan'"]),
    value_case("csv_nan_upper", "NaN", [*PRICE, FINITE, "found 'NaN'"]),
    value_case("csv_inf", "inf", [*PRICE, FINITE, "found 'inf'"]),
    value_case("csv_minus_inf", "-inf", [*PRICE, FINITE, "found '-inf'"]),
    value_case("csv_plus_infinity", "+Infinity", [*PRICE, FINITE, "found '+Infinity'"]),
    value_case("csv_overflow_double", "1e400", [*PRICE, FINITE, "found '1e400'"]),
    value_case("csv_overflow_float32", "1e39", [*PRICE, FINITE, "found '1e39'"]),
    value_case("csv_negative_overflow_float32", "-4e38", [*PRICE, FINITE, "found '-4e38'"]),
    value_case("csv_not_a_number", "abc", [*PRICE, "expected a number", "found 'abc'"]),
    value_case("csv_number_with_unit", "3.5EUR", [*PRICE, "expected a number", "found '3.5EUR'"]),
    value_case("csv_missing_value", "", [*PRICE, "missing value", "expected a number", "fill"]),
    value_case("csv_regression_target_nan", "nan", ["column 3", "'clicked'", FINITE],
               column="clicked",
               schema=schema_with(clicked={"tags": ["target", "regression"]})),
    value_case("csv_int32_overflow", "3000000000",
               [*PRICE, "expected an int32 integer", "found '3000000000'"],
               schema=schema_with(price={"dtype": "int32"})),
    value_case("csv_int32_fraction", "2.5", [*PRICE, "expected an int32 integer", "found '2.5'"],
               schema=schema_with(price={"dtype": "int32"})),
    # Targets outside their declared domain: a binary target is 0 or 1.
    value_case("csv_binary_target_2", "2", [*CLICKED, "expected 0 or 1", "found '2'"],
               column="clicked"),
    value_case("csv_binary_target_minus_1", "-1", [*CLICKED, "expected 0 or 1", "found '-1'"],
               column="clicked"),
    value_case("csv_binary_target_fraction", "0.5", [*CLICKED, "expected 0 or 1", "found '0.5'"],
               column="clicked"),
    value_case("csv_binary_target_word", "yes", [*CLICKED, "expected 0 or 1", "found 'yes'"],
               column="clicked"),
    value_case("csv_binary_float32_target_2", "2.0", [*CLICKED, "expected 0 or 1", "found '2.0'"],
               column="clicked", schema=schema_with(clicked={"dtype": "float32"})),
    value_case("csv_binary_float32_target_nan", "nan", [*CLICKED, FINITE, "found 'nan'"],
               column="clicked", schema=schema_with(clicked={"dtype": "float32"})),
    # Header names: duplicates (the first one was read without a word), absent ones.
    csv("csv_duplicate_header_read", "user,user,price,clicked\nu1,u9,1.5,1\n",
        ["{dir}/in.csv:1", "column 2", "header name 'user' appears twice", "also column 1",
         "unique"]),
    csv("csv_duplicate_header_unread", HEADER.strip() + ",note,note\nu1,1.5,1,a,b\n",
        ["{dir}/in.csv:1", "column 5", "'note' appears twice", "also column 4"]),
    csv("csv_header_lacks_column", "user,cost,clicked\nu1,1.5,1\n",
        ["{dir}/in.csv:1", "column 'price' is not in the header", "user, cost, clicked"]),
    csv("csv_tsv_read_as_csv", "user\tprice\tclicked\nu1\t1.5\t1\n",
        ["{dir}/in.csv:1", "'user' is not in the header"]),
    csv("csv_huge_header_name", "user,price,clicked," + "h" * 1_000_000 + "\nu1,1.5,1,x\n",
        ["{dir}/in.csv:1", "column 'missing' is not in the header", "bytes)"],
        schema=json.dumps({"columns": [{"name": "missing", "tags": ["continuous"]}]})),
    # Rows of the wrong shape.
    csv("csv_too_few_fields", HEADER + "u1,1.5,1\nu2,2.5\n",
        ["{dir}/in.csv:3", "expected 3 fields (as the header), found 2"]),
    csv("csv_too_many_fields", HEADER + "u1,1.5,1,extra\n",
        ["{dir}/in.csv:2", "expected 3 fields (as the header), found 4"]),
    csv("csv_truncated_last_row", HEADER + "u1,1.5,1\nu2,",
        ["{dir}/in.csv:3", "expected 3 fields (as the header), found 2"]),
    csv("csv_unterminated_quote", HEADER + "\"u1,1.5,1\nu2,2.5,0\n",
        ["{dir}/in.csv:2", "unterminated quoted field"]),
    csv("csv_text_after_closing_quote", HEADER + "\"u1\"x,1.5,1\n",
        ["{dir}/in.csv:2", "after a closing quote", "found 'x'"]),
    csv("csv_no_header_too_few_fields", "u1,1.5,1\nu2\n",
        ["{dir}/in.csv:2", "expected at least 3 fields, found 1"], extra=["--no-header"]),
    # Empty files.
    csv("csv_empty_file", "", ["{dir}/in.csv", "empty file, expected a header line"]),
    csv("csv_header_only", HEADER, ["{dir}/in.csv", "no data rows"]),
    csv("csv_blank_lines_only", HEADER + "\n\n\r\n", ["{dir}/in.csv", "no data rows"]),
    # Line endings and byte order marks: read as the plain file.
    csv("csv_bom_header", "\ufeff" + HEADER + GOOD_ROWS, ["train", "2 rows, 3 columns"], exit=0),
    csv("csv_crlf", (HEADER + GOOD_ROWS).replace("\n", "\r\n"), ["train", "2 rows, 3 columns"],
        exit=0),
    csv("csv_crlf_nan_line_number", (HEADER + "u1,1.5,1\nu2,nan,0\n").replace("\n", "\r\n"),
        ["{dir}/in.csv:3", *PRICE, FINITE, "found 'nan'"]),
    csv("csv_lone_cr_in_number", HEADER + "u1,1\r5,1\n",
        ["{dir}/in.csv:2", *PRICE, "expected a number", "\\x0D"]),
    # Overlong, binary and non-UTF-8 values: an excerpt, escaped.
    csv("csv_overlong_value", HEADER + "u1," + "9" * 2_000_000 + "x,1\n",
        ["{dir}/in.csv:2", *PRICE, "expected a number", "(2000001 bytes)"]),
    csv("csv_overlong_line_binary", HEADER + "u1,1.5,1\nu2," + "\x01" * 500_000 + ",1\n",
        ["{dir}/in.csv:3", *PRICE, "\\x01\\x01", "(500000 bytes)"]),
    csv("csv_control_byte_value", HEADER + "u1,1.5\x07,1\n",
        ["{dir}/in.csv:2", *PRICE, "found '1.5\\x07'"]),
    Case("csv_invalid_utf8_value",
         ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/s.json", "--out", "{dir}/out"],
         words=["{dir}/in.csv:2", *PRICE, "found '\\xFF\\xFE'"],
         files={"in.csv": HEADER.encode() + b"u1,\xff\xfe,1\n", "s.json": SCHEMA},
         check=no_output),
    # Special files and missing files.
    Case("csv_input_fifo",
         ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/s.json", "--out", "{dir}/out"],
         words=["{dir}/in.csv", "is a FIFO", "expected a regular file"],
         files={"in.csv": fifo, "s.json": SCHEMA}, timeout=20),
    Case("csv_schema_fifo",
         ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/s.json", "--out", "{dir}/out"],
         words=["{dir}/s.json", "is a FIFO", "expected a regular file"],
         files={"in.csv": HEADER + GOOD_ROWS, "s.json": fifo}, timeout=20),
    # Bad schema files.
    csv("csv_schema_not_json", HEADER + GOOD_ROWS, ["{dir}/s.json", "not valid JSON at byte"],
        schema='{"columns": [}'),
    csv("csv_schema_number_overflow", HEADER + GOOD_ROWS, ["{dir}/s.json", "not valid JSON", "1e400"],
        schema='{"columns": [{"name": "price", "tags": ["continuous"], "embedding_dim": 1e400}]}'),
    csv("csv_schema_unknown_key", HEADER + GOOD_ROWS,
        ["{dir}/s.json", "columns[1]", "unknown key 'tag'", "expected one of"],
        schema='{"columns": [{"name": "user", "tags": ["categorical"]},'
               ' {"name": "price", "tag": ["continuous"]}]}'),
    csv("csv_schema_source_index_too_big", HEADER + GOOD_ROWS,
        ["{dir}/s.json", "source", "expected an integer", "18446744073709551615"],
        schema='{"columns": [{"name": "price", "tags": ["continuous"], '
               '"source": 18446744073709551615}]}'),
    csv("csv_schema_source_index_beyond_fields", "1.5,1\n",
        ["{dir}/in.csv:1", "expected at least 8 fields, found 2"], extra=["--no-header"],
        schema='{"columns": [{"name": "price", "tags": ["continuous"], "source": 7}]}'),
    csv("csv_schema_embedding_dim_zero", HEADER + GOOD_ROWS,
        ["{dir}/s.json", "embedding_dim: 0, expected >= 1"],
        schema=schema_with(user={"embedding_dim": 0})),
    csv("csv_schema_fill_nan", HEADER + "u1,,1\n", ["{dir}/in.csv:2", *PRICE, FINITE, "'nan'"],
        schema=schema_with(price={"fill": "nan"})),
    csv("csv_schema_duplicate_column", HEADER + GOOD_ROWS,
        ["{dir}/s.json", "column name 'user' appears twice"],
        schema='{"columns": [{"name": "user", "tags": ["categorical"]},'
               ' {"name": "user", "tags": ["categorical"]}]}'),
    csv("csv_schema_long_string_value", HEADER + GOOD_ROWS,
        ["{dir}/s.json", "dtype", "expected \"float32\" or \"int32\"", "bytes)"],
        schema=schema_with(price={"dtype": "f" * 100_000})),
]
