"""merlin.schema: Schema, ColumnSchema, Tags."""

from recblocks import ColumnSchema, Schema, Tags  # noqa: F401
