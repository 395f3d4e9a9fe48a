"""Chooses the Python binding library by measurement: nanobind or pybind11.

    python3 bench/bindings/run.py [--builds 2] [--calls 200000]

Builds the same small module (api.h: a no-op, scalars, a float32 array read
in place, a new array handed to numpy, an object with a method and a
property, keyword arguments) with each library from a clean build folder
(Release, one compile job, the machine's default compiler; nanobind's own
library is compiled into the module, NB_STATIC), times a rebuild after the
module's source changes (what a contributor waits for), then times each
call from Python (best of 5 runs of --calls calls). Prints build seconds,
module size and nanoseconds per call for both, and their ratio. Needs
cmake, a C++ compiler and both libraries importable (pip install nanobind
pybind11).
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import timeit

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
LIBRARIES = ("nanobind", "pybind11")


def cpu_model() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def build(library: str, folder: pathlib.Path) -> tuple[float, float, pathlib.Path]:
    """Configures and builds from scratch, then rebuilds after touching the
    module's source; returns (seconds, rebuild seconds, module path)."""
    shutil.rmtree(folder, ignore_errors=True)
    start = time.monotonic()
    subprocess.run(["cmake", "-S", str(HERE), "-B", str(folder), f"-DBINDING={library}",
                    f"-DPython_EXECUTABLE={sys.executable}", "-DCMAKE_BUILD_TYPE=Release"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(folder), "-j", "1"], check=True, capture_output=True)
    seconds = time.monotonic() - start
    (HERE / f"{library}_module.cpp").touch()
    start = time.monotonic()
    subprocess.run(["cmake", "--build", str(folder), "-j", "1"], check=True, capture_output=True)
    rebuild = time.monotonic() - start
    module = next(folder.glob(f"binding_{library}*.so"))
    return seconds, rebuild, module


def per_call_ns(stmt, calls: int) -> float:
    return min(timeit.repeat(stmt, number=calls, repeat=5)) / calls * 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builds", type=int, default=2, help="clean builds per library (best kept)")
    ap.add_argument("--calls", type=int, default=200000)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="binding_choice_"))
    try:
        results = {}
        build_times = {lib: [] for lib in LIBRARIES}
        rebuild_times = {lib: [] for lib in LIBRARIES}
        modules = {}
        for _ in range(a.builds):  # alternating, so both see the same machine state
            for lib in LIBRARIES:
                seconds, rebuild, module = build(lib, work / lib)
                build_times[lib].append(seconds)
                rebuild_times[lib].append(rebuild)
                modules[lib] = module
        for lib in LIBRARIES:
            sys.path.insert(0, str(modules[lib].parent))
            m = importlib.import_module(f"binding_{lib}")
            small = np.arange(16, dtype=np.float32)
            counter = m.Counter("c")
            calls = {
                "noop()": lambda: m.noop(),
                "add(1, 2)": lambda: m.add(1, 2),
                "sum(float32[16])": lambda: m.sum(small),
                "iota(16) -> numpy": lambda: m.iota(16),
                "options(batch_size=, epochs=)": lambda: m.options(batch_size=256, epochs=2),
                "Counter.add(1)": lambda: counter.add(1),
                "Counter.value": lambda: counter.value,
            }
            assert m.sum(small) == float(small.sum()) and list(m.iota(4)) == [0, 1, 2, 3]
            results[lib] = {name: per_call_ns(f, a.calls) for name, f in calls.items()}
            results[lib]["clean build s"] = min(build_times[lib])
            results[lib]["module rebuild s"] = min(rebuild_times[lib])
            results[lib]["module KiB"] = modules[lib].stat().st_size / 1024
        print(f"binding choice on {cpu_model()}, Python {platform.python_version()}, "
              f"{a.builds} clean builds each (best), {a.calls} calls x 5 (best)")
        print(f"{'':34} {'nanobind':>10} {'pybind11':>10} {'pybind11/nanobind':>18}")
        for key in results["nanobind"]:
            nb, pb = results["nanobind"][key], results["pybind11"][key]
            unit = "" if key.endswith(" s") or key.endswith("KiB") else " ns"
            print(f"{key + unit:34} {nb:10.1f} {pb:10.1f} {pb / nb:18.2f}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
