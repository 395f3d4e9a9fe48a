"""examples/define_your_own_architecture.ipynb, the seed notebook on recblocks,
run end to end in a Jupyter kernel (nbclient) on offline data: synthetic
MovieLens-1M raw files in the real format, imported by the notebook's own
get_movielens call."""

import json
import math
import os
import pathlib
import re

import pytest

import recblocks as rb

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "define_your_own_architecture.ipynb"


def text_of(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append("".join(o["text"]))
        elif "data" in o and "text/plain" in o["data"]:
            out.append("".join(o["data"]["text/plain"]))
        elif o.get("output_type") == "error":
            out.append("\n".join(o["traceback"]))
    return "\n".join(out)


def cell_with(nb, source: str):
    for cell in nb.cells:
        if cell.cell_type == "code" and source in "".join(cell.source):
            return cell
    raise AssertionError(f"no cell holds {source!r}")


def test_seed_notebook_runs_with_only_its_imports_changed(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    raw = tmp_path / "raw"
    rb.synthetic_movielens(raw, ratings=200_000, seed=1)
    monkeypatch.setenv("RECBLOCKS_MOVIELENS_SOURCE", str(raw))
    monkeypatch.setenv("RECBLOCKS_DATA", str(tmp_path / "data"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    # Only the import lines differ from the seed's cells.
    imports = "".join(nb.cells[1].source)
    assert "recblocks.merlin.models.tf as mm" in imports
    assert "(4, 64)" in text_of(cell_with(nb, "deep_continuous_block(batch).shape"))
    assert "'userId', 'movieId', 'title', 'gender'" in text_of(
        cell_with(nb, "embeddings.keys(), embeddings['userId'].shape"))
    shapes = text_of(cell_with(nb, "Output shapes of DLRM input block"))
    for column in ("userId", "movieId", "title", "gender", "deep_continuous"):
        assert re.search(rf"{column} : \(4, 64\)", shapes), shapes
    fit = text_of(cell_with(nb, "model.fit(train, batch_size=1024, epochs=5)"))
    assert "Epoch 5/5" in fit and "History" in fit
    scores = text_of(cell_with(nb, "model.evaluate(valid"))
    auc = float(re.search(r"'rating_binary/binary_classification_task/auc': ([0-9.e-]+)", scores)[1])
    assert math.isfinite(auc) and 0.5 < auc <= 1
    assert (tmp_path / "custom_dlrm" / "model.json").is_file()
    again = rb.Model.load(tmp_path / "custom_dlrm")
    assert json.loads((tmp_path / "custom_dlrm" / "model.json").read_text())["tasks"]
    assert again.tasks[0].name == "rating_binary/binary_classification_task"
