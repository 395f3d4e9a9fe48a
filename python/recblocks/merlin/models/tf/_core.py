"""merlin.models.tf's blocks, tasks, models and helpers, with Merlin's signatures."""

from __future__ import annotations

from typing import Any, Iterable

import recblocks as rb
from recblocks import Block, Model  # noqa: F401

Tags = rb.Tags


def _tag(tags: Any):
    if tags is None:
        return None
    if isinstance(tags, (list, tuple)):
        if len(tags) != 1:
            raise rb.ValueError(f"tags={list(tags)}: recblocks selects the columns of one tag "
                                "(a compound tag such as Tags.USER_ID names several parts)")
        tags = tags[0]
    return tags


def _embedding_options(options) -> dict:
    """EmbeddingOptions keys from Merlin's EmbeddingOptions object, a dict or None."""
    if options is None:
        return {}
    return options.to_dict() if hasattr(options, "to_dict") else dict(options)


class ContinuousFeatures:
    """mm.ContinuousFeatures: `ContinuousFeatures.from_schema(schema, tags=Tags.CONTINUOUS)`."""

    @staticmethod
    def from_schema(schema, tags=Tags.CONTINUOUS, **_unused) -> Block:
        """A ContinuousFeatures block over the columns of `schema` having `tags` (one tag, or a
        list of one): {name: float32 [B, 1]}. Merlin's other keywords are ignored. Raises
        ValueError for several tags, or naming the tag when no column has it."""
        return rb.ContinuousFeatures.from_schema(schema, _tag(tags) or Tags.CONTINUOUS)


class EmbeddingFeatures:
    """mm.EmbeddingFeatures: `EmbeddingFeatures.from_schema(schema, embedding_options=...)`."""

    @staticmethod
    def from_schema(schema, tags=Tags.CATEGORICAL, embedding_options=None,
                    embedding_dim_default: int | None = None, **options) -> Block:
        """An EmbeddingFeatures block over the columns of `schema` having `tags` (one tag, or a
        list of one): {name: [B, dim]}. `embedding_options`: an EmbeddingOptions, a dict of
        recblocks' EmbeddingOptions keys, or None; `embedding_dim_default` overrides its dim;
        other keywords are EmbeddingOptions keys. Raises ValueError for several tags, an
        unknown option, or naming the tag when no column has it."""
        merged = dict(options)
        merged.update(_embedding_options(embedding_options))
        if embedding_dim_default is not None:
            merged["dim"] = embedding_dim_default
        return rb.EmbeddingFeatures.from_schema(schema, _tag(tags) or Tags.CATEGORICAL, **merged)


class EmbeddingOptions:
    """mm.EmbeddingOptions (embedding_dims, embedding_dim_default, infer_embedding_sizes, ...)."""

    def __init__(self, embedding_dims: dict | None = None, embedding_dim_default: int = 64,
                 infer_embedding_sizes: bool = False, infer_embedding_sizes_multiplier: float = 2.0,
                 infer_embeddings_ensure_dim_multiple_of_8: bool = False,
                 combiner: str = "mean"):
        """Merlin's names for recblocks' EmbeddingOptions: `embedding_dims` (column -> dim,
        winning over everything), `embedding_dim_default` (dim), `infer_embedding_sizes`
        (infer_dims: ceil(cardinality^0.25 * multiplier)), its multiplier and rounding up to a
        multiple of 8, `combiner` ("mean" or "sum", pooling list columns)."""
        self.options = {"dims": dict(embedding_dims or {}), "dim": embedding_dim_default,
                        "infer_dims": infer_embedding_sizes,
                        "infer_multiplier": infer_embedding_sizes_multiplier,
                        "ensure_multiple_of_8": infer_embeddings_ensure_dim_multiple_of_8,
                        "combiner": combiner}

    def to_dict(self) -> dict:
        """The options as recblocks' EmbeddingOptions keys (dim, dims, infer_dims, ...)."""
        return dict(self.options)


