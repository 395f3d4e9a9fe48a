"""recblocks against NVIDIA Merlin Models 23.8 (TensorFlow 2.12.1, CPU) on the
seed notebook's model, same data, same threads, runs alternated.

    bash bench/merlin/setup.sh                      # Merlin's venv (once)
    python3 bench/merlin/run.py --data DIR [--runs 3] [--epochs 3] [--threads 2]

DIR holds recblocks/{train,valid} (dataset directories with the seed's
columns); the script writes merlin/{train,valid} (Parquet and a Merlin schema)
beside them with bench/merlin/to_merlin.py. Each run is a fresh process
(bench/merlin/seed.py) timed from its launch. Prints per implementation the
medians of: training samples/s of the epochs after the first (the first
includes TensorFlow's graph tracing), evaluation samples/s, seconds from
process start to the end of the first training step, peak RSS; then the
ratios recblocks / Merlin.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def cpu_model() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def run(python: str, impl: str, a, env) -> dict:
    cmd = [python, str(HERE / "seed.py"), "--impl", impl, "--data", a.data, "--epochs",
           str(a.epochs), "--threads", str(a.threads), "--start", repr(time.time())]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--merlin-python", default=str(HERE / ".venv" / "bin" / "python3"))
    ap.add_argument("--recblocks-python", default=sys.executable)
    a = ap.parse_args()
    if not (pathlib.Path(a.data) / "merlin" / "train").is_dir():
        subprocess.run([a.merlin_python, str(HERE / "to_merlin.py"), f"{a.data}/recblocks",
                        f"{a.data}/merlin"], check=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    results = {"merlin": [], "recblocks": []}
    for i in range(a.runs):
        results["merlin"].append(run(a.merlin_python, "merlin", a, env))
        results["recblocks"].append(run(a.recblocks_python, "recblocks", a, env))
        print(f"run {i + 1}: " + "; ".join(f"{k} {json.dumps(v[-1])}" for k, v in results.items()),
              file=sys.stderr, flush=True)

    def medians(runs):
        later = [statistics.median(r["train_samples_per_s"][1:] or r["train_samples_per_s"])
                 for r in runs]
        return {"train": statistics.median(later),
                "eval": statistics.median(r["eval_samples_per_s"] for r in runs),
                "first_step": statistics.median(r["start_to_first_step_s"] for r in runs),
                "rss": statistics.median(r["peak_rss_mib"] for r in runs),
                "auc": statistics.median(r["val_auc"] for r in runs)}

    m, r = medians(results["merlin"]), medians(results["recblocks"])
    rows = results["recblocks"][0]["train_rows"]
    print(f"seed model, {rows:,} training rows, batch 1024, {a.threads} threads, {a.epochs} epochs, "
          f"{a.runs} runs alternated, on {cpu_model()}")
    print(f"{'':28} {'Merlin 23.8':>12} {'recblocks':>12} {'ratio':>8}")
    print(f"{'training samples/s':28} {m['train']:12,.0f} {r['train']:12,.0f} "
          f"{r['train'] / m['train']:7.1f}x")
    print(f"{'evaluation samples/s':28} {m['eval']:12,.0f} {r['eval']:12,.0f} "
          f"{r['eval'] / m['eval']:7.1f}x")
    print(f"{'start to first step, s':28} {m['first_step']:12.2f} {r['first_step']:12.2f} "
          f"{m['first_step'] / r['first_step']:7.1f}x faster")
    print(f"{'peak RSS, MiB':28} {m['rss']:12.0f} {r['rss']:12.0f} {r['rss'] / m['rss']:8.3f}")
    print(f"{'validation AUC':28} {m['auc']:12.4f} {r['auc']:12.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
