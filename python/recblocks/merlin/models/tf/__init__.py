"""merlin.models.tf over recblocks: `import recblocks.merlin.models.tf as mm`."""

from recblocks import Block, Loader, Tags  # noqa: F401
from recblocks.merlin.models.tf._core import (  # noqa: F401
    BinaryClassificationTask, BinaryOutput, ContinuousFeatures, DotProductInteractionBlock,
    DLRMModel, EmbeddingFeatures, EmbeddingOptions, Filter, LogitsTemperatureScaler, MLPBlock,
    ParallelBlock, RegressionOutput, RegressionTask, SequentialBlock)
from recblocks.merlin.models.tf._core import (  # noqa: F401
    DCNModel, DeepFMModel, MatrixFactorizationModel, MLPModel, MMOEModel, NCFModel, PLEModel,
    TwoTowerModel, WideAndDeepModel, YoutubeDNNRetrievalModel)
from recblocks.merlin.models.tf._core import ModelFromBody as Model  # noqa: F401
from recblocks.merlin.models.tf.dataset import BatchedDataset, sample_batch  # noqa: F401
