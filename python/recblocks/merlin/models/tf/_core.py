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
        return rb.ContinuousFeatures.from_schema(schema, _tag(tags) or Tags.CONTINUOUS)


class EmbeddingFeatures:
    """mm.EmbeddingFeatures: `EmbeddingFeatures.from_schema(schema, embedding_options=...)`."""

    @staticmethod
    def from_schema(schema, tags=Tags.CATEGORICAL, embedding_options=None,
                    embedding_dim_default: int | None = None, **options) -> Block:
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
        self.options = {"dims": dict(embedding_dims or {}), "dim": embedding_dim_default,
                        "infer_dims": infer_embedding_sizes,
                        "infer_multiplier": infer_embedding_sizes_multiplier,
                        "ensure_multiple_of_8": infer_embeddings_ensure_dim_multiple_of_8,
                        "combiner": combiner}

    def to_dict(self) -> dict:
        return dict(self.options)


def MLPBlock(dimensions: Iterable[int], activation: str = "relu", use_bias: bool = True,
             dropout: float | None = None, normalization: str | None = None,
             no_activation_last_layer: bool = False, **options) -> Block:
    """mm.MLPBlock([64, 32], activation="relu", dropout=0.1, normalization="batch_norm")."""
    return rb.MLPBlock(list(dimensions), activation=activation, use_bias=use_bias,
                       dropout=dropout or 0.0, normalization=normalization or "",
                       no_activation_last_layer=no_activation_last_layer, **options)


def ParallelBlock(*inputs, aggregation: str | None = None, **_unused) -> Block:
    """mm.ParallelBlock({"a": block_a, "b": block_b}) or ParallelBlock(block_a, block_b)."""
    return rb.ParallelBlock(*inputs, aggregation=aggregation or "")


def SequentialBlock(*layers) -> Block:
    return rb.SequentialBlock(*layers)


def Filter(selection, exclude: bool = False) -> Block:
    """mm.Filter("deep_continuous"), Filter(schema), Filter(Tags.CATEGORICAL), Filter([names])."""
    return rb.Filter(selection, exclude=exclude)


def DotProductInteractionBlock(self_interaction: bool = False) -> Block:
    return rb.DotProductInteractionBlock(self_interaction=self_interaction)


def LogitsTemperatureScaler(temperature: float) -> Block:
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
    """mm.BinaryClassificationTask(target_name=..., metrics=[tf.keras.metrics.AUC], pre=...)."""
    if target_name is None:
        target_name = _target_of(schema, Tags.BINARY_CLASSIFICATION)
    return rb.BinaryClassificationTask(target_name, metrics=_metric_names(metrics), pre=pre,
                                       task_block=task_block, name=task_name or "")


def RegressionTask(target_name: str | None = None, task_name: str | None = None,
                   task_block: Block | None = None, pre: Block | None = None, metrics=None,
                   schema=None, **_unused):
    if target_name is None:
        target_name = _target_of(schema, Tags.REGRESSION)
    return rb.RegressionTask(target_name, metrics=_metric_names(metrics), pre=pre,
                             task_block=task_block, name=task_name or "")


def BinaryOutput(to_call: str | None = None, target: str | None = None, **options):
    """mm.BinaryOutput("rating_binary"): the V2 name of a binary task."""
    return BinaryClassificationTask(target_name=target or to_call, **options)


def RegressionOutput(to_call: str | None = None, target: str | None = None, **options):
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
    """mm.Model(body, task, ...): a model of a body and its tasks (Merlin's V2 Model)."""
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
    top_block=mm.MLPBlock([128, 64, 32]), prediction_tasks=...): without tasks, one per
    target column of the schema (Merlin's default)."""
    return rb.DLRMModel(schema, embedding_dim=embedding_dim,
                        embedding_options=_embedding_options(embedding_options),
                        bottom_block=bottom_block, top_block=top_block,
                        prediction_tasks=_task_list(prediction_tasks))


def _prebuilt(native, doc: str):
    """A prebuilt model with Merlin's calling conventions: prediction_tasks may
    be one task, a list or None (one task per target column); Merlin's
    EmbeddingOptions objects are accepted for embedding_options."""

    def make(schema, *args, prediction_tasks=None, embedding_options=None, **options) -> Model:
        if embedding_options is not None:
            options["embedding_options"] = _embedding_options(embedding_options)
        if prediction_tasks is not None:
            options["prediction_tasks"] = _task_list(prediction_tasks)
        return native(schema, *args, **options)

    make.__doc__ = doc
    return make


DCNModel = _prebuilt(rb.DCNModel, "mm.DCNModel(schema, depth, deep_block=, stacked=, prediction_tasks=)")
DeepFMModel = _prebuilt(rb.DeepFMModel, "mm.DeepFMModel(schema, embedding_dim, deep_block=, prediction_tasks=)")
WideAndDeepModel = _prebuilt(rb.WideAndDeepModel,
                             "mm.WideAndDeepModel(schema, wide_schema=, deep_schema=, deep_block=, ...)")
NCFModel = _prebuilt(rb.NCFModel, "NCF: GMF and MLP branches over user and item embeddings")
MLPModel = _prebuilt(rb.MLPModel, "embeddings and continuous columns into an MLP")
MMOEModel = _prebuilt(rb.MMOEModel, "multi-gate mixture of experts")
PLEModel = _prebuilt(rb.PLEModel, "progressive layered extraction")


def TwoTowerModel(schema, query_tower=None, item_tower=None, query_tower_tag=Tags.USER,
                  item_tower_tag=Tags.ITEM, embedding_options=None, metrics=None, **retrieval) -> Model:
    """mm.TwoTowerModel(schema, query_tower=mm.MLPBlock([64]), ...): retrieval options
    (l2_normalization, temperature, loss, logq_correction, num_sampled, ...) as keywords."""
    return rb.TwoTowerModel(schema, query_tower=query_tower, item_tower=item_tower,
                            query_tower_tag=query_tower_tag, item_tower_tag=item_tower_tag,
                            embedding_options=_embedding_options(embedding_options), retrieval=retrieval,
                            metrics=_metric_names(metrics))


def MatrixFactorizationModel(schema, dim: int = 64, embeddings_l2_reg: float = 0.0, metrics=None,
                             **retrieval) -> Model:
    """mm.MatrixFactorizationModel(schema, dim=64, ...)."""
    return rb.MatrixFactorizationModel(schema, dim=dim, embeddings_l2_reg=embeddings_l2_reg,
                                       retrieval=retrieval, metrics=_metric_names(metrics))


def YoutubeDNNRetrievalModel(schema, top_block=None, metrics=None, **options) -> Model:
    """mm.YoutubeDNNRetrievalModel(schema, top_block=mm.MLPBlock([64]), num_sampled=100, ...)."""
    return rb.YoutubeDNNRetrievalModel(schema, top_block=top_block, metrics=_metric_names(metrics),
                                       **options)
