"""Datasets from and to numpy, pandas and pyarrow; the importers."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from recblocks import _recblocks
from recblocks._recblocks import ColumnSchema, Dataset, Schema

if TYPE_CHECKING:
    import numpy as np


def _column_schema(name: str, values: np.ndarray) -> ColumnSchema:
    """A column's schema inferred from its values: floats continuous, integers
    categorical with the domain [0, max]."""
    if values.dtype.kind == "f" or values.dtype.kind == "b":
        return ColumnSchema(name, "float32", ["continuous"])
    if values.dtype.kind in "iu":
        dtype = "int32" if values.dtype.itemsize <= 4 and values.dtype.kind == "i" else "int64"
        high = int(values.max()) if values.size else 0
        return ColumnSchema(name, dtype, ["categorical"]).with_domain(0, max(high, 0))
    raise _recblocks.ValueError(f"column '{name}': numpy dtype {values.dtype} is not numeric; "
                                "expected floats or integers")


def from_dict(columns: dict[str, Any], schema: Schema | None = None) -> Dataset:
    """A Dataset over numpy arrays (no copy for C-contiguous float32, int32 and
    int64). Without a schema, float columns are continuous and integer columns
    categorical with the domain [0, max]; give a schema for targets and tags."""
    import numpy as np  # here: `import recblocks` alone does not load numpy (25 MB, 0.1 s)

    arrays = {k: v if isinstance(v, tuple) else np.asarray(v) for k, v in columns.items()}
    if schema is None:
        schema = Schema([_column_schema(k, v) for k, v in arrays.items()
                         if not isinstance(v, tuple)])
    return Dataset(schema, arrays)


def from_pandas(frame, schema: Schema | None = None) -> Dataset:
    """A Dataset from a pandas DataFrame's columns (see from_dict)."""
    return from_dict({str(c): frame[c].to_numpy() for c in frame.columns}, schema)


def from_arrow(table, schema: Schema | None = None) -> Dataset:
    """A Dataset from a pyarrow Table (numeric columns without nulls; see from_dict)."""
    return from_dict({name: table.column(name).to_numpy() for name in table.column_names}, schema)


def head(self: Dataset, n: int = 5):
    """The first n rows as a pandas DataFrame (as Merlin's Dataset.head), or a
    dict of numpy arrays when pandas is not installed. List columns hold one
    array per row."""
    part = self.slice_rows(0, min(n, len(self)))
    columns = {}
    for name in part.column_names:
        value = part[name]
        if isinstance(value, tuple):
            values, offsets = value
            value = [values[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        columns[name] = value
    try:
        import pandas
    except ImportError:
        return columns
    return pandas.DataFrame(columns)


def to_pandas(self: Dataset):
    """The whole dataset as a pandas DataFrame (see head)."""
    return head(self, len(self))


def movielens(variant: str = "ml-100k", path: str | os.PathLike | None = None, **options):
    """(train, valid) of a MovieLens variant: downloaded (or read from `source`),
    split and run through Merlin's ETL, cached in `path` (default
    $RECBLOCKS_DATA or ~/.cache/recblocks)."""
    if path is None:
        path = os.environ.get("RECBLOCKS_DATA",
                              os.path.join(os.path.expanduser("~"), ".cache", "recblocks"))
    return _recblocks.movielens(variant, os.fspath(path), **options)


def install(dataset_class: Any) -> None:
    """Adds head, to_pandas and the from_dict / from_pandas / from_arrow constructors to the
    Dataset class (recblocks/__init__.py calls it once)."""
    dataset_class.head = head
    dataset_class.to_pandas = to_pandas
    dataset_class.from_dict = staticmethod(from_dict)
    dataset_class.from_pandas = staticmethod(from_pandas)
    dataset_class.from_arrow = staticmethod(from_arrow)
