"""Crash safety: kill -9 recblocks while it writes, then check what is left.

    python3 bench/crash_safety/run.py --cli build/recblocks [--trials 100] [--seed 1]
        [--scenarios model,checkpoint,dataset,import] [--work DIR]

Each trial starts from a directory holding a complete old version, runs a
command that writes a new version over it and kills it (SIGKILL) at a random
moment: for half of the trials anywhere in the command's run time, for the
other half in its last 25 % (where the writing happens). The "killed" column
counts the trials whose kill came before the command ended. Then the directory
must be the old version or a new one, whole:

  model       `train --out M` over an older model M. old: M's files are the
              old model's bytes; new: they are the bytes of the same command
              run to the end (training is deterministic on one thread).
  checkpoint  `train --checkpoint-dir C --checkpoint-every 2` over an older
              checkpoint C. old: C's files are the old checkpoint's bytes;
              new: fit resumes from C (--resume) and ends with the model of
              an uninterrupted run, byte for byte (a checkpoint from any step).
  dataset     `data synthetic --out D` (train/ and valid/) over an older
              dataset folder D. old / new: D's files are the bytes of the old
              / the new dataset.
  import      `data csv --input D/new.csv --out D` over an older import of
              D/old.csv with a validation split (the new one has none): D
              holds the CSV files beside train/, valid/ and etl/, as raw
              files often are. old / new: D's files are the bytes of the old /
              the new import, the CSV files kept, no stale valid/ beside a
              new train/.

Anything else is broken: a mix of versions, a missing or partial file, a
directory that does not load. Prints trials / old / new / broken per
scenario (and what was broken) and exits 1 if any trial was broken.
Hidden staging directories (".M.tmp-<pid>-<n>") that a killed writer leaves
are counted; the next writer removes them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DATA_ARGS = ["--shape", "criteo", "--rows", "4000", "--max-table-size", "300",
             "--valid-fraction", "0.2"]
TRAIN_ARGS = ["--model", "dlrm", "--embedding-dim", "8", "--bottom", "16,8", "--top", "16",
              "--batch-size", "256", "--epochs", "2", "--no-progress"]


def digest(root: pathlib.Path) -> dict[str, str] | None:
    """Relative path -> sha256 of every visible file below root (None: no root)."""
    if not root.is_dir():
        return None
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # staging directories of a killed writer
        if p.is_file():
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def old_or_new(d: dict[str, str] | None, old: dict[str, str],
               new: dict[str, str]) -> tuple[str, str]:
    """("old" | "new" | "broken", what was mixed) for a folder of datasets."""
    if d == old:
        return "old", ""
    if d == new:
        return "new", ""
    old_parts = sorted({k.split("/")[0] for k, v in (d or {}).items() if old.get(k) == v})
    new_parts = sorted({k.split("/")[0] for k, v in (d or {}).items() if new.get(k) == v})
    return "broken", f"a mix: old {old_parts}, new {new_parts}"


def stale_siblings(target: pathlib.Path) -> int:
    return sum(1 for p in target.parent.glob(f".{target.name}.*"))


class Runner:
    def __init__(self, cli: str, work: pathlib.Path):
        self.cli = cli
        self.work = work

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([self.cli, "--threads", "1", *args], capture_output=True, text=True,
                           timeout=600)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def timed(self, *args: str) -> float:
        start = time.monotonic()
        self.run(*args)
        return time.monotonic() - start

    def killed(self, args: list[str], delay: float) -> bool:
        """Runs args, SIGKILLs it after delay s; True if it was still running."""
        p = subprocess.Popen([self.cli, "--threads", "1", *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout=delay)
            return False
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            return True


class Scenario:
    """Prepares the old and new versions once; each trial kills one write."""

    name = ""

    def __init__(self, r: Runner):
        self.r = r
        self.dir = r.work / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.target = self.dir / "target"
        self.old_copy = self.dir / "old"

    def command(self) -> list[str]:
        raise NotImplementedError

    def restore_old(self) -> None:
        shutil.rmtree(self.target, ignore_errors=True)
        shutil.copytree(self.old_copy, self.target)

    def classify(self) -> tuple[str, str]:
        raise NotImplementedError

    def trial(self, rng: random.Random, late: bool) -> tuple[str, str, bool]:
        self.restore_old()
        delay = rng.uniform(0.75 * self.seconds, 1.0 * self.seconds) if late else \
            rng.uniform(0.0, self.seconds)
        was_killed = self.r.killed(self.command(), delay)
        outcome, detail = self.classify()
        return outcome, detail, was_killed


class ModelSave(Scenario):
    name = "model"

    def __init__(self, r: Runner, data: pathlib.Path):
        super().__init__(r)
        self.data = data
        r.run("train", "--data", str(data), *TRAIN_ARGS, "--seed", "1", "--out", str(self.old_copy))
        self.old = digest(self.old_copy)
        ref = self.dir / "new"
        self.seconds = r.timed(*self.command_to(ref))
        self.new = digest(ref)
        again = self.dir / "new_again"
        r.run(*self.command_to(again))
        if digest(again) != self.new:
            raise RuntimeError("training twice gave different model files: the new version has no "
                               "fixed bytes to compare with")

    def command_to(self, out: pathlib.Path) -> list[str]:
        return ["train", "--data", str(self.data), *TRAIN_ARGS, "--seed", "2", "--out", str(out)]

    def command(self) -> list[str]:
        return self.command_to(self.target)

    def classify(self) -> tuple[str, str]:
        d = digest(self.target)
        if d == self.old:
            return "old", ""
        if d == self.new:
            return "new", ""
        return "broken", f"files {sorted(d or {})} match neither version"


class CheckpointSave(Scenario):
    name = "checkpoint"

    def __init__(self, r: Runner, data: pathlib.Path):
        super().__init__(r)
        self.data = data
        r.run("train", "--data", str(data), *TRAIN_ARGS, "--seed", "1", "--checkpoint-dir",
              str(self.old_copy), "--checkpoint-every", "2", "--out", str(self.dir / "old_model"))
        self.old = digest(self.old_copy)
        self.final_model = self.dir / "final"
        start = time.monotonic()
        r.run(*self.command_to(self.dir / "reference_checkpoint", self.final_model))
        self.seconds = time.monotonic() - start
        self.final = digest(self.final_model)

    def command_to(self, checkpoint: pathlib.Path, out: pathlib.Path) -> list[str]:
        return ["train", "--data", str(self.data), *TRAIN_ARGS, "--seed", "2", "--checkpoint-dir",
                str(checkpoint), "--checkpoint-every", "2", "--out", str(out)]

    def command(self) -> list[str]:
        return self.command_to(self.target, self.dir / "killed_model")

    def classify(self) -> tuple[str, str]:
        d = digest(self.target)
        if d == self.old:
            return "old", ""
        resumed = self.dir / "resumed"
        shutil.rmtree(resumed, ignore_errors=True)
        r = self.r.run(*self.command_to(self.target, resumed), "--resume", check=False)
        if r.returncode != 0:
            return "broken", f"resuming failed: {r.stderr.strip()[:300]}"
        if digest(resumed) != self.final:
            return "broken", "resumed, but the final model differs from an uninterrupted run's"
        return "new", ""


class DatasetWrite(Scenario):
    name = "dataset"

    def __init__(self, r: Runner):
        super().__init__(r)
        r.run("data", "synthetic", *DATA_ARGS, "--seed", "1", "--out", str(self.old_copy))
        self.old = digest(self.old_copy)
        ref = self.dir / "new"
        self.seconds = r.timed(*self.command_to(ref))
        self.new = digest(ref)

    def command_to(self, out: pathlib.Path) -> list[str]:
        return ["data", "synthetic", *DATA_ARGS, "--seed", "2", "--out", str(out)]

    def command(self) -> list[str]:
        return self.command_to(self.target)

    def classify(self) -> tuple[str, str]:
        return old_or_new(digest(self.target), self.old, self.new)


class ImportWrite(Scenario):
    name = "import"

    def __init__(self, r: Runner):
        super().__init__(r)
        schema = self.dir / "schema.json"
        schema.write_text(json.dumps({"columns": [
            {"name": "user", "tags": ["categorical", "user_id"]},
            {"name": "item", "tags": ["categorical", "item_id"]},
            {"name": "price", "tags": ["continuous"]},
            {"name": "clicked", "tags": ["target", "binary_classification"]}]}))
        self.schema = schema
        shutil.rmtree(self.target, ignore_errors=True)
        self.target.mkdir()
        for name, seed in (("old.csv", 1), ("new.csv", 2)):
            rng = random.Random(seed)
            rows = [f"u{rng.randrange(5000)},i{rng.randrange(2000)},{rng.random():.4f},"
                    f"{rng.randrange(2)}" for _ in range(300000)]
            (self.target / name).write_text("user,item,price,clicked\n" + "\n".join(rows) + "\n")
        # Both versions are made in place: etl/csv.json records the input's path.
        r.run(*self.command_with("old.csv"), "--valid-fraction", "0.2")
        self.old = digest(self.target)
        shutil.rmtree(self.old_copy, ignore_errors=True)
        shutil.copytree(self.target, self.old_copy)
        self.seconds = r.timed(*self.command())
        self.new = digest(self.target)
        if "valid/schema.json" in self.new or "old.csv" not in self.new:
            raise RuntimeError(f"the new import holds {sorted(self.new)}: expected the CSV files, "
                               "train/ and etl/ only")

    def command_with(self, csv: str) -> list[str]:
        return ["data", "csv", "--input", str(self.target / csv), "--schema", str(self.schema),
                "--out", str(self.target)]

    def command(self) -> list[str]:
        return self.command_with("new.csv")

    def classify(self) -> tuple[str, str]:
        return old_or_new(digest(self.target), self.old, self.new)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", required=True, help="the recblocks executable")
    ap.add_argument("--trials", type=int, default=100, help="trials in all (spread over the scenarios)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    ap.add_argument("--scenarios", default="model,checkpoint,dataset,import")
    ap.add_argument("--work", help="scratch directory (default: a temporary one, removed)")
    a = ap.parse_args()
    names = a.scenarios.split(",")
    for n in names:
        if n not in ("model", "checkpoint", "dataset", "import"):
            ap.error(f"unknown scenario '{n}'")
    work = pathlib.Path(a.work) if a.work else pathlib.Path(tempfile.mkdtemp(prefix="crash_safety_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        r = Runner(str(pathlib.Path(a.cli).resolve()), work)
        start = time.monotonic()
        data = work / "data"
        if {"model", "checkpoint"} & set(names):
            r.run("data", "synthetic", *DATA_ARGS, "--seed", "7", "--out", str(data))
        scenarios = []
        for n in names:
            s = ModelSave(r, data) if n == "model" else CheckpointSave(r, data) if n == "checkpoint" \
                else DatasetWrite(r) if n == "dataset" else ImportWrite(r)
            print(f"{n}: the uninterrupted write takes {s.seconds:.2f} s", flush=True)
            scenarios.append(s)
        rng = random.Random(a.seed)
        counts = {s.name: {"trials": 0, "old": 0, "new": 0, "broken": 0, "killed": 0} for s in scenarios}
        broken = []
        for i in range(a.trials):
            s = scenarios[i % len(scenarios)]
            outcome, detail, was_killed = s.trial(rng, late=(i // len(scenarios)) % 2 == 1)
            c = counts[s.name]
            c["trials"] += 1
            c[outcome] += 1
            c["killed"] += int(was_killed)
            if outcome == "broken":
                broken.append(f"{s.name} trial {i}: {detail}")
        print(f"\n{'scenario':<11} {'trials':>6} {'old':>5} {'new':>5} {'broken':>6} {'killed':>6} "
              f"{'stale':>5}")
        for s in scenarios:
            c = counts[s.name]
            print(f"{s.name:<11} {c['trials']:>6} {c['old']:>5} {c['new']:>5} {c['broken']:>6} "
                  f"{c['killed']:>6} {stale_siblings(s.target):>5}")
        total = {k: sum(c[k] for c in counts.values()) for k in ("trials", "old", "new", "broken")}
        print(f"{'all':<11} {total['trials']:>6} {total['old']:>5} {total['new']:>5} "
              f"{total['broken']:>6}   ({time.monotonic() - start:.0f} s; killed: the kill came "
              f"before the command ended; stale: staging directories left beside the target)")
        for line in broken:
            print("BROKEN", line)
        return 1 if broken else 0
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