def MLPBlock(dimensions: Iterable[int], activation: str = "relu", use_bias: bool = True,
             dropout: float | None = None, normalization: str | None = None,
             no_activation_last_layer: bool = False, **options) -> Block:
    """mm.MLPBlock([64, 32], activation="relu", dropout=0.1, normalization="batch_norm"): one
    dense layer per entry of `dimensions` (units, each > 0) with `activation` ("relu", ...),
    a bias when `use_bias`, `dropout` (a rate in [0, 1), None: none) and `normalization`
    ("batch_norm", "layer_norm", None: none) after each, the last layer's activation left out
    with `no_activation_last_layer`; other keywords are MLPBlock options. Returns a Block;
    raises ValueError for a bad option."""
    return rb.MLPBlock(list(dimensions), activation=activation, use_bias=use_bias,
                       dropout=dropout or 0.0, normalization=normalization or "",
                       no_activation_last_layer=no_activation_last_layer, **options)


def ParallelBlock(*inputs, aggregation: str | None = None, **_unused) -> Block:
    """mm.ParallelBlock({"a": block_a, "b": block_b}) or ParallelBlock(block_a, block_b): every
    branch reads the same input; returns a Block whose output is the dict of the branches'
    outputs, or one tensor with `aggregation` ("concat", "stack", "element-wise-sum",
    "cosine"). Merlin's other keywords are ignored; an unknown aggregation raises ValueError."""
    return rb.ParallelBlock(*inputs, aggregation=aggregation or "")


def SequentialBlock(*layers) -> Block:
    """mm.SequentialBlock(a, b, c) or SequentialBlock([a, b, c]): a Block running a -> b -> c."""
    return rb.SequentialBlock(*layers)


def Filter(selection, exclude: bool = False) -> Block:
    """mm.Filter("deep_continuous"), Filter(schema), Filter(Tags.CATEGORICAL), Filter([names]):
    a Block keeping the selected columns of the raw inputs, or the selected entries of a dict
    (everything else with `exclude`). A name missing from a dict raises ValueError."""
    return rb.Filter(selection, exclude=exclude)


def DotProductInteractionBlock(self_interaction: bool = False) -> Block:
    """mm.DotProductInteractionBlock(): a Block of the pairwise dot products of its input's
    vectors (a dict of [B, d] entries or a [B, n, d] stack) -> [B, n(n-1)/2], with the
    self products too when `self_interaction` (DLRM's interaction)."""
    return rb.DotProductInteractionBlock(self_interaction=self_interaction)


def LogitsTemperatureScaler(temperature: float) -> Block:
    """mm.LogitsTemperatureScaler(temperature): a Block dividing its input by `temperature`
    (> 0, else ValueError), e.g. a task's `pre`."""
    return rb.LogitsTemperatureScaler(float(temperature))


def _metric_names(metrics) -> list | None:
    if metrics is None:
        return None
    out = []
    for m in metrics:
        if isinstance(m, str):
            out.append(m)
        elif hasattr(m, "recblocks_name"):  # a Keras metric class or instance
            out.append(m.recblocks_name)
        elif isinstance(m, rb.Metric):
            out.append(m)
        else:
            raise rb.ValueError(f"metric {m!r}: expected a name, a recblocks.Metric or one of "
                                "recblocks.compat.tensorflow.keras.metrics")
    return out


def BinaryClassificationTask(target_name: str | None = None, task_name: str | None = None,
                             task_block: Block | None = None, pre: Block | None = None,
                             metrics=None, schema=None, **_unused):
    """mm.BinaryClassificationTask(target_name=..., metrics=[tf.keras.metrics.AUC], pre=...): a
    PredictionTask on the 0/1 column `target_name` (None: the schema's one binary target),
    named `task_name`; `metrics`: names, recblocks.Metric objects or Keras metric classes
    (None: precision, recall, binary_accuracy, auc); `pre` and `task_block`: blocks before
    the output layer. Raises ValueError for an unknown metric, or without target_name when
    the schema does not have exactly one binary target."""
    if target_name is None:
        target_name = _target_of(schema, Tags.BINARY_CLASSIFICATION)
    return rb.BinaryClassificationTask(target_name, metrics=_metric_names(metrics), pre=pre,
                                       task_block=task_block, name=task_name or "")


