#!/usr/bin/env python3
"""The models benchmark's table (bench/models/run.sh): one row per dataset,
model and implementation, means and spreads (sample standard deviation)
over the seeds, then the recblocks / PyTorch figures for the models that
have a PyTorch reference.

  bench/models/summarize.py RUNS.jsonl EPOCHS
"""

import json
import statistics
import sys
from collections import defaultdict


def spread(values):
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> int:
    path, epochs = sys.argv[1], int(sys.argv[2])
    groups = defaultdict(list)
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line)
        run = r["run"]
        impl = run["impl"]
        if impl == "recblocks":
            row = {"auc": run["val_auc"], "logloss": run["val_logloss"], "rows": run["train_rows"],
                   "samples_per_s": run["train_samples_per_s"], "rss": run["peak_rss_mib"],
                   "rmse": run.get("val_rmse", -1)}
        else:
            row = {"auc": run["valid_auc"], "logloss": run["valid_logloss"], "rows": run["rows"] // run["epochs"],
                   "samples_per_s": run["samples_per_s"], "rss": run["peak_rss_mb"]}
            impl = "pytorch (OMP {}, OpenBLAS {})".format(run["threads_omp"], run["threads_blas"])
        groups[(r["data"], run["model"], impl)].append(row)
    # PyTorch: only its faster thread setting per data and model.
    best = {}
    for (data, model, impl), rows in groups.items():
        if impl.startswith("pytorch"):
            speed = statistics.median(r["samples_per_s"] for r in rows)
            if (data, model) not in best or speed > best[(data, model)][1]:
                best[(data, model)] = (impl, speed)
    groups = {k: v for k, v in groups.items()
              if not k[2].startswith("pytorch") or best[(k[0], k[1])][0] == k[2]}

    print(f"Validation after {epochs} epochs; mean ± spread over {len(next(iter(groups.values())))} seeds; "
          "batch 1024, Adam lr 1e-3, 2 threads.\n")
    print("| data | model | implementation | val AUC | val logloss | samples/s | s/epoch | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    summary = {}
    for (data, model, impl), rows in groups.items():
        auc = [r["auc"] for r in rows]
        loss = [r["logloss"] for r in rows]
        speed = [r["samples_per_s"] for r in rows]
        rss = [r["rss"] for r in rows]
        summary[(data, model, impl)] = (statistics.mean(auc), statistics.median(speed))
        epoch_s = f"{rows[0]['rows'] / statistics.median(speed):.2f}"
        rmse = [r.get("rmse", -1) for r in rows]
        if min(rmse) >= 0:
            model = f"{model} (rating RMSE {statistics.mean(rmse):.4f} ± {spread(rmse):.4f})"
        print(f"| {data} | {model} | {impl} | {statistics.mean(auc):.4f} ± {spread(auc):.4f} | "
              f"{statistics.mean(loss):.4f} ± {spread(loss):.4f} | {statistics.median(speed):,.0f} | {epoch_s} | "
              f"{statistics.median(rss):.0f} |")
    print("\n| data | model | AUC recblocks - PyTorch | speed recblocks / PyTorch |")
    print("| --- | --- | --- | --- |")
    out = []
    for (data, model, impl), (auc, speed) in summary.items():
        if not impl.startswith("pytorch"):
            continue
        ours_auc, ours_speed = summary[(data, model, "recblocks")]
        print(f"| {data} | {model} | {ours_auc - auc:+.5f} | {ours_speed / speed:.2f}x |")
        out.append({"bench": "models", "data": data, "model": model, "auc_difference": round(ours_auc - auc, 6),
                    "speed_ratio": round(ours_speed / speed, 3)})
    print()
    for line in out:
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
