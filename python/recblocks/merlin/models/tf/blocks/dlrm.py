"""merlin.models.tf.blocks.dlrm."""

from recblocks.merlin.models.tf._core import DotProductInteractionBlock  # noqa: F401
