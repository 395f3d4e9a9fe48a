#!/usr/bin/env python3
"""Markdown summary of bench/gemm results (the JSON lines written by run.sh).

usage: summarize.py gemm.jsonl

Cells are GFLOP/s = 2*M*N*K / median time; with several runs, the median over
the runs, marked '*' when the runs differ by more than 10 % (max-min)/max. Runs during which
other processes used the CPU ("contended") are ignored when an uncontended
run exists; 'c' marks a cell with only contended runs. 'FAIL' = a wrong
result in some run (that library+mode is excluded from 'best' and totals),
'n/a' = the library cannot do this GEMM, '-' = mode not applicable.
"""
import json
import math
import statistics
import sys
from collections import OrderedDict, defaultdict

LIBS = ["openblas-openmp", "openblas-pthread", "openblas-serial", "blis", "dnnl", "libxsmm"]
SHORT = {"openblas-openmp": "OB-omp", "openblas-pthread": "OB-pth", "openblas-serial": "OB-ser",
         "blis": "BLIS", "dnnl": "oneDNN", "libxsmm": "xsmm"}
GROUPS = OrderedDict([("seed", "Seed DLRM, batch 1024"), ("criteo-b128", "Criteo-like DLRM, batch 128"),
                      ("criteo-b256", "Criteo-like DLRM, batch 256")])
# Layers that occur more than once per training step (Bx256x512: bottom and top MLP).
WEIGHT = {("criteo-b128", "128x256x512"): 2, ("criteo-b256", "256x256x512"): 2}
NOISE = 0.10


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return recs


class Cells:
    """Measurements of one tag, keyed by (group, fwd_shape, pass) and (lib, mode)."""

    def __init__(self, recs, tag, use_contention=True):
        self.use_contention = use_contention
        self.rows = OrderedDict()
        self.data = defaultdict(list)
        self.unsupported = set()
        self.failed_cols = set()
        for r in recs:
            if r.get("type") != "gemm" or r.get("tag") != tag or "gflops" not in r and r.get("supported", True):
                continue
            row = (r["group"], r["fwd_shape"], r["pass"])
            self.rows.setdefault(row, r)
            col = (r["lib"], r["mode"])
            if not r["supported"]:
                self.unsupported.add((row, col))
                continue
            self.data[(row, col)].append(r)
            if not r["ok"]:
                self.failed_cols.add(col)

    def cols(self):
        return {c for (_, c) in self.data} | {c for (_, c) in self.unsupported}

    def best(self, row, col):
        """(gflops, median_us, noisy, failed) of the best run, or None."""
        rs = self.data.get((row, col))
        if not rs:
            return None
        failed = any(not r["ok"] for r in rs)
        quiet = [r for r in rs if not (self.use_contention and r.get("contended"))]
        use = quiet or rs
        g = [r["gflops"] for r in use]
        us = statistics.median(r["median_us"] for r in use)
        noisy = len(g) > 1 and (max(g) - min(g)) / max(g) > NOISE
        return statistics.median(g), us, noisy, failed, not quiet

    def cell(self, row, col):
        if (row, col) in self.unsupported:
            return "n/a"
        b = self.best(row, col)
        if b is None:
            return "-"
        g, _, noisy, failed, contended = b
        if failed:
            return "FAIL"
        return f"{g:.1f}" + ("*" if noisy else "") + ("c" if contended else "")

    def valid(self, col):
        return col not in self.failed_cols


def fmt_row(cells):
    return "| " + " | ".join(cells) + " |"


def table(header, rows):
    out = [fmt_row(header), fmt_row(["---"] * len(header))]
    out += [fmt_row(r) for r in rows]
    return "\n".join(out)


def pass_label(r):
    op = {"fwd": "", "dX": " (B^T)", "dW": " (A^T)"}[r["pass"]]
    return f"{r['pass']} {r['shape']}{op}"


