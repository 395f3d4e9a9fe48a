"""Special files as inputs: a FIFO, a device or a directory where a file is
expected. Every reader (npy, safetensors, JSON, schema.json, CSV/TSV, the
MovieLens raw files, Criteo, zip archives) stats the path before it opens
it, so a FIFO nobody writes to is refused at once instead of blocking in
open(), and /dev/zero is not read forever; the message names the path and
what it is."""
import os
import pathlib
import shutil

from corpus import Case, fifo

FIFO_WORDS = ["a FIFO (named pipe)", "expected a regular file"]


def copy_of(fixture):
    def make(path: pathlib.Path) -> None:
        for parent in path.parents:
            source = parent / "fixtures" / fixture
            if source.exists():
                shutil.copytree(source, path)
                return
        raise FileNotFoundError(f"fixture {fixture}")
    return make


def copy_with(fixture, rel, make_special):
    """A copy of a fixture directory with its file `rel` replaced by a special file."""
    def make(path: pathlib.Path) -> None:
        copy_of(fixture)(path)
        target = path / rel
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
        make_special(target)
    return make


def directory(path: pathlib.Path) -> None:
    path.mkdir()


def link_to(target):
    def make(path: pathlib.Path) -> None:
        os.symlink(target, path)
    return make


CSV_SCHEMA = ('{"delimiter": ",", "header": true, "columns": ['
              '{"name": "userId", "tags": ["categorical", "user_id"]},'
              '{"name": "clicked", "tags": ["target", "binary_classification"]}]}')
CSV = ["data", "csv", "--schema", "{dir}/in.json", "--out", "{dir}/o"]
CRITEO = "0\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13" + "\t68fd1e64" * 26 + "\n"
EVALUATE = ["evaluate", "--model", "{model}", "--data", "{dir}/v", "--no-progress"]
PREDICT = ["predict", "--model", "{dir}/m", "--data", "{good}/valid", "--out", "{dir}/p"]
ML100K = ["data", "movielens", "--variant", "ml-100k", "--source", "{dir}/raw", "--out", "{dir}/o",
          "--no-download"]
ML100K_FILES = {"raw/u.data": "196\t242\t3\t881250949\n", "raw/u.user": "196|49|M|writer|55105\n",
                "raw/u.item": "242|Kolya (1996)|24-Jan-1997||http://x|0|0|0|0|0|0|0|0|0|0|0|0|0"
                              "|0|0|0|0|0|0\n"}

