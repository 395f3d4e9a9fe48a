"""The seed notebook's model code, run on Merlin Models or on recblocks:

    bench/merlin/.venv/bin/python bench/merlin/seed.py --impl merlin --data DIR --start T
    .venv/bin/python bench/merlin/seed.py --impl recblocks --data DIR --start T

DIR holds train/ and valid/ (Parquet with a Merlin schema for Merlin, dataset
directories for recblocks; bench/merlin/run.py writes both). The model code
is the seed's, the same text for both except the task: Merlin 23.08's
BinaryClassificationTask takes no metrics, so there the AUC goes to compile(). Prints one
JSON line: training samples/s per epoch, evaluation samples/s, seconds from
process start (--start, time.time() of the launcher) to the end of the first
training step, peak RSS, the validation AUC.
"""

import argparse
import json
import resource
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--impl", choices=["merlin", "recblocks"], required=True)
ap.add_argument("--data", required=True)
ap.add_argument("--start", type=float, required=True)
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

if a.impl == "merlin":
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    import merlin.models.tf as mm
    from merlin.io import Dataset
    from merlin.models.tf.blocks.dlrm import DotProductInteractionBlock
    from merlin.models.tf.transforms.bias import LogitsTemperatureScaler  # 23.08: here
    from merlin.schema.tags import Tags

    train = Dataset(f"{a.data}/merlin/train", engine="parquet", cpu=True)
    valid = Dataset(f"{a.data}/merlin/valid", engine="parquet", cpu=True)

    class Timer(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.first_step = None
            self.epoch_times = []

        def on_train_batch_end(self, batch, logs=None):
            if self.first_step is None:
                self.first_step = time.time() - a.start

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_times.append(time.perf_counter() - self.t)

    fit_kwargs = lambda timer: {"callbacks": [timer], "verbose": 0}  # noqa: E731
    rows = lambda d: int(d.to_ddf().shape[0].compute())  # noqa: E731
else:
    import recblocks as rb
    import recblocks.compat.tensorflow as tf  # noqa: F811
    import recblocks.merlin.models.tf as mm
    from recblocks.merlin.models.tf.blocks.core.transformations import LogitsTemperatureScaler
    from recblocks.merlin.models.tf.blocks.dlrm import DotProductInteractionBlock
    from recblocks.merlin.schema.tags import Tags

    rb.set_num_threads(a.threads)
    train = rb.Dataset.load(f"{a.data}/recblocks/train")
    valid = rb.Dataset.load(f"{a.data}/recblocks/valid")

    class Timer:
        def __init__(self):
            self.first_step = None
            self.epoch_times = []
            self.t = None

        def on_batch_end(self, step, logs):
            if self.first_step is None:
                self.first_step = time.time() - a.start
            if self.t is None:
                self.t = time.perf_counter()

        def on_train_begin(self):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs):
            self.epoch_times.append(time.perf_counter() - self.t)
            self.t = time.perf_counter()

    fit_kwargs = lambda timer: {"callbacks": [timer], "progress": False}  # noqa: E731
    rows = len

# ---- the seed notebook's code, the same for both ------------------------------------------
sub_schema = train.schema.select_by_name(['userId', 'movieId', 'title', 'gender',
                                          'TE_zipcode_rating', 'TE_movieId_rating',
                                          'rating_binary'])
continuous_block = mm.ContinuousFeatures.from_schema(sub_schema, tags=Tags.CONTINUOUS)
deep_continuous_block = continuous_block.connect(mm.MLPBlock([64]))
embedding_block = mm.EmbeddingFeatures.from_schema(sub_schema)
dlrm_input_block = mm.ParallelBlock({"embeddings": embedding_block,
                                     "deep_continuous": deep_continuous_block})
dlrm_interaction = dlrm_input_block.connect_with_shortcut(
    DotProductInteractionBlock(), shortcut_filter=mm.Filter("deep_continuous"),
    aggregation="concat")
deep_dlrm_interaction = dlrm_interaction.connect(mm.MLPBlock([64, 128, 512]))
target = sub_schema.select_by_tag(Tags.TARGET).column_names[0]
if a.impl == "merlin":
    # Merlin 23.08's task takes no metrics (the seed's 2022 API): they go to compile.
    # and block.connect(task) gives a block: the model is mm.Model(body, task).
    binary_task = mm.BinaryClassificationTask(target, pre=LogitsTemperatureScaler(temperature=2))
    model = mm.Model(deep_dlrm_interaction, binary_task)
    model.compile(optimizer="adam", metrics=[tf.keras.metrics.AUC()])
else:
    binary_task = mm.BinaryClassificationTask(
        target_name=target, metrics=[tf.keras.metrics.AUC],
        pre=LogitsTemperatureScaler(temperature=2))
    model = deep_dlrm_interaction.connect(binary_task)
    model.compile(optimizer="adam")
timer = Timer()
model.fit(train, batch_size=1024, epochs=a.epochs, **fit_kwargs(timer))
start = time.perf_counter()
scores = model.evaluate(valid, batch_size=1024, return_dict=True)
eval_s = time.perf_counter() - start
# -------------------------------------------------------------------------------------------

n_train, n_valid = rows(train), rows(valid)
auc = [v for k, v in scores.items() if k.endswith("auc")]
print(json.dumps({
    "impl": a.impl, "train_rows": n_train, "valid_rows": n_valid,
    "train_samples_per_s": [n_train / t for t in timer.epoch_times],
    "eval_samples_per_s": n_valid / eval_s,
    "start_to_first_step_s": timer.first_step,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "val_auc": float(auc[0]) if auc else None}))
sys.stdout.flush()
