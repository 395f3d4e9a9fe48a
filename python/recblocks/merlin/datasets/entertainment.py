"""merlin.datasets.entertainment: get_movielens."""

from recblocks.merlin.models.data.movielens import get_movielens  # noqa: F401