def RegressionTask(target_name: str | None = None, task_name: str | None = None,
                   task_block: Block | None = None, pre: Block | None = None, metrics=None,
                   schema=None, **_unused):
    """mm.RegressionTask(target_name=..., metrics=None, pre=...): a PredictionTask on the
    numeric column `target_name` (None: the schema's one regression target), mean squared
    error; `metrics` as BinaryClassificationTask's (None: root_mean_squared_error). Raises
    ValueError as BinaryClassificationTask does."""
    if target_name is None:
        target_name = _target_of(schema, Tags.REGRESSION)
    return rb.RegressionTask(target_name, metrics=_metric_names(metrics), pre=pre,
                             task_block=task_block, name=task_name or "")


def BinaryOutput(to_call: str | None = None, target: str | None = None, **options):
    """mm.BinaryOutput("rating_binary"): the V2 name of BinaryClassificationTask on the column
    `target` (or `to_call`); other keywords are BinaryClassificationTask's."""
    return BinaryClassificationTask(target_name=target or to_call, **options)


def RegressionOutput(to_call: str | None = None, target: str | None = None, **options):
    """mm.RegressionOutput("rating"): the V2 name of RegressionTask on the column `target` (or
    `to_call`); other keywords are RegressionTask's."""
    return RegressionTask(target_name=target or to_call, **options)


def _target_of(schema, tag) -> str:
    if schema is None:
        raise rb.ValueError("give target_name (or a schema with one target)")
    names = schema.select_by_tag(tag).column_names
    if len(names) != 1:
        raise rb.ValueError(f"the schema has {len(names)} targets tagged {tag}: {names}; "
                            "give target_name")
    return names[0]


def ModelFromBody(body: Block, *tasks) -> Model:
    """mm.Model(body, task, ...): a recblocks.Model of the Block `body` and its tasks (each a
    PredictionTask or a list of them), Merlin's V2 Model."""
    flat = []
    for t in tasks:
        flat.extend(t if isinstance(t, (list, tuple)) else [t])
    return rb.Model(body, flat)


def _task_list(prediction_tasks) -> list:
    if prediction_tasks is None:
        return []
    if isinstance(prediction_tasks, (list, tuple)):
        return list(prediction_tasks)
    return [prediction_tasks]


def DLRMModel(schema, embedding_dim: int = 64, embedding_options=None, bottom_block=None,
              top_block=None, prediction_tasks=None, **_unused) -> Model:
    """mm.DLRMModel(schema, embedding_dim=64, bottom_block=mm.MLPBlock([128, 64]),
    top_block=mm.MLPBlock([128, 64, 32]), prediction_tasks=...): the categorical embeddings
    (`embedding_dim` wide; `embedding_options` an EmbeddingOptions or dict) and the continuous
    columns through `bottom_block` (embedding_dim wide), their pairwise dot products, then
    `top_block`. `prediction_tasks`: one task, a list, or None for one per target column of
    the schema (Merlin's default). Returns an uncompiled Model; raises ValueError for a schema
    or option that does not fit."""
    return rb.DLRMModel(schema, embedding_dim=embedding_dim,
                        embedding_options=_embedding_options(embedding_options),
                        bottom_block=bottom_block, top_block=top_block,
                        prediction_tasks=_task_list(prediction_tasks))


def _prebuilt(native, doc: str):
    """`native` (a recblocks prebuilt model) with Merlin's calling conventions: prediction_tasks
    may be one task, a list or None (one task per target column); Merlin's EmbeddingOptions
    objects are accepted for embedding_options. `doc`: the returned function's docstring."""

    def make(schema, *args, prediction_tasks=None, embedding_options=None, **options) -> Model:
        if embedding_options is not None:
            options["embedding_options"] = _embedding_options(embedding_options)
        if prediction_tasks is not None:
            options["prediction_tasks"] = _task_list(prediction_tasks)
        return native(schema, *args, **options)

    make.__doc__ = doc
    return make


_PREBUILT_TAIL = (" prediction_tasks: one task, a list, or None (one per target column); "
                  "embedding_options: an EmbeddingOptions or a dict. Returns an uncompiled "
                  "Model; raises ValueError for a schema or option that does not fit. The "
                  "keywords are recblocks.{}'s.")
