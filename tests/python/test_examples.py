"""The plain scripts of examples/python run to the end."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(script: str, *args: str, cwd) -> str:
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / script), *args],
                       capture_output=True, text=True, cwd=cwd, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_seed_dlrm_script(tmp_path):
    out = run("seed_dlrm.py", "--synthetic", "20000", "--epochs", "1", "--data",
              str(tmp_path / "data"), "--out", str(tmp_path / "model"), cwd=tmp_path)
    assert "Epoch 1/1" in out and "rating_binary/binary_classification_task/auc" in out
    assert (tmp_path / "model" / "weights.safetensors").is_file()


def test_from_pandas_script(tmp_path):
    out = run("from_pandas.py", cwd=tmp_path)
    assert "Epoch 3/3" in out and "first scores:" in out
