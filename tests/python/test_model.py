import json
import math
import os
import pathlib
import subprocess

import numpy as np
import pytest

import recblocks as rb
from recblocks import Tags

SEED_COLUMNS = ["userId", "movieId", "title", "gender", "TE_zipcode_rating", "TE_movieId_rating",
                "rating_binary"]


def seed_model(schema):
    """The seed notebook's architecture, as it writes it."""
    continuous = rb.ContinuousFeatures.from_schema(schema, Tags.CONTINUOUS)
    deep_continuous = continuous.connect(rb.MLPBlock([64]))
    embedding = rb.EmbeddingFeatures.from_schema(schema, dim=64)
    dlrm_input = rb.ParallelBlock({"embeddings": embedding, "deep_continuous": deep_continuous})
    interaction = dlrm_input.connect_with_shortcut(
        rb.DotProductInteractionBlock(), shortcut_filter=rb.Filter("deep_continuous"),
        aggregation="concat")
    deep = interaction.connect(rb.MLPBlock([64, 128, 512]))
    task = rb.BinaryClassificationTask("rating_binary", metrics=["auc"],
                                       pre=rb.LogitsTemperatureScaler(2.0))
    return deep, task


@pytest.fixture()
def seed_data(movielens):
    train, valid = movielens
    return train.select_by_name(SEED_COLUMNS), valid.select_by_name(SEED_COLUMNS)


def test_the_seed_model_trains_evaluates_predicts_and_reloads(tmp_path, seed_data):
    train, valid = seed_data
    deep, task = seed_model(train.schema)
    model = deep.connect(task)
    assert isinstance(model, rb.Model)
    model.compile(optimizer="adam")
    history = model.fit(train, batch_size=1024, epochs=2, progress=False)
    assert isinstance(history, rb.History)
    assert len(history.history["loss"]) == 2 and history.history["loss"][1] < history.history["loss"][0]
    scores = model.evaluate(valid, batch_size=1024)
    auc = scores["rating_binary/binary_classification_task/auc"]
    assert 0.5 < auc < 1 and math.isfinite(scores["loss"])
    predictions = model.predict(valid)
    p = predictions["rating_binary/binary_classification_task"]
    assert p.shape == (len(valid),) and ((p > 0) & (p < 1)).all()
    model.save(tmp_path / "model")
    again = rb.Model.load(tmp_path / "model")
    assert np.array_equal(again.predict(valid)["rating_binary/binary_classification_task"], p)


def test_callbacks_see_every_step_and_can_stop(seed_data):
    train, _ = seed_data
    deep, task = seed_model(train.schema)
    model = deep.connect(task)
    model.compile(optimizer="sgd")

    class Recorder:
        def __init__(self):
            self.steps, self.epochs, self.began, self.ended = [], [], 0, 0

        def on_train_begin(self):
            self.began += 1

        def on_batch_end(self, step, logs):
            self.steps.append((step, logs["loss"]))

        def on_epoch_end(self, epoch, logs):
            self.epochs.append(epoch)
            return False  # stop after the first epoch

        def on_train_end(self):
            self.ended += 1

    r = Recorder()
    history = model.fit(train, batch_size=2048, epochs=3, callbacks=[r], progress=False)
    steps = math.ceil(len(train) / 2048)
    assert [s for s, _ in r.steps] == list(range(1, steps + 1))
    assert r.epochs == [0] and r.began == 1 and r.ended == 1
    assert len(history.history["loss"]) == 1


def test_keyboard_interrupt_stops_between_steps_and_leaves_the_model_usable(seed_data):
    train, valid = seed_data
    deep, task = seed_model(train.schema)
    model = deep.connect(task)
    model.compile(optimizer="adam")

    class Interrupt:
        def on_batch_end(self, step, logs):
            if step == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(train, batch_size=1024, epochs=1, callbacks=[Interrupt()], progress=False)
    before = model.predict(valid)
    model.fit(train, batch_size=1024, epochs=1, progress=False)  # goes on from there
    after = model.predict(valid)
    key = "rating_binary/binary_classification_task"
    assert np.isfinite(after[key]).all() and not np.array_equal(before[key], after[key])