def best_of(cells, row, cols):
    cand = []
    for col in cols:
        if not cells.valid(col):
            continue
        b = cells.best(row, col)
        if b:
            cand.append((b[0], col))
    if not cand:
        return "-"
    g, (lib, mode) = max(cand)
    return f"{SHORT[lib]} {mode} {g:.1f}"


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    recs = load(sys.argv[1])
    out = []
    machine = next((r for r in recs if r.get("type") == "machine"), {})
    infos = [r for r in recs if r.get("type") == "info" and r.get("tag") == "default"]
    # Under SCHED_FIFO (run.sh RT_PRIORITY) other processes only get the CPU time this
    # process leaves idle, so their CPU time says nothing about interference: ignore it.
    rt = machine.get("rt_priority", "none") != "none"
    cells = Cells(recs, "default", use_contention=not rt)
    present = cells.cols()
    cols1 = [(l, "1t") for l in LIBS if (l, "1t") in present]
    cols2 = [(l, "2t") for l in LIBS if (l, "2t") in present] + [(l, "split") for l in LIBS if (l, "split") in present]

    out.append("## Machine and setup\n")
    out.append(f"- date (UTC): {machine.get('date', '?')}; command: `{machine.get('command', '?')}`; runs: {machine.get('runs', '?')}")
    out.append(f"- CPU: {machine.get('model', '?')}, {machine.get('cpus', '?')} CPUs, flags: {machine.get('flags', '?')}; "
               f"kernel {machine.get('kernel', '?')}; {machine.get('compiler', '?')}")
    out.append(f"- OPENBLAS_CORETYPE={machine.get('OPENBLAS_CORETYPE', '?')}, OPENBLAS_L2_SIZE={machine.get('OPENBLAS_L2_SIZE', '?')}; "
               f"SCHED_FIFO priority: {machine.get('rt_priority', 'none')}; extra arguments: '{machine.get('bench_args', '')}'")
    loads = [r["loadavg"].split()[0] for r in infos if "loadavg" in r]
    if loads:
        out.append(f"- 1-min load average at process starts: {min(loads, key=float)} to {max(loads, key=float)}")
    out.append("")
    seen = set()
    lib_rows = []
    for r in infos:
        if r["lib"] in seen:
            continue
        seen.add(r["lib"])
        lib_rows.append([r["lib"], r.get("version", ""), r.get("core", ""), r.get("parallel", ""), r.get("lib_path") or ""])
    out.append(table(["library", "version / config", "kernel (core)", "threading", "loaded from"], lib_rows))
    out.append("")
    thr = sorted({(r["lib"], r["mode"], r.get("lib_threads"), r.get("omp_max_threads"), r.get("split_team")) for r in infos})
    out.append("Threads as reported by each process (library threads, omp_get_max_threads, split team): " +
               "; ".join(f"{SHORT[l]} {m}: {a}/{b}/{c}" for l, m, a, b, c in thr))
    out.append("")

    for group, title in GROUPS.items():
        rows = [k for k in cells.rows if k[0] == group]
        if not rows:
            continue
        out.append(f"### {title}: GFLOP/s, 1 thread\n")
        body = []
        for row in rows:
            r = cells.rows[row]
            body.append([r["fwd_shape"], pass_label(r)] + [cells.cell(row, c) for c in cols1] + [best_of(cells, row, cols1)])
        out.append(table(["layer MxNxK", "GEMM MxNxK"] + [SHORT[l] for l, _ in cols1] + ["best"], body))
        out.append("")
        out.append(f"### {title}: GFLOP/s, 2 threads (library threading `2t`, or batch-split `split`)\n")
        body = []
        for row in rows:
            r = cells.rows[row]
            body.append([r["fwd_shape"], pass_label(r)] + [cells.cell(row, c) for c in cols2] + [best_of(cells, row, cols2)])
        out.append(table(["layer MxNxK", "GEMM MxNxK"] + [f"{SHORT[l]} {m}" for l, m in cols2] + ["best"], body))
        out.append("")

    # Totals: time of all GEMMs of one training step (fwd + dX + dW of every layer).
    out.append("### Total GEMM time per training step (µs, sum of medians; fwd+dX+dW of every layer)\n")
    body = []
    for col in cols1 + cols2:
        line = [f"{SHORT[col[0]]} {col[1]}"]
        for group in GROUPS:
            rows = [k for k in cells.rows if k[0] == group]
            if not rows:
                continue
            total, fwd, missing = 0.0, 0.0, False
            for row in rows:
                b = cells.best(row, col)
                if b is None:
                    missing = True
                    continue
                w = WEIGHT.get((group, row[1]), 1)
                total += w * b[1]
                if row[2] == "fwd":
                    fwd += w * b[1]
            if not cells.valid(col):
                line += ["FAIL", "FAIL"]
            else:
                line += ["n/a" if missing else f"{total:.0f}", f"{fwd:.0f}"]
        body.append(line)
    hdr = ["library mode"]
    for group in GROUPS:
        if any(k[0] == group for k in cells.rows):
            hdr += [f"{group} all", f"{group} fwd"]
    out.append(table(hdr, body))
    out.append("")
    for label, cols in (("1 thread", cols1), ("2 threads", cols2)):
        parts = []
        for group in GROUPS:
            rows = [k for k in cells.rows if k[0] == group]
            if not rows:
                continue
            tot = 0.0
            for row in rows:
                ts = [cells.best(row, c)[1] for c in cols if cells.valid(c) and cells.best(row, c)]
                tot += WEIGHT.get((group, row[1]), 1) * min(ts)
            parts.append(f"{group} {tot:.0f} µs")
        out.append(f"- best library+mode per GEMM, {label}: " + ", ".join(parts))
    out.append("")

    # Totals by shape class, over all three models: where each library is weak or strong.
    def shape_class(r):
        d = min(r["M"], r["N"], r["K"])
        return "gemv-like (a dim = 1)" if d == 1 else "thin (a dim 2..16)" if d <= 16 else "regular (all dims >= 64)"
    classes = ["regular (all dims >= 64)", "thin (a dim 2..16)", "gemv-like (a dim = 1)"]
    model_rows = [k for k in cells.rows if k[0] in GROUPS]
    if model_rows:
        out.append("### Total time by shape class, all three models together (µs; fwd+dX+dW)\n")
        counts = {c: sum(1 for k in model_rows if shape_class(cells.rows[k]) == c) for c in classes}
        body = []
        best = {}
        for col in cols1 + cols2:
            line = [f"{SHORT[col[0]]} {col[1]}"]
            for c in classes:
                tot, missing = 0.0, False
                for row in model_rows:
                    if shape_class(cells.rows[row]) != c:
                        continue
                    b = cells.best(row, col)
                    if b is None:
                        missing = True
                        continue
                    tot += WEIGHT.get((row[0], row[1]), 1) * b[1]
                if not cells.valid(col):
                    line.append("FAIL")
                elif missing:
                    line.append("n/a")
                else:
                    line.append(f"{tot:.0f}")
                    key = (c, col[1] == "1t")
                    if key not in best or tot < best[key][0]:
                        best[key] = (tot, col)
            body.append(line)
        out.append(table(["library mode"] + [f"{c} [{counts[c]} GEMMs]" for c in classes], body))
        for one in (True, False):
            out.append(f"- fastest at {'1 thread' if one else '2 threads'}: " + "; ".join(
                f"{c}: {SHORT[best[(c, one)][1][0]]} {best[(c, one)][1][1]} ({best[(c, one)][0]:.0f} µs)"
                for c in classes if (c, one) in best))
        out.append("")

    rows = [k for k in cells.rows if k[0] == "roofline"]
    if rows:
        out.append("### Roofline reference: 2048x2048x2048 sgemm, GFLOP/s\n")
        body = []
        for lib in LIBS:
            line = [lib]
            for mode in ("1t", "2t", "split"):
                line.append(cells.cell(rows[0], (lib, mode)))
            if any(c not in ("-",) for c in line[1:]):
                body.append(line)
        out.append(table(["library", "1 thread", "2 threads (library)", "2 threads (split)"], body))
        out.append("")

    # Two thread pools: the library's 2-thread GEMM followed by an OpenMP epilogue.
    epi_cols = [l for l in LIBS if (l, "2t_epi") in present]
    if epi_cols:
        out.append("### One pool or two: forward GEMM + OpenMP bias/ReLU epilogue at 2 threads (µs per layer)\n")
        out.append("`2t` = GEMM alone; `+epi` = the same GEMM followed by an `omp parallel for` epilogue "
                   "(the library's threads and recblocks' OpenMP threads take turns).\n")
        body = []
        totals = defaultdict(float)
        for row in cells.rows:
            if row[2] != "fwd" or row[0] not in GROUPS:
                continue
            line = [row[0], row[1]]
            for lib in epi_cols:
                for mode in ("2t", "2t_epi"):
                    b = cells.best(row, (lib, mode))
                    if b is None:
                        line.append("-")
                        continue
                    totals[(row[0], lib, mode)] += WEIGHT.get((row[0], row[1]), 1) * b[1]
                    line.append(("FAIL" if b[3] else f"{b[1]:.1f}") + ("c" if b[4] else ""))
            body.append(line)
        for group in GROUPS:
            if any((group, l, "2t_epi") in totals for l in epi_cols):
                body.append([f"**{group} total**", ""] + [f"{totals[(group, l, m)]:.0f}" for l in epi_cols for m in ("2t", "2t_epi")])
        out.append(table(["group", "layer"] + [f"{SHORT[l]} {m}" for l in epi_cols for m in ("2t", "+epi")], body))
        out.append("")

    # Stress: thread safety of the split mode.
    stress = [r for r in recs if r.get("type") == "gemm" and r.get("tag") == "stress" and r.get("supported")]
    if stress:
        out.append("### Batch-split thread safety (every split GEMM repeated and checked)\n")
        body = []
        for lib in LIBS:
            rs = [r for r in stress if r["lib"] == lib]
            if not rs:
                continue
            bad = [r for r in rs if not r["ok"]]
            checks = sum(r["checks"] for r in rs)
            bad_checks = sum(r["bad_checks"] for r in rs)
            worst = max(r["max_rel_err"] for r in rs)
            body.append([lib, str(len(rs)), str(checks), f"{bad_checks} ({len(bad)} GEMMs)", f"{worst:.2e}"])
        out.append(table(["library", "GEMMs", "checks", "wrong results", "max rel. error"], body))
        out.append("")

    # Run-to-run agreement.
    noisy = []
    for (row, col), rs in cells.data.items():
        g = [r["gflops"] for r in rs if rt or not r.get("contended")]
        if len(g) > 1:
            d = (max(g) - min(g)) / max(g)
            noisy.append((d, row, col, g))
    timed = [r for r in recs if r.get("type") == "gemm" and r.get("tag") == "default" and "gflops" in r]
    if timed:
        cont = [r for r in timed if r.get("contended")]
        retried = [r for r in timed if r.get("attempts", 1) > 1]
        waited = sum(r.get("waited_s", 0) for r in recs if r.get("type") == "done" and r.get("tag") == "default")
        out.append("### Contention\n")
        out.append(f"{len(timed)} measurements; {len(retried)} repeated because other processes used the CPU; "
                   f"{len(cont)} still contended after retries (more than the threshold of foreign CPU time); "
                   f"{waited:.0f} s spent waiting for a quiet machine." +
                   (" Run under SCHED_FIFO: contention flags are not used." if rt else ""))
        out.append("")
    if noisy:
        many = [n for n in noisy if n[0] > NOISE]
        out.append("### Run-to-run agreement" + ("" if rt else " (uncontended runs)") + "\n")
        out.append(f"{len(many)} of {len(noisy)} cells differ by more than {NOISE:.0%} between runs "
                   f"(median difference {sorted(n[0] for n in noisy)[len(noisy) // 2]:.1%}).")
        for mode in ("1t", "2t", "split", "2t_epi"):
            m = [n for n in noisy if n[2][1] == mode]
            if m:
                out.append(f"- {mode}: {sum(1 for n in m if n[0] > NOISE)} of {len(m)} cells over {NOISE:.0%}")
        if many:
            out.append("\nLargest differences:\n")
            body = [[SHORT[c[0]] + " " + c[1], r[0], r[1], r[2], " / ".join(f"{x:.1f}" for x in g), f"{d:.0%}"]
                    for d, r, c, g in sorted(many, reverse=True)[:12]]
            out.append(table(["library mode", "group", "layer", "pass", "GFLOP/s per run", "diff"], body))
        out.append("")

    # OpenBLAS with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, if that run exists.
    unset = Cells(recs, "openblas-env-unset", use_contention=not rt)
    if unset.rows:
        out.append("### OpenBLAS with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (ratio unset / as set)\n")
        body = []
        for col in sorted(unset.cols()):
            ratios = []
            for row in unset.rows:
                a, b = unset.best(row, col), cells.best(row, col)
                if a and b:
                    ratios.append(a[0] / b[0])
            if ratios:
                gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
                body.append([f"{SHORT[col[0]]} {col[1]}", str(len(ratios)), f"{gm:.3f}", f"{min(ratios):.2f}", f"{max(ratios):.2f}"])
        cores = {r["lib"]: r.get("core") for r in recs if r.get("type") == "info" and r.get("tag") == "openblas-env-unset"}
        out.append(table(["library mode", "GEMMs", "geomean", "min", "max"], body))
        out.append("\nCore chosen when unset: " + ", ".join(f"{k}: {v}" for k, v in cores.items()))
        out.append("")

    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
