"""Writes recblocks dataset directories as Parquet with a Merlin schema (run in
bench/merlin/.venv): SRC/{train,valid} -> DST/{train,valid}."""

import json
import pathlib
import sys

import numpy as np
import pandas as pd
from merlin.io import Dataset
from merlin.schema import ColumnSchema, Schema, Tags

TAGS = {"categorical": Tags.CATEGORICAL, "continuous": Tags.CONTINUOUS, "user": Tags.USER,
        "item": Tags.ITEM, "id": Tags.ID, "target": Tags.TARGET}

src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for split in ("train", "valid"):
    meta = json.loads((src / split / "schema.json").read_text())
    frame, columns = {}, []
    for c in meta["columns"]:
        name = c["name"]
        values = np.load(src / split / f"{name}.npy")
        frame[name] = values
        tags = [TAGS[t] for t in c.get("tags", []) if t in TAGS]
        if "binary" in c.get("tags", []) or "binary_classification" in c.get("tags", []):
            tags.append(Tags.BINARY_CLASSIFICATION)
        properties = {}
        if "domain" in c:
            properties["domain"] = {"min": c["domain"]["min"], "max": c["domain"]["max"],
                                    "name": c["domain"].get("name", name)}
        columns.append(ColumnSchema(name, dtype=values.dtype, tags=tags, properties=properties))
    out = dst / split
    out.mkdir(parents=True, exist_ok=True)
    Dataset(pd.DataFrame(frame), schema=Schema(columns), cpu=True).to_parquet(str(out))
    print(split, len(frame[next(iter(frame))]), "rows ->", out)
