"""The bad-input corpus: recblocks' command-line tool on inputs a hostile or
careless user gives it, each case with the exit status and the words its
message must hold.

    python3 corpus.py --cli build/recblocks cases/npy.py [cases/...]
    python3 corpus.py --cli build/recblocks --summary cases/*.py

A case file defines CASES, a list of Case. Before a case runs, its `files`
are written into a fresh scratch directory; in `argv` and in file contents
given as str, {dir} is that directory, {good} a valid dataset folder
(train/, valid/: synthetic Criteo-shaped rows), {model} a model trained on
it (the fixtures are made once per run with the tool itself).

Every case must end as it says, and never by a crash (a signal, an abort),
a hang (`timeout` seconds), a memory blow-up (the address space is capped
at `memory_gib`), an unreadable message (a line over 400 characters, a
control byte) or a silent success. Exit status 0 means a failure was found.

A case file whose area the tool was built without (Parquet) defines
SKIP(cli) returning the reason, or None to run: when every file given is
skipped, the run prints the reasons and exits with status 77 (ctest's skip).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Callable, Optional, Union

FileContent = Union[bytes, str, Callable[[pathlib.Path], None]]

MAX_LINE = 400  # characters of one message line: ~200 of user data plus the words around it


@dataclasses.dataclass
class Case:
    name: str
    argv: list[str]
    exit: int = 1
    words: list[str] = dataclasses.field(default_factory=list)
    files: dict[str, FileContent] = dataclasses.field(default_factory=dict)
    stdin: Optional[bytes] = None
    timeout: float = 30.0
    memory_gib: float = 4.0
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # added to the environment
    # After the run: returns what is wrong (e.g. an input was changed), or None.
    check: Optional[Callable[[pathlib.Path], Optional[str]]] = None


def fifo(path: pathlib.Path) -> None:
    """A file content that makes `path` a named pipe nobody writes to."""
    os.mkfifo(path)


@dataclasses.dataclass
class Outcome:
    case: str
    kind: str  # clear, crash, hang, memory, silent, unclear, wrong
    detail: str = ""


def make_fixtures(cli: str, root: pathlib.Path) -> dict[str, str]:
    good = root / "good"
    model = root / "model"
    run = lambda *args: subprocess.run([cli, *args], check=True, capture_output=True, timeout=300)
    run("data", "synthetic", "--shape", "criteo", "--rows", "3000", "--max-table-size", "500",
        "--valid-fraction", "0.2", "--out", str(good))
    run("train", "--data", str(good), "--model", "dlrm", "--embedding-dim", "8", "--bottom",
        "16,8", "--top", "16", "--epochs", "1", "--out", str(model), "--no-progress")
    return {"good": str(good), "model": str(model)}


def expand(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@functools.lru_cache(maxsize=None)
def is_sanitized(cli: str) -> bool:
    """True for an AddressSanitizer build (its shadow memory needs terabytes
    of address space, so the address-space cap cannot apply to it)."""
    with open(cli, "rb") as f:
        return b"__asan_init" in f.read()


def limit_memory(gib: float, sanitized: bool) -> Callable[[], None]:
    def apply() -> None:
        if not sanitized:
            limit = int(gib * (1 << 30))
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def case_environment(gib: float, sanitized: bool) -> dict[str, str]:
    """Under ASan, the same budget through ASan's RSS limit and recblocks'
    own memory limit (80% of the cap, as recblocks derives it from ulimit -v)."""
    env = dict(os.environ)
    if sanitized:
        mib = int(gib * 1024)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + f":hard_rss_limit_mb={mib}"
        env.setdefault("RECBLOCKS_MAX_MEMORY", f"{int(mib * 0.8)}M")
    return env


SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def readable(text: str) -> Optional[str]:
    for line in text.splitlines():
        if len(line) > MAX_LINE:
            return f"a line of {len(line)} characters (at most {MAX_LINE})"
        bad = [c for c in line if (ord(c) < 32 and c != "\t") or ord(c) == 127 or c == "\ufffd"]
        if bad:
            return f"control or undecodable bytes in: {line[:120]!r}"
    return None


def run_case(cli: str, case: Case, fixtures: dict[str, str], scratch: pathlib.Path,
             index: int) -> Outcome:
    # A short directory name beside the fixtures (scratch/fixtures): messages
    # quote these paths, and case files find the fixtures as work.parent.
    work = scratch / f"c{index}"
    work.mkdir(parents=True)
    values = dict(fixtures, dir=str(work))
    for rel, content in case.files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, str):
            path.write_text(expand(content, values))
        else:
            path.write_bytes(content)
    argv = [cli, *[expand(a, values) for a in case.argv]]
    try:
        sanitized = is_sanitized(cli)
        proc = subprocess.run(argv, input=case.stdin or b"", capture_output=True,
                              timeout=case.timeout,
                              preexec_fn=limit_memory(case.memory_gib, sanitized),
                              env={**case_environment(case.memory_gib, sanitized), **case.env},
                              cwd=work)
    except subprocess.TimeoutExpired:
        return Outcome(case.name, "hang", f"no exit after {case.timeout} s")
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode < 0 or proc.returncode in (134, 139):
        sig = -proc.returncode if proc.returncode < 0 else proc.returncode - 128
        return Outcome(case.name, "crash", f"signal {signal.Signals(sig).name}: {err[-300:]}")
    if any(report in err for report in SANITIZER_REPORTS):
        return Outcome(case.name, "crash", f"sanitizer report: {err[:300]}")
    if "bad_alloc" in err or "std::length_error" in err:
        return Outcome(case.name, "memory", err.strip()[:300])
    if case.exit != 0 and proc.returncode == 0:
        return Outcome(case.name, "silent", f"exit 0, expected {case.exit}: {out[-300:]}")
    if proc.returncode != case.exit:
        return Outcome(case.name, "wrong", f"exit {proc.returncode}, expected {case.exit}: {err[-300:]}")
    missing = [w for w in case.words if expand(w, values) not in err + out]
    problem = readable(err)
    if missing or problem or (case.exit != 0 and "internal error" in err):
        detail = f"missing {missing} " if missing else ""
        return Outcome(case.name, "unclear", f"{detail}{problem or ''}: {err.strip()[:400]}")
    if case.check:
        wrong = case.check(work)
        if wrong:
            return Outcome(case.name, "silent", wrong)
    return Outcome(case.name, "clear")


SKIP_STATUS = 77


def load_module(path: str):
    spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_cases(path: str) -> list[Case]:
    return load_module(path).CASES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True, help="the recblocks executable")
    parser.add_argument("--summary", action="store_true", help="print the counts by outcome")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("case_files", nargs="+")
    args = parser.parse_args()
    sys.path.insert(0, str(pathlib.Path(__file__).parent))

    case_files = []
    for path in args.case_files:
        skip = getattr(load_module(path), "SKIP", None)
        reason = skip(os.path.abspath(args.cli)) if skip else None
        if reason:
            print(f"skipped {path}: {reason}")
        else:
            case_files.append(path)
    if not case_files:
        return SKIP_STATUS

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="rb_bad_"))
    try:
        fixtures = make_fixtures(os.path.abspath(args.cli), scratch / "fixtures")
        outcomes = []
        names = set()
        for path in case_files:
            for case in load_cases(path):
                case.name = f"{pathlib.Path(path).stem}/{case.name}"  # unique across files
                assert case.name not in names, f"two cases named {case.name}"
                names.add(case.name)
                outcomes.append(run_case(os.path.abspath(args.cli), case, fixtures, scratch,
                                         len(outcomes)))
        failed = [o for o in outcomes if o.kind != "clear"]
        for o in failed:
            print(f"FAIL {o.case} [{o.kind}] {o.detail}")
        counts = {k: sum(o.kind == k for o in outcomes)
                  for k in ("clear", "crash", "hang", "memory", "silent", "unclear", "wrong")}
        print(f"{len(outcomes)} cases: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
