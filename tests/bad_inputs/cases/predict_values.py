"""Non-finite feature values at evaluate and predict time: refused by
default with the column and the row, scored as they are with
--allow-non-finite. Each case is a copy of {good}/valid with values
changed."""
import numpy as np

from corpus import Case
from fixture_edits import copy_of, edit_array, edit_json

NAN, INF = float("nan"), float("inf")


def setting(column, row, value):
    def change(a):
        a[row] = value
    return edit_array(column + ".npy", change)


def evaluate(name, edits, words, extra=(), exit=1, check=None):
    return Case(name, ["evaluate", "--model", "{model}", "--data", "{dir}/d", "--no-progress",
                       *extra],
                exit=exit, words=words, files={"d": copy_of("good", "valid", *edits)}, check=check)


def predict(name, edits, words, extra=(), exit=1, check=None):
    return Case(name, ["predict", "--model", "{model}", "--data", "{dir}/d", "--out", "{dir}/p",
                       *extra],
                exit=exit, words=words, files={"d": copy_of("good", "valid", *edits)}, check=check)


def no_output(work):
    return "predict wrote {dir}/p despite the error" if (work / "p").exists() else None


def has_output(work):
    return None if (work / "p" / "schema.json").exists() else "no dataset written to {dir}/p"


CASES = [
    evaluate("evaluate_nan_feature", [setting("I3", 5, NAN)],
             ["evaluate: column 'I3'", "/d", "is nan at row 5", "--allow-non-finite"]),
    evaluate("evaluate_inf_feature", [setting("I7", 0, INF)],
             ["column 'I7'", "is inf at row 0", "finite"]),
    evaluate("evaluate_negative_inf_feature", [setting("I13", 599, -INF)],
             ["column 'I13'", "is -inf at row 599", "finite"]),
    evaluate("evaluate_nan_in_two_columns_names_the_first", [setting("I9", 3, NAN),
                                                             setting("I2", 400, NAN)],
             ["column 'I2'", "is nan at row 400"]),
    evaluate("evaluate_float64_file_beyond_float32", [
        edit_array("I4.npy", lambda a: np.where(np.arange(a.size) == 42, 1e39, a).astype("<f8"))],
             ["column 'I4'", "is inf at row 42"]),
    evaluate("evaluate_allow_non_finite_scores_anyway", [setting("I3", 5, NAN)], ["loss"],
             extra=["--allow-non-finite"], exit=0),
    predict("predict_nan_feature", [setting("I1", 17, NAN)],
            ["predict: column 'I1'", "is nan at row 17", "--allow-non-finite"], check=no_output),
    predict("predict_inf_feature", [setting("I5", 250, INF)],
            ["column 'I5'", "is inf at row 250"], check=no_output),
    predict("predict_negative_inf_feature", [setting("I11", 1, -INF)],
            ["column 'I11'", "is -inf at row 1"], check=no_output),
    predict("predict_allow_non_finite_writes_the_scores", [setting("I1", 17, NAN)],
            ["wrote 600 rows"], extra=["--allow-non-finite"], exit=0, check=has_output),
    # A column the model does not read may hold anything.
    predict("predict_nan_in_a_column_the_model_does_not_read", [
        lambda root: (root / "extra.npy").write_bytes((root / "I1.npy").read_bytes()),
        edit_array("extra.npy", lambda a: np.full_like(a, NAN)),
        edit_json("schema.json", lambda s: s["columns"].append(
            {"name": "extra", "dtype": "float32", "tags": ["continuous"], "is_list": False,
             "is_ragged": False, "properties": {}})),
    ], ["wrote 600 rows"], exit=0, check=has_output),
]
