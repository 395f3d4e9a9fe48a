"""pyarrow's Parquet reader, the peer of `bench_stream loader`: how a PyTorch
or TensorFlow user streams Parquet without Merlin's dataloader.

    python peer_pyarrow.py --data DIR [--no-shuffle] [--window W] [--batch B] [--threads T]

In order: ParquetFile.iter_batches(batch_size=B) file after file, each
column of a batch as a numpy array (zero-copy where pyarrow allows), which
is what a training loop takes. Shuffled: the row groups of every file in a
random order, W at a time read with read_row_groups and joined, the
window's rows permuted and gathered batch by batch with numpy's take (the
same work recblocks' loader does). pyarrow decodes with T threads
(pyarrow.set_cpu_count; use_threads when T > 1). One JSON line, as
bench_stream prints: rows/s by the wall clock, CPU seconds, peak RSS.
"""

import argparse
import json
import re
import resource
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def part_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = [p for p in path.glob("*.parquet") if not p.name.startswith((".", "_"))]
    return sorted(files, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])


def in_order(files, batch, threads):
    rows, checksum = 0, 0
    for f in files:
        for b in pq.ParquetFile(f).iter_batches(batch_size=batch, use_threads=threads > 1):
            columns = {name: b.column(i).to_numpy() for i, name in enumerate(b.schema.names)}
            rows += b.num_rows
            checksum += int(columns["C1"][0])
    return rows, checksum


def shuffled(files, batch, window, threads, seed=0):
    readers = [pq.ParquetFile(f) for f in files]
    groups = [(i, g) for i, r in enumerate(readers) for g in range(r.num_row_groups)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    rows, checksum = 0, 0
    for w in range(0, len(order), window):
        tables = []
        for k in order[w : w + window]:
            i, g = groups[k]
            tables.append(readers[i].read_row_group(g, use_threads=threads > 1))
        table = pa.concat_tables(tables)
        columns = {name: table.column(name).to_numpy() for name in table.column_names}
        perm = rng.permutation(table.num_rows)
        for start in range(0, table.num_rows, batch):
            idx = perm[start : start + batch]
            out = {name: np.take(values, idx) for name, values in columns.items()}
            rows += len(idx)
            checksum += int(out["C1"][0])
    return rows, checksum


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--no-shuffle", action="store_true")
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    pa.set_cpu_count(args.threads)
    pa.set_io_thread_count(args.threads)
    files = part_files(args.data)
    start, cpu = time.perf_counter(), time.process_time()
    if args.no_shuffle:
        rows, checksum = in_order(files, args.batch, args.threads)
    else:
        rows, checksum = shuffled(files, args.batch, args.window, args.threads)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "bench": "stream", "mode": "loader", "format": "parquet", "storage": "pyarrow",
        "shuffle": not args.no_shuffle, "window": args.window, "threads": args.threads,
        "batch": args.batch, "rows": rows, "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds), "cpu_s": round(time.process_time() - cpu, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "checksum": checksum, "pyarrow": pa.__version__,
    }))


if __name__ == "__main__":
    main()