DCNModel = _prebuilt(rb.DCNModel, "mm.DCNModel(schema, depth, deep_block=, stacked=, "
                     "prediction_tasks=): DCN-v2, `depth` cross layers and deep_block (None: "
                     "MLPBlock([512, 256])), stacked or parallel."
                     + _PREBUILT_TAIL.format("DCNModel"))
DeepFMModel = _prebuilt(rb.DeepFMModel, "mm.DeepFMModel(schema, embedding_dim, deep_block=, "
                        "prediction_tasks=): first-order weights + FM pairwise interaction + "
                        "deep_block (None: MLPBlock([64]))." + _PREBUILT_TAIL.format("DeepFMModel"))
WideAndDeepModel = _prebuilt(rb.WideAndDeepModel,
                             "mm.WideAndDeepModel(schema, wide_schema=, deep_schema=, deep_block=, "
                             "...): a linear wide part with hashed crosses plus a deep part."
                             + _PREBUILT_TAIL.format("WideAndDeepModel"))
NCFModel = _prebuilt(rb.NCFModel, "mm.NCFModel(schema, embedding_dim=64, mlp_block=): GMF and MLP "
                     "branches over the user and item id embeddings."
                     + _PREBUILT_TAIL.format("NCFModel"))
MLPModel = _prebuilt(rb.MLPModel, "MLPModel(schema, dims=[64, 32]): the embeddings and continuous "
                     "columns into an MLP." + _PREBUILT_TAIL.format("MLPModel"))
MMOEModel = _prebuilt(rb.MMOEModel, "MMOEModel(schema, expert_block=, num_experts=4): multi-gate "
                      "mixture of experts, one gate per task." + _PREBUILT_TAIL.format("MMOEModel"))
PLEModel = _prebuilt(rb.PLEModel, "PLEModel(schema, num_layers=2, expert_block=, ...): "
                     "progressive layered extraction." + _PREBUILT_TAIL.format("PLEModel"))


def TwoTowerModel(schema, query_tower=None, item_tower=None, query_tower_tag=Tags.USER,
                  item_tower_tag=Tags.ITEM, embedding_options=None, metrics=None,
                  **retrieval) -> Model:
    """mm.TwoTowerModel(schema, query_tower=mm.MLPBlock([64]), ...): the columns tagged
    `query_tower_tag` through `query_tower` and those tagged `item_tower_tag` through
    `item_tower` (None: each as recblocks.TwoTowerModel's), scored in batch by an
    ItemRetrievalTask; retrieval options (l2_normalization, temperature, loss,
    logq_correction, num_sampled, ...) as keywords; `metrics` as BinaryClassificationTask's
    (None: the top-k metrics at 10). Returns an uncompiled Model; raises ValueError for an
    unknown option."""
    return rb.TwoTowerModel(schema, query_tower=query_tower, item_tower=item_tower,
                            query_tower_tag=query_tower_tag, item_tower_tag=item_tower_tag,
                            embedding_options=_embedding_options(embedding_options),
                            retrieval=retrieval,
                            metrics=_metric_names(metrics))


def MatrixFactorizationModel(schema, dim: int = 64, embeddings_l2_reg: float = 0.0, metrics=None,
                             **retrieval) -> Model:
    """mm.MatrixFactorizationModel(schema, dim=64, ...): the user and item id embeddings (`dim`
    wide, L2 factor `embeddings_l2_reg`) scored by their dot product in an ItemRetrievalTask;
    retrieval options as keywords, `metrics` as TwoTowerModel's. Returns an uncompiled Model."""
    return rb.MatrixFactorizationModel(schema, dim=dim, embeddings_l2_reg=embeddings_l2_reg,
                                       retrieval=retrieval, metrics=_metric_names(metrics))


def YoutubeDNNRetrievalModel(schema, top_block=None, metrics=None, **options) -> Model:
    """mm.YoutubeDNNRetrievalModel(schema, top_block=mm.MLPBlock([64]), num_sampled=100, ...):
    the user's columns and item history through `top_block`, scored against the whole item
    catalogue (sampled softmax in training); other keywords are
    recblocks.YoutubeDNNRetrievalModel's, `metrics` as TwoTowerModel's. Returns an uncompiled
    Model."""
    return rb.YoutubeDNNRetrievalModel(schema, top_block=top_block, metrics=_metric_names(metrics),
                                       **options)
