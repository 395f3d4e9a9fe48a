"""merlin.schema.tags: Tags."""

from recblocks import Tags  # noqa: F401
