"""The few TensorFlow names Merlin Models code passes to it: `tf.keras.metrics.AUC`
(the class or an instance), other Keras metrics, `tf.keras.optimizers.Adam(...)`.

    import recblocks.compat.tensorflow as tf
    task = mm.BinaryClassificationTask(target_name="click", metrics=[tf.keras.metrics.AUC])

Only the names recblocks maps are here; any other attribute is an AttributeError
that says so.
"""

from __future__ import annotations

import recblocks as rb


class _Metric:
    """A Keras metric's stand-in: tasks read its `recblocks_name`."""

    recblocks_name = ""

    def __init__(self, *args, name: str | None = None, **kwargs):
        """Keras' arguments are accepted and ignored; `name` defaults to recblocks' name."""
        self.name = name or self.recblocks_name

    def __repr__(self) -> str:
        """tf.keras.metrics.<class>() -> recblocks '<name>'."""
        return f"tf.keras.metrics.{type(self).__name__}() -> recblocks '{self.recblocks_name}'"


def _metric(class_name: str, recblocks_name: str) -> type:
    """The stand-in class for Keras' metric `class_name`, mapped to recblocks' metric
    `recblocks_name`."""
    doc = (f"tf.keras.metrics.{class_name}: stands for recblocks' metric '{recblocks_name}' in a "
           "task's metrics (the class or an instance; Keras' arguments are ignored).")
    return type(class_name, (_Metric,), {"recblocks_name": recblocks_name, "__doc__": doc})


class _Namespace:
    """A module-like object (tf.keras, tf.keras.metrics, ...) holding the mapped names."""

    def __init__(self, path: str, **names):
        """`path`: the TensorFlow name ("tf.keras.metrics") for errors; `names`: its members."""
        self._path = path
        self.__dict__.update(names)

    def __getattr__(self, name: str):
        """Raises AttributeError saying that `name` has no recblocks stand-in."""
        raise AttributeError(f"{self._path}.{name} has no recblocks stand-in (recblocks.compat."
                             "tensorflow maps only the names Merlin Models code passes to it)")


def _optimizer(kind: str):
    """The stand-in for Keras' optimizer class of recblocks' optimizer type `kind`."""

    def make(learning_rate: float = 0.001, **options) -> rb.Optimizer:
        config = {"type": kind, "learning_rate": float(learning_rate)}
        for key in ("beta_1", "beta_2", "epsilon", "momentum", "initial_accumulator_value"):
            if key in options:
                config[key] = options[key]
        return rb.Optimizer.from_json(config)

    make.__name__ = kind
    make.__doc__ = (f"tf.keras.optimizers' {kind}: a recblocks.Optimizer of type '{kind}' with "
                    "`learning_rate` (a number) and, where given, Keras' beta_1, beta_2, epsilon, "
                    "momentum and initial_accumulator_value; other Keras arguments are ignored. "
                    "Raises ValueError for an option the optimizer does not have or a value it "
                    "refuses.")
    return make


metrics = _Namespace(
    "tf.keras.metrics",
    AUC=_metric("AUC", "auc"),
    Precision=_metric("Precision", "precision"),
    Recall=_metric("Recall", "recall"),
    BinaryAccuracy=_metric("BinaryAccuracy", "binary_accuracy"),
    Accuracy=_metric("Accuracy", "accuracy"),
    SparseCategoricalAccuracy=_metric("SparseCategoricalAccuracy", "accuracy"),
    RootMeanSquaredError=_metric("RootMeanSquaredError", "root_mean_squared_error"),
    MeanSquaredError=_metric("MeanSquaredError", "mean_squared_error"),
    MeanAbsoluteError=_metric("MeanAbsoluteError", "mean_absolute_error"),
    BinaryCrossentropy=_metric("BinaryCrossentropy", "binary_crossentropy"),
)
optimizers = _Namespace(
    "tf.keras.optimizers",
    Adam=_optimizer("adam"),
    SGD=_optimizer("sgd"),
    Adagrad=_optimizer("adagrad"),
    Ftrl=_optimizer("ftrl"),
)
keras = _Namespace("tf.keras", metrics=metrics, optimizers=optimizers)
