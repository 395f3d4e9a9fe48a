#!/usr/bin/env python3
"""Trains recblocks_torch's SeedDLRM or CriteoDLRM on a recblocks dataset
directory and prints one JSON line (see README.md).

  python3 bench/torch_ref/train.py --model seed --data DIR/train --valid DIR/valid \
      --batch-size 1024 --epochs 1 --optimizer adam --lr 1e-3 --threads-omp 1 --threads-blas 1 --json

Thread settings must be in the environment before torch is imported, so
this file reads --threads-omp / --threads-blas and sets OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS, MKL_NUM_THREADS first, then imports torch and calls
torch.set_num_threads(omp).
"""

import os
import sys
import time

_T0 = time.perf_counter()


def _process_age() -> float:
    """Seconds since this process started (from /proc), else since this
    module began to run."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _T0


_AGE_AT_T0 = _process_age()


def _early_threads(argv):
    """--threads-omp / --threads-blas, read before argparse (and torch)."""
    def value(flag):
        for i, a in enumerate(argv):
            if a == flag and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(flag + "="):
                return a.split("=", 1)[1]
        return None
    omp, blas = value("--threads-omp"), value("--threads-blas")
    if omp is not None:
        os.environ["OMP_NUM_THREADS"] = omp
    if blas is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = blas
        os.environ["MKL_NUM_THREADS"] = blas


_early_threads(sys.argv[1:])

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recblocks_torch as rt  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["seed", "criteo", "dcn", "deepfm"], required=True)
    p.add_argument("--seed-columns", action="store_true",
                   help="dcn, deepfm: only the seed notebook's columns (as train_bench --seed-columns)")
    p.add_argument("--embedding-dim", type=int, default=None, help="deepfm (default 64)")
    p.add_argument("--deep", default=None, help="dcn, deepfm: the deep MLP's units, e.g. 64,32")
    p.add_argument("--low-rank-dim", type=int, default=0, help="dcn: low-rank cross layers (0: full rank)")
    p.add_argument("--data", required=True, help="a recblocks dataset directory (train)")
    p.add_argument("--valid", help="a dataset directory to compute the AUC on after training")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=None, help="default: 1e-3 (adam), 0.1 (sgd)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--seed", type=int, default=0, help="the loader's seed (row order)")
    p.add_argument("--shuffle", dest="shuffle", action="store_true", default=True)
    p.add_argument("--no-shuffle", dest="shuffle", action="store_false")
    p.add_argument("--threads-omp", type=int, default=None)
    p.add_argument("--threads-blas", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many steps (counted from the start, --start-step included)")
    p.add_argument("--init-weights", help="recblocks weights.safetensors to start from")
    p.add_argument("--init-optimizer",
                   help="a recblocks checkpoint's optimizer.safetensors (Adam's m, v, iterations)")
    p.add_argument("--start-step", type=int, default=0,
                   help="skip the run's first N batches (resuming a checkpoint written after them)")
    p.add_argument("--init-seed", type=int, default=0,
                   help="without --init-weights: seed of recblocks-like random initialisation")
    p.add_argument("--out-weights", help="write the final weights (recblocks names and layout)")
    p.add_argument("--out-losses", help="write the per-step losses (.npy, float32 as the losses are)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.add_argument("--eval-repeat", type=int, default=1,
                   help="evaluate --valid this many times (scores and AUC each time); "
                        "eval_samples_per_s is over all of them")
    p.add_argument("--valid-every-epoch", action="store_true",
                   help="also the validation AUC after every epoch (valid_auc_per_epoch; needs --valid)")
    a = p.parse_args(argv)

    if a.threads_omp is not None:
        torch.set_num_threads(a.threads_omp)
    lr = a.lr if a.lr is not None else (1e-3 if a.optimizer == "adam" else 0.1)

    columns = rt.SEED_COLUMNS if a.model == "seed" or a.seed_columns else None
    train = rt.load_dataset(a.data, columns)
    deep = [int(u) for u in a.deep.split(",")] if a.deep else None
    model = rt.build_model(a.model, train.schema, a.optimizer, a.embedding_dim, deep, a.low_rank_dim)
    if a.init_weights:
        rt.load_recblocks_weights(model, a.init_weights)
    else:
        rt.init_like_recblocks(model, a.init_seed)
    optimizer = rt.make_optimizer(model, a.optimizer, lr)
    if a.init_optimizer:
        rt.load_recblocks_optimizer_state(optimizer, model, a.init_optimizer)

    per_epoch = []
    epoch_end = None
    if a.valid_every_epoch:
        if not a.valid:
            p.error("--valid-every-epoch needs --valid")
        from sklearn.metrics import roc_auc_score
        valid_every = rt.load_dataset(a.valid, columns)

        def epoch_end(_epoch):
            scores = rt.predict(model, valid_every, a.batch_size)
            per_epoch.append(float(roc_auc_score(np.asarray(valid_every.columns[model.target]), scores)))

    result = rt.train(model, train, optimizer, a.batch_size, epochs=a.epochs, seed=a.seed,
                      shuffle=a.shuffle, max_steps=a.max_steps, start_step=a.start_step,
                      epoch_end=epoch_end)

    if a.out_losses:
        np.save(a.out_losses, np.asarray(result.losses, dtype=np.float32))
    if a.out_weights:
        rt.save_weights(model, a.out_weights)

    auc = None
    logloss = None
    eval_seconds = None
    if a.valid:
        from sklearn.metrics import roc_auc_score
        valid = rt.load_dataset(a.valid, columns)
        labels = np.asarray(valid.columns[model.target])
        # Evaluation as recblocks' evaluate does it: the scores and the AUC.
        eval_start = time.perf_counter()
        for _ in range(max(a.eval_repeat, 1)):
            scores = rt.predict(model, valid, a.batch_size)
            auc = float(roc_auc_score(labels, scores))
        eval_seconds = time.perf_counter() - eval_start
        p1 = np.clip(scores.astype(np.float64), 1e-7, 1 - 1e-7)
        logloss = float(-np.mean(labels * np.log(p1) + (1 - labels) * np.log(1 - p1)))

    first_step = (None if result.first_step_at is None
                  else _AGE_AT_T0 + (result.first_step_at - _T0))
    summary = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "model": a.model,
        "optimizer": a.optimizer,
        "lr": lr,
        "batch_size": a.batch_size,
        "epochs": a.epochs,
        "steps": result.steps,
        "rows": result.rows,
        "threads_omp": torch.get_num_threads(),
        "threads_blas": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")) or None,
        "train_seconds": result.seconds,
        "samples_per_s": result.rows / result.seconds if result.seconds > 0 else None,
        "final_loss": result.losses[-1] if result.losses else None,
        "last_epoch_loss": result.last_epoch_loss,
        "valid_auc": auc,
        "valid_logloss": logloss,
        "valid_auc_per_epoch": per_epoch or None,
        "eval_samples_per_s": (max(a.eval_repeat, 1) * len(scores) / eval_seconds) if eval_seconds else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "time_to_first_step_s": first_step,
        "total_seconds": _AGE_AT_T0 + (time.perf_counter() - _T0),
        "order_seconds": result.order_seconds,
    }
    if a.json:
        print(json.dumps(summary), flush=True)
    else:
        for k, v in summary.items():
            print("{:22s} {}".format(k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
