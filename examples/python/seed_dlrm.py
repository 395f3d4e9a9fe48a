"""The seed notebook's DLRM, written with recblocks' own Python API.

    python examples/python/seed_dlrm.py [--data DIR] [--epochs 5]

DIR holds MovieLens-1M (downloaded there when missing); with --synthetic, a
synthetic ml-1m in the real file format is generated instead (no network).
"""

import argparse
import tempfile

import recblocks as rb
from recblocks import Tags

COLUMNS = ["userId", "movieId", "title", "gender", "TE_zipcode_rating", "TE_movieId_rating",
           "rating_binary"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="MovieLens cache folder")
    ap.add_argument("--synthetic", type=int, default=0, metavar="RATINGS",
                    help="use this many synthetic ratings instead of the real ml-1m")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default="custom_dlrm")
    a = ap.parse_args()

    options = {}
    data = a.data
    if a.synthetic:
        data = data or tempfile.mkdtemp(prefix="recblocks_ml_")
        rb.synthetic_movielens(f"{data}/raw", ratings=a.synthetic)
        options = {"source": f"{data}/raw", "download": False}
    train, valid = rb.movielens("ml-1m", data, **options)
    train, valid = train.select_by_name(COLUMNS), valid.select_by_name(COLUMNS)
    schema = train.schema

    continuous = rb.ContinuousFeatures.from_schema(schema, Tags.CONTINUOUS)
    inputs = rb.ParallelBlock({
        "embeddings": rb.EmbeddingFeatures.from_schema(schema, dim=64),
        "deep_continuous": continuous.connect(rb.MLPBlock([64])),
    })
    body = inputs.connect_with_shortcut(
        rb.DotProductInteractionBlock(), shortcut_filter=rb.Filter("deep_continuous"),
        aggregation="concat").connect(rb.MLPBlock([64, 128, 512]))
    task = rb.BinaryClassificationTask("rating_binary", metrics=["auc"],
                                       pre=rb.LogitsTemperatureScaler(2.0))
    model = body.connect(task)
    model.compile(optimizer="adam")
    model.fit(train, batch_size=1024, epochs=a.epochs)
    print(model.evaluate(valid, batch_size=1024))
    model.save(a.out)
    print(f"saved {a.out}; reload it with recblocks.Model.load({a.out!r})")


if __name__ == "__main__":
    main()