def test_progress_bar_prints_plain_lines_in_a_pipe(seed_data, capsys):
    train, _ = seed_data
    deep, task = seed_model(train.schema)
    model = deep.connect(task)
    model.compile(optimizer="adam")
    model.fit(train, batch_size=1024, epochs=2)
    lines = capsys.readouterr().out.splitlines()
    steps = math.ceil(len(train) / 1024)
    assert len(lines) == 2 and lines[0].startswith(f"Epoch 1/2 {steps}/{steps} [")
    assert "loss" in lines[1] and "rows/s" in lines[1]


def test_errors_are_python_exceptions_with_the_cpp_message(seed_data):
    train, _ = seed_data
    deep, _ = seed_model(train.schema)
    model = deep.connect(rb.BinaryClassificationTask("no_such_target"))
    model.compile(optimizer="adam")
    with pytest.raises(rb.ValueError, match="no_such_target") as e:
        model.fit(train, progress=False)
    assert isinstance(e.value, ValueError) and isinstance(e.value, rb.Error)
    with pytest.raises(ValueError, match="unknown optimizer|optimizer"):
        model.compile(optimizer="adamw_nope")


def test_python_and_the_cli_train_bit_identical_weights(tmp_path, seed_data):
    """The same architecture, data, seed and settings through Python and through
    `recblocks train`: the same weights, byte for byte."""
    cli = os.environ.get("RECBLOCKS_CLI")
    if not cli:
        pytest.skip("RECBLOCKS_CLI (the recblocks executable) is not set; ctest sets it")
    train, _ = seed_data
    train.save(tmp_path / "data" / "train")
    deep, task = seed_model(train.schema)
    (tmp_path / "arch.json").write_text(json.dumps({"architecture": deep.to_json(),
                                                    "tasks": [task.to_json()]}))
    model = deep.connect(task)
    model.build(train.schema, seed=7)
    model.compile(optimizer="adam")
    model.fit(train, batch_size=512, epochs=1, seed=7, progress=False)
    model.save(tmp_path / "from_python")
    r = subprocess.run([cli, "--threads", str(rb.num_threads()), "train", "--data",
                    str(tmp_path / "data"), "--model", str(tmp_path / "arch.json"), "--seed", "7",
                    "--batch-size", "512", "--epochs", "1", "--no-progress", "--out",
                    str(tmp_path / "from_cli")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a = (tmp_path / "from_python" / "weights.safetensors").read_bytes()
    b = (tmp_path / "from_cli" / "weights.safetensors").read_bytes()
    assert a == b


def test_early_stopping_and_checkpoints_resume(tmp_path, seed_data):
    train, valid = seed_data
    deep, task = seed_model(train.schema)
    model = deep.connect(task)
    model.compile(optimizer="sgd")
    stop = rb.EarlyStopping(monitor="val_loss", patience=0, min_delta=1e9)  # no epoch improves enough
    history = model.fit(train, batch_size=2048, epochs=4, validation_data=valid,
                        callbacks=[stop], progress=False)
    assert len(history.history["loss"]) == 2  # the first epoch, then one without improvement

    # A checkpoint after epoch 1 of 2, resumed, ends with the weights of an uninterrupted run.
    def fresh():
        d, t = seed_model(train.schema)
        m = d.connect(t)
        m.build(train.schema, seed=3)
        m.compile(optimizer="adam")
        return m

    whole = fresh()
    whole.fit(train, batch_size=2048, epochs=2, seed=3, progress=False)
    first = fresh()
    first.fit(train, batch_size=2048, epochs=1, seed=3, progress=False,
              callbacks=[rb.ModelCheckpoint(tmp_path / "ckpt")])
    resumed = fresh()
    resumed.fit(train, batch_size=2048, epochs=2, seed=3, progress=False,
                resume_from=tmp_path / "ckpt")
    a, b = whole.state(), resumed.state()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
