"""merlin.models.data.movielens: get_movielens(variant=..., path=...)."""

from __future__ import annotations

import os

import recblocks as rb


def get_movielens(path=None, variant: str = "ml-25m", **options):
    """(train, valid) of a MovieLens variant through Merlin's ETL (Categorify,
    TargetEncoding, rating_binary), downloaded once and cached under `path`
    (default $RECBLOCKS_DATA or ~/.cache/recblocks). With $RECBLOCKS_MOVIELENS_SOURCE
    set, the raw files come from there instead of the download (offline runs)."""
    source = os.environ.get("RECBLOCKS_MOVIELENS_SOURCE")
    if source and "source" not in options:
        options["source"] = source
    return rb.movielens(variant, path, **options)
