"""Outputs are never destructive: an --out (or --checkpoint-dir, or demo's
--data) that is a user's regular file, one of the command's own inputs, a
directory holding one, or a model/dataset directory of another kind is
refused before any work, naming the flag, the path and what is there;
--overwrite allows replacing a file or another kind, never an input. Each
refusal's `check` proves the user's file, data or model is untouched."""
import hashlib
import os
import pathlib
import shutil

from corpus import Case, fifo

NOTES = b"my notes: do not lose them\n"


def copy_of(fixture):
    """A file content that copies a fixture ("good/valid", "model") to the path."""
    def make(path: pathlib.Path) -> None:
        for parent in path.parents:
            source = parent / "fixtures" / fixture
            if source.exists():
                if source.is_dir():
                    shutil.copytree(source, path)
                else:
                    shutil.copyfile(source, path)
                return
        raise FileNotFoundError(f"fixture {fixture}")
    return make


def symlink_to(target):
    def make(path: pathlib.Path) -> None:
        os.symlink(target, path)
    return make


def digest(path: pathlib.Path) -> str:
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def same_as_fixture(rel, fixture):
    """The copy at rel is still byte for byte the fixture it was made from."""
    def check(work: pathlib.Path):
        copy = work / rel
        source = work.parent / "fixtures" / fixture
        if not copy.exists():
            return f"{rel} was removed"
        if digest(copy) != digest(source):
            return f"{rel} was changed"
        return None
    return check


def notes_kept(rel="notes.txt"):
    def check(work: pathlib.Path):
        path = work / rel
        if not path.is_file() or path.read_bytes() != NOTES:
            return f"the user's file {rel} was replaced or changed"
        return None
    return check


def is_model(rel):
    def check(work: pathlib.Path):
        return None if (work / rel / "model.json").is_file() else f"{rel} is no model directory"
    return check


TRAIN = ["train", "--epochs", "1", "--no-progress", "--embedding-dim", "8", "--bottom", "8",
         "--top", "8"]
PREDICT = ["predict", "--model", "{model}", "--data", "{good}/valid"]
CSV_SCHEMA = ('{"delimiter": ",", "header": true, "columns": ['
              '{"name": "userId", "tags": ["categorical", "user_id"]},'
              '{"name": "clicked", "tags": ["target", "binary_classification"]}]}')
CSV = {"in.csv": "userId,clicked\nu1,1\nu2,0\nu3,1\n", "in.json": CSV_SCHEMA}
CRITEO = "0\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13" + "\t68fd1e64" * 26 + "\n"
ANY_INPUT = "never replaces an input"

