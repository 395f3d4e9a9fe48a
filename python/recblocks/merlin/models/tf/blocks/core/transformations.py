"""merlin.models.tf.blocks.core.transformations."""

from recblocks.merlin.models.tf._core import LogitsTemperatureScaler  # noqa: F401
