"""README.md's Python examples, run as they are written (in order, in a
temporary folder). get_movielens reads synthetic ml-1m-shaped raw files
there instead of downloading ml-1m."""

import os
import pathlib
import re

import recblocks as rb

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks():
    text = README.read_text()
    out = []
    for m in re.finditer(r"\n```python\n(.*?)\n```", text, re.S):
        line = text.count("\n", 0, m.start()) + 2
        out.append((line, m.group(1)))
    return out


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 2


def test_every_python_example_of_the_readme_runs(tmp_path, monkeypatch, capsys):
    rb.synthetic_movielens(tmp_path / "raw", ratings=50_000, seed=2)
    monkeypatch.setenv("RECBLOCKS_MOVIELENS_SOURCE", str(tmp_path / "raw"))
    monkeypatch.setenv("RECBLOCKS_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    for line, code in python_blocks():
        namespace = {"__name__": f"README_line_{line}"}
        exec(compile(code, f"README.md (block at line {line})", "exec"), namespace)
    out = capsys.readouterr().out
    assert "auc" in out and "(4, 32)" in out
    assert os.path.isfile(tmp_path / "custom_dlrm" / "model.json")