CASES = [
    # CSV/TSV: the input and the schema file.
    Case("csv_input_fifo", ["data", "csv", "--input", "{dir}/pipe.csv", *CSV[2:]],
         words=["pipe.csv", *FIFO_WORDS], files={"pipe.csv": fifo, "in.json": CSV_SCHEMA},
         timeout=10),
    Case("csv_schema_fifo", ["data", "csv", "--input", "{dir}/in.csv", "--schema",
                             "{dir}/schema.fifo", "--out", "{dir}/o"],
         words=["schema.fifo", *FIFO_WORDS],
         files={"in.csv": "userId,clicked\nu1,1\n", "schema.fifo": fifo}, timeout=10),
    Case("csv_input_dev_zero", ["data", "csv", "--input", "/dev/zero", *CSV[2:]],
         words=["/dev/zero", "a character device"], files={"in.json": CSV_SCHEMA}, timeout=10),
    Case("csv_input_symlink_to_fifo", ["data", "csv", "--input", "{dir}/link.csv", *CSV[2:]],
         words=["link.csv", *FIFO_WORDS],
         files={"pipe": fifo, "link.csv": link_to("pipe"), "in.json": CSV_SCHEMA}, timeout=10),
    # Criteo TSV.
    Case("criteo_input_fifo", ["data", "criteo", "--input", "{dir}/day_0", "--out", "{dir}/o"],
         words=["day_0", *FIFO_WORDS], files={"day_0": fifo}, timeout=10),
    Case("criteo_valid_input_fifo",
         ["data", "criteo", "--input", "{dir}/day_0", "--valid-input", "{dir}/day_1", "--out",
          "{dir}/o"], words=["day_1", *FIFO_WORDS], files={"day_0": CRITEO, "day_1": fifo},
         timeout=10),
    Case("criteo_input_dev_zero", ["data", "criteo", "--input", "/dev/zero", "--out", "{dir}/o"],
         words=["/dev/zero", "a character device"], timeout=10),
    # A dataset directory: a column file, schema.json.
    Case("npy_column_fifo", EVALUATE, words=["C1.npy", *FIFO_WORDS],
         files={"v": copy_with("good/valid", "C1.npy", fifo)}, timeout=10),
    Case("npy_column_directory", EVALUATE, words=["I1.npy", "is a directory"],
         files={"v": copy_with("good/valid", "I1.npy", directory)}, timeout=10),
    Case("npy_column_dev_zero", EVALUATE, words=["label.npy", "a character device"],
         files={"v": copy_with("good/valid", "label.npy", link_to("/dev/zero"))}, timeout=10),
    Case("dataset_schema_fifo", EVALUATE, words=["schema.json", *FIFO_WORDS],
         files={"v": copy_with("good/valid", "schema.json", fifo)}, timeout=10),
    Case("train_column_fifo",
         ["train", "--data", "{dir}/d", "--out", "{dir}/m", "--epochs", "1", "--no-progress"],
         words=["C2.npy", *FIFO_WORDS], files={"d": copy_with("good", "train/C2.npy", fifo)},
         timeout=10),
    # A model directory: model.json, weights.safetensors, schema.json.
    Case("model_json_fifo", PREDICT, words=["model.json", *FIFO_WORDS],
         files={"m": copy_with("model", "model.json", fifo)}, timeout=10),
    Case("model_weights_fifo", PREDICT, words=["weights.safetensors", *FIFO_WORDS],
         files={"m": copy_with("model", "weights.safetensors", fifo)}, timeout=10),
    Case("model_weights_directory", PREDICT, words=["weights.safetensors", "is a directory"],
         files={"m": copy_with("model", "weights.safetensors", directory)}, timeout=10),
    Case("model_schema_fifo", PREDICT, words=["schema.json", *FIFO_WORDS],
         files={"m": copy_with("model", "schema.json", fifo)}, timeout=10),
    # train --model FILE.json: an architecture file.
    Case("architecture_file_fifo",
         ["train", "--data", "{good}", "--model", "{dir}/arch.json", "--out", "{dir}/m",
          "--no-progress"], words=["arch.json", *FIFO_WORDS], files={"arch.json": fifo},
         timeout=10),
    # data synthetic --schema
    Case("synthetic_schema_fifo",
         ["data", "synthetic", "--schema", "{dir}/schema.json", "--rows", "10", "--out", "{dir}/o"],
         words=["schema.json", *FIFO_WORDS], files={"schema.json": fifo}, timeout=10),
    # MovieLens raw files and archives.
    Case("movielens_ratings_fifo", ML100K, words=["u.data", *FIFO_WORDS],
         files={**ML100K_FILES, "raw/u.data": fifo}, timeout=10),
    Case("movielens_users_fifo", ML100K, words=["u.user", *FIFO_WORDS],
         files={**ML100K_FILES, "raw/u.user": fifo}, timeout=10),
    Case("movielens_zip_fifo",
         ["data", "movielens", "--variant", "ml-100k", "--source", "{dir}/ml-100k.zip", "--out",
          "{dir}/o", "--no-download"], words=["ml-100k.zip", *FIFO_WORDS],
         files={"ml-100k.zip": fifo}, timeout=10),
    Case("movielens_1m_ratings_fifo",
         ["data", "movielens", "--variant", "ml-1m", "--source", "{dir}/raw", "--out", "{dir}/o",
          "--no-download"], words=["ratings.dat", *FIFO_WORDS],
         files={"raw/ratings.dat": fifo, "raw/users.dat": "1::F::1::10::48067\n",
                "raw/movies.dat": "1::Toy Story (1995)::Animation\n"}, timeout=10),
]