CASES = [
    # A regular file at --out: train and demo replaced it with a model directory.
    Case("train_out_regular_file", [*TRAIN, "--data", "{good}", "--out", "{dir}/notes.txt"],
         words=["--out", "notes.txt", "an existing regular file", "--overwrite"],
         files={"notes.txt": NOTES}, check=notes_kept()),
    Case("train_default_out_regular_file", [*TRAIN, "--data", "{good}"],
         words=["--out", "'model'", "an existing regular file"],
         files={"model": NOTES}, check=notes_kept("model")),
    Case("train_out_regular_file_overwrite",
         [*TRAIN, "--data", "{good}", "--out", "{dir}/notes.txt", "--overwrite"], exit=0,
         words=["saved the model"], files={"notes.txt": NOTES}, check=is_model("notes.txt"),
         timeout=120),
    Case("demo_out_regular_file",
         ["demo", "--synthetic", "--ratings", "3000", "--epochs", "1", "--data", "{dir}/d",
          "--out", "{dir}/notes.txt"],
         words=["--out", "notes.txt", "an existing regular file"],
         files={"notes.txt": NOTES}, check=notes_kept()),
    Case("demo_data_regular_file",
         ["demo", "--synthetic", "--ratings", "3000", "--epochs", "1", "--data", "{dir}/notes.txt",
          "--out", "{dir}/m"],
         words=["--data", "notes.txt", "an existing regular file"],
         files={"notes.txt": NOTES}, check=notes_kept()),
    Case("demo_out_is_data", ["demo", "--synthetic", "--ratings", "3000", "--epochs", "1",
                              "--data", "{dir}/data", "--out", "{dir}/data"],
         words=["--out", "is also this command's --data", ANY_INPUT],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    # An input of the same command: the training data, the model, the queries.
    Case("train_out_is_data", [*TRAIN, "--data", "{dir}/data", "--out", "{dir}/data"],
         words=["--out", "is also this command's --data", ANY_INPUT],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    Case("train_out_is_data_overwrite",
         [*TRAIN, "--data", "{dir}/data", "--out", "{dir}/data", "--overwrite"],
         words=["is also this command's --data", ANY_INPUT],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    Case("train_out_is_train", [*TRAIN, "--train", "{dir}/data/train", "--out", "{dir}/data/train"],
         words=["--out", "is also this command's --train"],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    Case("train_out_is_derived_train", [*TRAIN, "--data", "{dir}/data", "--out", "{dir}/data/valid"],
         words=["--out", "--data (valid/)"],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    Case("train_out_holds_train",
         [*TRAIN, "--train", "{dir}/data/train", "--valid", "{dir}/data/valid", "--out",
          "{dir}/data", "--overwrite"],
         words=["--out", "holds this command's --train", "data/train", ANY_INPUT],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    Case("train_out_is_data_trailing_slash",
         [*TRAIN, "--data", "{dir}/data", "--out", "{dir}/data/"],
         words=["is also this command's --data"],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    Case("train_out_is_data_through_dotdot",
         [*TRAIN, "--data", "{dir}/data", "--out", "{dir}/data/train/.."],
         words=["is also this command's --data"],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    Case("train_out_symlink_to_data",
         [*TRAIN, "--data", "{dir}/data", "--out", "{dir}/alias", "--overwrite"],
         words=["--out", "alias", "is also this command's --data"],
         files={"data": copy_of("good"), "alias": symlink_to("data")},
         check=same_as_fixture("data", "good")),
    Case("train_out_is_architecture_file",
         [*TRAIN, "--data", "{good}", "--model", "{dir}/arch.json", "--out", "{dir}/arch.json",
          "--overwrite"],
         words=["--out", "arch.json", "is also this command's --model"],
         files={"arch.json": NOTES}, check=notes_kept("arch.json")),
    # A model or dataset directory of another kind, or a directory of other files.
    Case("train_out_is_dataset", [*TRAIN, "--data", "{good}", "--out", "{dir}/ds"],
         words=["--out", "'{dir}/ds'", "is a dataset directory", "a model directory",
                "--overwrite"],
         files={"ds": copy_of("good/valid")}, check=same_as_fixture("ds", "good/valid")),
    Case("train_out_is_data_folder", [*TRAIN, "--data", "{good}", "--out", "{dir}/folder"],
         words=["--out", "a data folder"],
         files={"folder": copy_of("good")}, check=same_as_fixture("folder", "good")),
    Case("train_out_is_other_directory", [*TRAIN, "--data", "{good}", "--out", "{dir}/docs"],
         words=["--out", "docs", "a directory of other files", "--overwrite"],
         files={"docs/notes.txt": NOTES}, check=notes_kept("docs/notes.txt")),
    Case("train_out_same_kind_replaced", [*TRAIN, "--data", "{good}", "--out", "{dir}/m"],
         exit=0, words=["saved the model"], files={"m": copy_of("model")}, check=is_model("m"),
         timeout=120),
    Case("train_out_fifo", [*TRAIN, "--data", "{good}", "--out", "{dir}/pipe", "--overwrite"],
         words=["--out", "pipe", "a FIFO (named pipe)"], files={"pipe": fifo}, timeout=10),
    Case("train_out_device", [*TRAIN, "--data", "{good}", "--out", "/dev/null", "--overwrite"],
         words=["--out", "/dev/null", "a character device"]),
    # Checkpoint directories.
    Case("train_checkpoint_dir_regular_file",
         [*TRAIN, "--data", "{good}", "--out", "{dir}/m", "--checkpoint-dir", "{dir}/notes.txt"],
         words=["--checkpoint-dir", "notes.txt", "an existing regular file"],
         files={"notes.txt": NOTES}, check=notes_kept()),
    Case("train_checkpoint_dir_is_data",
         [*TRAIN, "--data", "{dir}/data", "--out", "{dir}/m", "--checkpoint-dir", "{dir}/data",
          "--overwrite"],
         words=["--checkpoint-dir", "is also this command's --data"],
         files={"data": copy_of("good")}, check=same_as_fixture("data", "good")),
    Case("train_checkpoint_dir_is_model",
         [*TRAIN, "--data", "{good}", "--out", "{dir}/out", "--checkpoint-dir", "{dir}/m"],
         words=["--checkpoint-dir", "is a model directory", "a checkpoint directory"],
         files={"m": copy_of("model")}, check=same_as_fixture("m", "model")),
    Case("train_out_is_checkpoint_dir",
         [*TRAIN, "--data", "{good}", "--out", "{dir}/c", "--checkpoint-dir", "{dir}/c"],
         words=["--out", "is also this command's --checkpoint-dir"]),
    # predict
    Case("predict_out_is_model",
         ["predict", "--model", "{dir}/m", "--data", "{good}/valid", "--out", "{dir}/m",
          "--overwrite"],
         words=["--out", "is also this command's --model", ANY_INPUT],
         files={"m": copy_of("model")}, check=same_as_fixture("m", "model")),
    Case("predict_out_is_data",
         ["predict", "--model", "{model}", "--data", "{dir}/v", "--out", "{dir}/v"],
         words=["--out", "is also this command's --data"],
         files={"v": copy_of("good/valid")}, check=same_as_fixture("v", "good/valid")),
    Case("predict_out_holds_model",
         ["predict", "--model", "{dir}/keep/m", "--data", "{good}/valid", "--out", "{dir}/keep",
          "--overwrite"],
         words=["--out", "holds this command's --model"],
         files={"keep/m": copy_of("model")}, check=same_as_fixture("keep/m", "model")),
    Case("predict_out_regular_file", [*PREDICT, "--out", "{dir}/notes.txt"],
         words=["--out", "notes.txt", "an existing regular file", "a dataset directory"],
         files={"notes.txt": NOTES}, check=notes_kept()),
    Case("predict_out_is_other_model", [*PREDICT, "--out", "{dir}/m"],
         words=["--out", "is a model directory", "a dataset directory"],
         files={"m": copy_of("model")}, check=same_as_fixture("m", "model")),
    Case("predict_out_other_model_overwrite", [*PREDICT, "--out", "{dir}/m", "--overwrite"],
         exit=0, words=["wrote"], files={"m": copy_of("model")},
         check=lambda work: None if (work / "m" / "schema.json").is_file()
         and not (work / "m" / "model.json").exists() else "m is not the predictions"),
    # recommend
    Case("recommend_out_is_queries",
         ["recommend", "--model", "{model}", "--data", "{good}/train", "--queries", "{dir}/q",
          "--out", "{dir}/q", "--overwrite"],
         words=["--out", "is also this command's --queries"],
         files={"q": copy_of("good/valid")}, check=same_as_fixture("q", "good/valid")),
    Case("recommend_out_regular_file",
         ["recommend", "--model", "{model}", "--data", "{good}/train", "--queries",
          "{good}/valid", "--out", "{dir}/notes.txt"],
         words=["--out", "notes.txt", "an existing regular file"],
         files={"notes.txt": NOTES}, check=notes_kept()),
    Case("recommend_out_without_queries",
         ["recommend", "--model", "{model}", "--data", "{good}/train", "--user", "1", "--out",
          "{dir}/r"], words=["--out is for the batch form", "--queries"]),
    # The importers: OUT/train, OUT/valid, OUT/etl.
    Case("csv_out_regular_file",
         ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/in.json", "--out",
          "{dir}/notes.txt"], words=["--out", "notes.txt", "an existing regular file"],
         files={**CSV, "notes.txt": NOTES}, check=notes_kept()),
    Case("csv_out_is_input",
         ["data", "csv", "--input", "{dir}/notes.txt", "--schema", "{dir}/in.json", "--out",
          "{dir}/notes.txt", "--overwrite"],
         words=["--out", "is also this command's --input", ANY_INPUT],
         files={**CSV, "notes.txt": NOTES}, check=notes_kept()),
    Case("csv_input_inside_an_output_entry",
         ["data", "csv", "--input", "{dir}/o/train/notes.txt", "--schema", "{dir}/in.json",
          "--out", "{dir}/o"],
         words=["--out", "o/train", "holds this command's --input"],
         files={**CSV, "o/train/notes.txt": NOTES}, check=notes_kept("o/train/notes.txt")),
    Case("csv_out_is_model",
         ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/in.json", "--out",
          "{dir}/m"], words=["--out", "is a model directory", "--overwrite"],
         files={**CSV, "m": copy_of("model")}, check=same_as_fixture("m", "model")),
    Case("csv_out_beside_its_input_ok",
         ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/in.json", "--out", "{dir}"],
         exit=0, words=["csv: wrote"], files=CSV,
         check=lambda work: None if (work / "in.csv").is_file() and (work / "train").is_dir()
         else "the input or the output is missing"),
    Case("criteo_out_is_input",
         ["data", "criteo", "--input", "{dir}/day_0", "--out", "{dir}/day_0", "--overwrite"],
         words=["--out", "is also this command's --input"],
         files={"day_0": CRITEO},
         check=lambda work: None if (work / "day_0").read_text() == CRITEO else "day_0 changed"),
    Case("criteo_valid_input_inside_output",
         ["data", "criteo", "--input", "{dir}/day_0", "--valid-input", "{dir}/o/valid/day_1",
          "--out", "{dir}/o"], words=["holds this command's --valid-input"],
         files={"day_0": CRITEO, "o/valid/day_1": CRITEO}),
    Case("criteo_out_is_dataset",
         ["data", "criteo", "--input", "{dir}/day_0", "--out", "{dir}/ds"],
         words=["--out", "is a dataset directory"],
         files={"day_0": CRITEO, "ds": copy_of("good/valid")},
         check=same_as_fixture("ds", "good/valid")),
    Case("synthetic_out_regular_file",
         ["data", "synthetic", "--shape", "criteo", "--rows", "100", "--out", "{dir}/notes.txt"],
         words=["--out", "notes.txt", "an existing regular file"],
         files={"notes.txt": NOTES}, check=notes_kept()),
    Case("synthetic_out_regular_file_overwrite",
         ["data", "synthetic", "--shape", "criteo", "--rows", "100", "--max-table-size", "20",
          "--out", "{dir}/notes.txt", "--overwrite"], exit=0, words=["bayes_auc"],
         files={"notes.txt": NOTES},
         check=lambda work: None if (work / "notes.txt" / "train" / "schema.json").is_file()
         else "no dataset written"),
    Case("synthetic_movielens_out_is_model",
         ["data", "synthetic", "--shape", "movielens-1m", "--rows", "100", "--out", "{dir}/m"],
         words=["--out", "is a model directory"],
         files={"m": copy_of("model")}, check=same_as_fixture("m", "model")),
    Case("synthetic_schema_inside_output",
         ["data", "synthetic", "--schema", "{dir}/o/train/schema.json", "--rows", "100", "--out",
          "{dir}/o"], words=["holds this command's --schema"],
         files={"o/train": copy_of("good/train")}, check=same_as_fixture("o/train", "good/train")),
    Case("synthetic_out_device",
         ["data", "synthetic", "--shape", "criteo", "--rows", "100", "--out", "/dev/null"],
         words=["--out", "/dev/null", "a character device"]),
    Case("movielens_out_regular_file",
         ["data", "movielens", "--variant", "ml-100k", "--out", "{dir}/notes.txt",
          "--no-download"], words=["--out", "notes.txt", "an existing regular file"],
         files={"notes.txt": NOTES}, check=notes_kept()),
    Case("movielens_source_inside_output",
         ["data", "movielens", "--variant", "ml-100k", "--source", "{dir}/o/ml-100k/etl",
          "--out", "{dir}/o", "--no-download", "--overwrite"],
         words=["--out", "ml-100k/etl", "holds this command's --source"],
         files={"o/ml-100k/etl/u.data": NOTES}, check=notes_kept("o/ml-100k/etl/u.data")),
    Case("movielens_out_is_model",
         ["data", "movielens", "--variant", "ml-100k", "--out", "{dir}/m", "--no-download"],
         words=["--out", "is a model directory"],
         files={"m": copy_of("model")}, check=same_as_fixture("m", "model")),
]
