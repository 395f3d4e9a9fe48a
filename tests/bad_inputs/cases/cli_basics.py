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
