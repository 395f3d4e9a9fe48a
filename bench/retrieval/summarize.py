"""Summarises bench/retrieval/run.sh's runs.jsonl as a markdown table."""
import json
import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    runs = [json.loads(line) for line in open(path) if line.strip()]
    popularity = {}
    quality = defaultdict(list)                 # (impl, model) -> runs (torch: its faster setting per seed)
    torch_by_seed = defaultdict(list)           # (model, seed) -> runs of both settings
    speed = defaultdict(lambda: defaultdict(list))  # model -> impl/setting -> samples/s
    for r in runs:
        if r["model"] == "popularity":
            popularity[r["impl"]] = r
            continue
        if r["impl"] == "torch":
            torch_by_seed[(r["model"], r["seed"])].append(r)
            speed[r["model"]][f"torch OMP {r['omp']} / OpenBLAS {r['blas']}"].append(r["train_samples_per_s"])
        elif r.get("unique_candidates") is False:
            # The engine alone: every row's candidate scored, as PyTorch does.
            speed[r["model"]]["recblocks every row"].append(r["train_samples_per_s"])
        else:
            quality[("recblocks", r["model"])].append(r)
            speed[r["model"]]["recblocks"].append(r["train_samples_per_s"])
    for (model, seed), rs in torch_by_seed.items():
        quality[("torch", model)].append(max(rs, key=lambda r: r["train_samples_per_s"]))

    def spread(values):
        return f"{statistics.mean(values):.4f} ± {statistics.pstdev(values):.4f}"

    print("| model | impl | recall@10 | ndcg@10 | mrr@10 | final loss | train samples/s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    p = popularity.get("recblocks") or popularity.get("torch")
    print(f"| popularity | both | {p['recall_at_10']:.4f} | {p['ndcg_at_10']:.4f} | {p['mrr_at_10']:.4f} | - | - | - |")
    for model in ("mf", "two_tower", "youtube_dnn"):
        best_torch = max(((k, statistics.median(v)) for k, v in speed[model].items() if k.startswith("torch")),
                         key=lambda kv: kv[1], default=(None, None))
        ours = statistics.median(speed[model]["recblocks"]) if speed[model]["recblocks"] else None
        for impl in ("recblocks", "torch"):
            rs = quality.get((impl, model), [])
            if not rs:
                continue
            rate = ours if impl == "recblocks" else best_torch[1]
            ratio = f"{ours / best_torch[1]:.2f}x" if impl == "recblocks" and best_torch[1] else (best_torch[0] or "")
            print(f"| {model} | {impl} | {spread([r['recall_at_10'] for r in rs])} | "
                  f"{spread([r['ndcg_at_10'] for r in rs])} | {spread([r['mrr_at_10'] for r in rs])} | "
                  f"{spread([r['final_loss'] for r in rs])} | {rate:,.0f} | {ratio} |")
    print()
    for model, settings in speed.items():
        print(f"{model} samples/s, median over seeds: " +
              ", ".join(f"{k} {statistics.median(v):,.0f}" for k, v in sorted(settings.items())))
        every_row = settings.get("recblocks every row")
        torch_best = max((statistics.median(v) for k, v in settings.items() if k.startswith("torch")), default=None)
        if every_row and torch_best:
            print(f"{model}: recblocks scoring every row (--no-unique-candidates) "
                  f"{statistics.median(every_row) / torch_best:.2f}x PyTorch's faster setting")


if __name__ == "__main__":
    main(sys.argv[1])
