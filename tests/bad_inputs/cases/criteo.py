"""`recblocks data criteo`: bad Criteo files (the original TSV, the CSV with a
header).

Each error names the file, the line, the column (number and name) and the
value, and says what was expected; nothing is imported.
"""
import pathlib

from corpus import Case, fifo

NAMES = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]


def row(sep="\t", **fields) -> str:
    """One good row (label 1, I* = 3, C* = 68fd1e64), with some fields replaced."""
    values = {"label": "1", **{f"I{i}": "3" for i in range(1, 14)},
              **{f"C{i}": "68fd1e64" for i in range(1, 27)}}
    values.update(fields)
    return sep.join(values[n] for n in NAMES) + "\n"


GOOD = row() + row(label="0", I2="", C3="") + row(I1="12", C1="0a1b2c3d")


def no_output(work: pathlib.Path):
    if (work / "out" / "train").exists():
        return "a refused import wrote out/train"
    return None


def criteo(name, text, words, extra=(), exit=1, **kw):
    argv = ["data", "criteo", "--input", "{dir}/day.tsv", "--out", "{dir}/out", *extra]
    return Case(name, argv, exit=exit, words=words, files={"day.tsv": text},
                check=no_output if exit != 0 else None, **kw)


def field_case(name, column, value, expected):
    """`value` in `column` of line 3."""
    number = NAMES.index(column) + 1
    return criteo(name, row() + row() + row(**{column: value}) + row(),
                  ["{dir}/day.tsv:3", f"column {number} ({column})", f"expected {expected}",
                   f"found '{value}'"])


INTEGER = "an integer or an empty field"
HEX = "8 hexadecimal digits or an empty field"

