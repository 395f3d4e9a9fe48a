"""scikit-learn's values for the arrays metrics_test.cpp writes into <dir>.

  python3 sklearn_reference.py <dir>

Reads, for every case name:
  binary_<case>_scores.npy, binary_<case>_labels.npy   float32 [N], labels 0/1
  regression_<case>_pred.npy, regression_<case>_target.npy   float32 [N]
  multiclass_<case>_scores.npy float32 [N, C], multiclass_<case>_labels.npy int64 [N]
and prints one JSON object: {"binary": {case: {...}}, "regression": ..., "multiclass": ...}.
Everything is computed in float64 from the float32 inputs, as the C++ side does.
"""
import glob
import json
import os
import sys
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (accuracy_score, log_loss, mean_absolute_error, mean_squared_error,
                             precision_score, recall_score, roc_auc_score)

THRESHOLDS = [0.25, 0.5]  # metrics_test.cpp uses the same
EPSILON = 1e-7  # Keras' clipping of probabilities in the log loss


def cases(directory, kind, suffix):
    pattern = os.path.join(directory, f"{kind}_*_{suffix}.npy")
    for path in sorted(glob.glob(pattern)):
        name = os.path.basename(path)[len(kind) + 1:-len(f"_{suffix}.npy")]
        yield name, lambda other, name=name: np.load(
            os.path.join(directory, f"{kind}_{name}_{other}.npy")).astype(np.float64)


def binary(load):
    scores, labels = load("scores"), load("labels").astype(np.int64)
    out = {
        "auc": roc_auc_score(labels, scores),
        # sklearn clips at 1e-15; pass Keras' clipping in explicitly.
        "logloss": log_loss(labels, np.clip(scores, EPSILON, 1 - EPSILON), labels=[0, 1]),
    }
    for t in THRESHOLDS:
        predicted = (scores > t).astype(np.int64)  # Keras: > threshold is positive
        # zero_division=0 is Keras' divide_no_nan.
        out[f"precision@{t}"] = precision_score(labels, predicted, zero_division=0)
        out[f"recall@{t}"] = recall_score(labels, predicted, zero_division=0)
        out[f"binary_accuracy@{t}"] = accuracy_score(labels, predicted)
    return out


def regression(load):
    pred, target = load("pred"), load("target")
    mse = mean_squared_error(target, pred)
    return {
        "mean_squared_error": mse,
        "root_mean_squared_error": float(np.sqrt(mse)),
        "mean_absolute_error": mean_absolute_error(target, pred),
    }


def multiclass(load):
    scores, labels = load("scores"), load("labels").astype(np.int64)
    return {"accuracy": accuracy_score(labels, np.argmax(scores, axis=1))}


def main():
    directory = sys.argv[1]
    warnings.simplefilter("error", UndefinedMetricWarning)
    result = {
        "binary": {name: binary(load) for name, load in cases(directory, "binary", "scores")},
        "regression": {name: regression(load)
                       for name, load in cases(directory, "regression", "pred")},
        "multiclass": {name: multiclass(load)
                       for name, load in cases(directory, "multiclass", "scores")},
    }
    if not any(result.values()):
        sys.exit(f"no cases found in {directory}")
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
