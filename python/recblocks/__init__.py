"""recblocks: deep recommender models from composable blocks, trained fast on the CPU.

    import recblocks as rb
    train, valid = rb.movielens("ml-100k")
    schema = train.schema
    deep = rb.ContinuousFeatures.from_schema(schema.select_by_tag(rb.Tags.CONTINUOUS))
    ...
"""

from recblocks import _blocks, _data, _training
from recblocks._recblocks import (  # noqa: F401
    Batch, Block, Callback, ColumnSchema, Dataset, Error, Loader, Metric, Model, NonFiniteError,
    Optimizer, PopularityRecommender, PredictionTask, Recommender, Schema, SeenItems, ShapeError,
    Tag, TopKRecommender, ValueError, block_type_docs, metric_names, num_threads,
    optimizer_type_docs, prediction_tasks, set_num_threads, task_kind_docs)
from recblocks._recblocks import binary_classification_task as BinaryClassificationTask  # noqa
from recblocks._recblocks import (  # noqa: F401
    dcn_model as DCNModel, deepfm_model as DeepFMModel, dlrm_model as DLRMModel,
    matrix_factorization_model as MatrixFactorizationModel, mlp_model as MLPModel,
    mmoe_model as MMOEModel, ncf_model as NCFModel, ple_model as PLEModel,
    two_tower_model as TwoTowerModel, wide_and_deep_model as WideAndDeepModel,
    youtube_dnn_retrieval_model as YoutubeDNNRetrievalModel)
from recblocks._recblocks import multi_class_classification_task as MultiClassClassificationTask  # noqa
from recblocks._recblocks import regression_task as RegressionTask  # noqa: F401
from recblocks._recblocks import early_stopping as EarlyStopping  # noqa: F401
from recblocks._recblocks import model_checkpoint as ModelCheckpoint  # noqa: F401
from recblocks._recblocks import criteo, csv, synthetic, synthetic_criteo, synthetic_movielens  # noqa
from recblocks._recblocks import CriteoTransform, CsvTransform  # noqa: F401
from recblocks._recblocks import AnnIndex, ItemIndex, recall_against, top_k  # noqa: F401
from recblocks._recblocks import DataSource, in_memory_source, npy_source  # noqa: F401
from recblocks._tags import Tags  # noqa: F401
from recblocks._data import from_arrow, from_dict, from_pandas, movielens  # noqa: F401
from recblocks._training import History, ProgressBar  # noqa: F401

_training.install(Model)
_data.install(Dataset)
globals().update(_blocks.block_types())

__version__ = "0.1.0"
