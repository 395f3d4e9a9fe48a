"""Python's overhead: the seed model trained and evaluated through the Python
package against the same model through the C++ API (bench/train/train_bench),
same data, seed, threads and batch size, runs alternated.

    python3 bench/python/overhead.py --train-bench build/bench/train/train_bench \\
        --data DIR [--runs 3] [--threads 2] [--epochs 1]

DIR holds train/ and valid/ of a MovieLens import (the seed's columns are
selected). PYTHONPATH must reach the recblocks package (build/python, or the
installed one). Prints samples/s of both sides per run, the medians and the
ratio Python / C++; both sides must reach the same validation AUC (the same
computation).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import time

import recblocks as rb
from recblocks import Tags

COLUMNS = ["userId", "movieId", "title", "gender", "TE_zipcode_rating", "TE_movieId_rating",
           "rating_binary"]
AUC = "rating_binary/binary_classification_task/auc"


def cpu_model() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def seed_model(schema):
    continuous = rb.ContinuousFeatures.from_schema(schema, Tags.CONTINUOUS)
    inputs = rb.ParallelBlock({"embeddings": rb.EmbeddingFeatures.from_schema(schema, dim=64),
                               "deep_continuous": continuous.connect(rb.MLPBlock([64]))})
    body = inputs.connect_with_shortcut(
        rb.DotProductInteractionBlock(), shortcut_filter=rb.Filter("deep_continuous"),
        aggregation="concat").connect(rb.MLPBlock([64, 128, 512]))
    return body.connect(rb.BinaryClassificationTask("rating_binary", metrics=["auc"],
                                                    pre=rb.LogitsTemperatureScaler(2.0)))


def python_run(train, valid, a, progress: bool) -> dict:
    model = seed_model(train.schema)
    model.build(train.schema, seed=a.seed)
    model.compile(optimizer="adam")
    start = time.perf_counter()
    model.fit(train, batch_size=a.batch_size, epochs=a.epochs, seed=a.seed, progress=progress)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = model.evaluate(valid, batch_size=a.batch_size)
    eval_s = time.perf_counter() - start
    return {"train": len(train) * a.epochs / fit_s, "eval": len(valid) / eval_s,
            "auc": scores[AUC]}


def cpp_run(a) -> dict:
    out = subprocess.run([a.train_bench, "--model", "seed", "--data", a.data, "--threads",
                          str(a.threads), "--epochs", str(a.epochs), "--batch-size",
                          str(a.batch_size), "--seed", str(a.seed)],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return {"train": r["train_samples_per_s"], "eval": r["eval_samples_per_s"],
            "auc": r["val_auc"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-bench", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rb.set_num_threads(a.threads)
    train = rb.Dataset.load(pathlib.Path(a.data) / "train").select_by_name(COLUMNS)
    valid = rb.Dataset.load(pathlib.Path(a.data) / "valid").select_by_name(COLUMNS)
    results = {"C++": [], "Python": [], "Python, progress bar": []}
    for i in range(a.runs):
        results["C++"].append(cpp_run(a))
        results["Python"].append(python_run(train, valid, a, progress=False))
        results["Python, progress bar"].append(python_run(train, valid, a, progress=True))
        print(f"run {i + 1}: " + "; ".join(
            f"{k} train {v[-1]['train']:,.0f}/s eval {v[-1]['eval']:,.0f}/s" for k, v in
            results.items()), file=sys.stderr, flush=True)
    aucs = {round(r["auc"], 9) for v in results.values() for r in v}
    print(f"seed model, {len(train):,} training rows, batch {a.batch_size}, {a.threads} threads, "
          f"{a.epochs} epoch(s), {a.runs} runs alternated, on {cpu_model()}")
    base = {k: statistics.median(r[k] for r in results["C++"]) for k in ("train", "eval")}
    print(f"{'':22} {'train samples/s':>16} {'ratio':>6} {'eval samples/s':>15} {'ratio':>6}")
    for name, runs in results.items():
        tr = statistics.median(r["train"] for r in runs)
        ev = statistics.median(r["eval"] for r in runs)
        print(f"{name:22} {tr:16,.0f} {tr / base['train']:6.3f} {ev:15,.0f} "
              f"{ev / base['eval']:6.3f}")
    print(f"validation AUC of every run: {sorted(aucs)} "
          f"({'identical' if len(aucs) == 1 else 'DIFFERENT'})")
    return 0 if len(aucs) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
