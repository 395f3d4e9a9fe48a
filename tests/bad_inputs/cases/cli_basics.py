"""Command-line basics: unknown commands, models and directories."""
from corpus import Case

CASES = [
    Case("no_such_command", ["frobnicate"], exit=109, words=["frobnicate"]),
    Case("evaluate_missing_model", ["evaluate", "--model", "{dir}/nothing", "--data", "{good}/valid"],
         words=["nothing", "no such model directory"]),
    Case("train_unknown_preset", ["train", "--data", "{good}", "--model", "nope", "--no-progress"],
         words=["--model nope", "not a preset"]),
    Case("train_missing_data", ["train", "--data", "{dir}/absent", "--out", "{dir}/m", "--no-progress"],
         words=["absent"]),
]

# An unknown --target throws while a preset's options are built: under GCC 12
# an exception leaving an aggregate initializer freed a member twice (issue
# 20's "free(): double free"), so each preset builds its blocks and tasks first.
for _preset in ["dlrm", "dcn", "deepfm", "wide_deep", "ncf", "mmoe", "ple", "mlp"]:
    CASES.append(Case(f"train_{_preset}_unknown_target",
                      ["train", "--data", "{good}", "--model", _preset, "--target", "nope",
                       "--out", "{dir}/m", "--no-progress"],
                      words=["--target nope", "not a target column"]))
CASES.append(Case("train_architecture_file_zero_units",
                  ["train", "--data", "{good}", "--model", "{dir}/arch.json", "--out", "{dir}/m",
                   "--no-progress"],
                  words=["arch.json", "layer 0 has 0 units"],
                  files={"arch.json": '{"architecture": {"type": "MLPBlock", "config": {"dimensions": [0]}}}'}))