CASES = [
    # Labels outside {0, 1}.
    field_case("criteo_label_2", "label", "2", "0 or 1"),
    field_case("criteo_label_minus_1", "label", "-1", "0 or 1"),
    field_case("criteo_label_fraction", "label", "0.5", "0 or 1"),
    field_case("criteo_label_nan", "label", "nan", "0 or 1"),
    field_case("criteo_label_word", "label", "yes", "0 or 1"),
    criteo("criteo_label_empty", row(label=""),
           ["{dir}/day.tsv:1", "column 1 (label)", "expected 0 or 1", "found ''"]),
    # Integer features: not finite, not integers, out of range.
    field_case("criteo_dense_nan", "I1", "nan", INTEGER),
    field_case("criteo_dense_inf", "I5", "inf", INTEGER),
    field_case("criteo_dense_minus_inf", "I13", "-inf", INTEGER),
    field_case("criteo_dense_overflow_double", "I2", "1e400", INTEGER),
    field_case("criteo_dense_overflow_int64", "I3", "99999999999999999999", INTEGER),
    field_case("criteo_dense_fraction", "I4", "1.5", INTEGER),
    field_case("criteo_dense_word", "I6", "many", INTEGER),
    # Categorical features: 8 hexadecimal digits.
    field_case("criteo_cat_not_hex", "C1", "zzzzzzzz", HEX),
    field_case("criteo_cat_nine_digits", "C26", "68fd1e641", HEX),
    field_case("criteo_cat_short", "C7", "68fd", HEX),
    # Wrong field counts and truncated rows.
    criteo("criteo_39_fields", row() + row().replace("\t68fd1e64\n", "\n"),
           ["{dir}/day.tsv:2", "expected 40 fields", "separated by tabs", "found 39"]),
    criteo("criteo_41_fields", row().replace("\n", "\textra\n"),
           ["{dir}/day.tsv:1", "expected 40 fields", "found 41"]),
    criteo("criteo_truncated_last_line", GOOD + "1\t2\t3",
           ["{dir}/day.tsv:4", "expected 40 fields", "found 3"]),
    # One field: not a number, so a header, of one column.
    criteo("criteo_spaces_not_tabs", row().replace("\t", " "),
           ["{dir}/day.tsv:1", "header has 1 columns", "expected the 40 columns"],
           extra=["--format", "tsv"]),
    # Empty files.
    criteo("criteo_empty_file", "", ["{dir}/day.tsv", "empty file", "label, I1..I13, C1..C26"]),
    criteo("criteo_blank_lines", "\n\n", ["no training rows", "{dir}/day.tsv"]),
    criteo("criteo_header_only", ",".join(NAMES) + "\n", ["no training rows", "{dir}/day.tsv"]),
    # CSV headers: duplicates, unknown names, the wrong count.
    criteo("criteo_duplicate_header", ",".join(NAMES[:-1] + ["C1"]) + "\n" + row(","),
           ["{dir}/day.tsv:1", "column 40", "header name 'C1' appears twice"]),
    criteo("criteo_unknown_header", ",".join(NAMES[:-1] + ["click"]) + "\n" + row(","),
           ["{dir}/day.tsv:1", "column 40", "unknown header name 'click'", "expected one of"]),
    criteo("criteo_header_39_columns", ",".join(NAMES[:-1]) + "\n" + row(","),
           ["{dir}/day.tsv:1", "header has 39 columns", "expected the 40 columns"]),
    criteo("criteo_huge_header_name", ",".join(NAMES[:-1] + ["C" * 1_000_000]) + "\n" + row(","),
           ["{dir}/day.tsv:1", "column 40", "unknown header name", "(1000000 bytes)"]),
    # Byte order marks and CRLF: read as the plain file.
    criteo("criteo_bom_tsv", "\ufeff" + GOOD, ["train", "3 rows, 40 columns"], exit=0),
    criteo("criteo_bom_csv_header", "\ufeff" + ",".join(NAMES) + "\n" + row(",") + row(","),
           ["train", "2 rows, 40 columns"], exit=0),
    criteo("criteo_crlf", GOOD.replace("\n", "\r\n"), ["train", "3 rows, 40 columns"], exit=0),
    criteo("criteo_crlf_bad_line", (GOOD + row(label="7")).replace("\n", "\r\n"),
           ["{dir}/day.tsv:4", "column 1 (label)", "expected 0 or 1", "found '7'"]),
    # Overlong and binary fields: an excerpt, escaped.
    criteo("criteo_overlong_field", row() + row(C2="f" * 3_000_000),
           ["{dir}/day.tsv:2", "column 16 (C2)", HEX, "(3000000 bytes)"]),
    criteo("criteo_control_bytes", row(I1="\x01\x02"),
           ["{dir}/day.tsv:1", "column 2 (I1)", INTEGER, "found '\\x01\\x02'"]),
    Case("criteo_invalid_utf8",
         ["data", "criteo", "--input", "{dir}/day.tsv", "--out", "{dir}/out"],
         words=["{dir}/day.tsv:1", "column 15 (C1)", HEX, "found '\\xFF\\xFE\\xFD'"],
         files={"day.tsv": row(C1="@").encode().replace(b"@", b"\xff\xfe\xfd")},
         check=no_output),
    criteo("criteo_error_past_many_rows", row() * 5000 + row(I9="x") + row() * 100,
           ["{dir}/day.tsv:5001", "column 10 (I9)", INTEGER, "found 'x'"]),
    # Special files.
    Case("criteo_input_fifo", ["data", "criteo", "--input", "{dir}/day.tsv", "--out", "{dir}/out"],
         words=["{dir}/day.tsv", "is a FIFO", "expected a regular file"], files={"day.tsv": fifo}, timeout=20),
    Case("criteo_valid_input_fifo",
         ["data", "criteo", "--input", "{dir}/day.tsv", "--valid-input", "{dir}/valid.tsv",
          "--out", "{dir}/out"],
         words=["{dir}/valid.tsv", "is a FIFO", "expected a regular file"],
         files={"day.tsv": GOOD, "valid.tsv": fifo}, timeout=20),
]
