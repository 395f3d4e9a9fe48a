"""A model from a pandas DataFrame: columns in, predictions out as numpy.

    python examples/python/from_pandas.py
"""

import numpy as np
import pandas as pd

import recblocks as rb
from recblocks import Tags


def main() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    frame = pd.DataFrame({
        "user": rng.integers(0, 500, n).astype(np.int32),
        "item": rng.integers(0, 800, n).astype(np.int32),
        "price": rng.normal(size=n).astype(np.float32),
    })
    frame["clicked"] = ((frame["user"] % 7 == frame["item"] % 7) | (frame["price"] > 1.0)).astype(
        np.float32)
    schema = rb.Schema([
        rb.ColumnSchema("user", "int32", [Tags.USER_ID, Tags.CATEGORICAL]).with_domain(0, 499),
        rb.ColumnSchema("item", "int32", [Tags.ITEM_ID, Tags.CATEGORICAL]).with_domain(0, 799),
        rb.ColumnSchema("price", "float32", [Tags.CONTINUOUS]),
        rb.ColumnSchema("clicked", "float32", [Tags.TARGET, Tags.BINARY_CLASSIFICATION]),
    ])
    data = rb.Dataset.from_pandas(frame, schema)   # no copy: the arrays are shared
    train, valid = data.slice_rows(0, 16000), data.slice_rows(16000, n)

    body = rb.ParallelBlock(
        rb.EmbeddingFeatures.from_schema(schema, dim=16),
        rb.ContinuousFeatures.from_schema(schema, Tags.CONTINUOUS),
        aggregation="concat").connect(rb.MLPBlock([64, 32]))
    model = body.connect(rb.BinaryClassificationTask("clicked"))
    model.compile(optimizer="adam")
    model.fit(train, batch_size=256, epochs=3)
    print(model.evaluate(valid))
    scores = model.predict(valid)["clicked/binary_classification_task"]
    print("first scores:", np.round(scores[:5], 3))


if __name__ == "__main__":
    main()
