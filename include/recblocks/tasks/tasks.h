// Prediction tasks: the heads of a model, as Merlin Models' V1 tasks. This
// header gathers them; each kind has its own (task.h has the common
// interface).
//
//   auto task = rb::BinaryClassificationTask(
//       "rating_binary", {.metrics = {rb::metrics::AUC()}, .pre =
//       rb::LogitsTemperatureScaler(2.0)});
//   rb::Model model = deep.connect(task);
//
// A task turns the body's output x into predictions, the loss and metrics:
//   x = task_block(x)        optional (Merlin's task_block)
//   x = pre(x)               optional (Merlin's `pre`: the seed's temperature
//                            scaling divides x before the output layer)
//   logits = x @ kernel + bias        Keras Dense, glorot-uniform kernel,
//                                     zero bias: 1 unit, or num_classes
//   binary:      prediction = sigmoid(logits [B]),   loss binary cross-entropy
//   regression:  prediction = logits [B],            loss mean squared error
//   multi-class: prediction = softmax(logits [B, C]), loss categorical cross-entropy
//                on integer class ids (Keras' sparse form)
//   item retrieval (ItemRetrievalTask, below): no output layer; the head
//                scores the body's {query, candidate} dict in batch
//                (ItemRetrievalScorer), prediction = the scores [B, B],
//                loss ops::retrieval_loss with the diagonal as positives
//                (in training, [B, distinct items] under UniqueRows, and
//                the drawn negatives' columns after them with num_sampled)
//   next item (NextItemPredictionTask, below): logits over the whole item
//                catalogue [B, num_items] against the item table (tied to
//                the item id embeddings by default); sampled softmax in
//                training for large catalogues
// The losses are computed from the logits in one numerically stable op
// (bce_with_logits, log-softmax), which equals Keras' loss on the
// probabilities wherever Keras' 1e-7 clipping does not bite.
//
// Default metrics (Merlin's): binary precision, recall, binary_accuracy,
// auc; regression root_mean_squared_error; multi-class accuracy. Passing
// metrics replaces them. Metric keys in evaluate() are
// "<task name>/<metric>", the task name "<target>/<snake_case class>", for
// example "rating_binary/binary_classification_task/auc".
//
// Targets: binary targets are 0/1 (float32 or an integer column), a
// regression target any number, multi-class targets integer ids in
// [0, num_classes). A missing target column, or a value outside that range,
// is a ValueError naming the column, the row and the value.
#pragma once

#include <string>
#include <vector>

#include "recblocks/schema/schema.h"
#include "recblocks/tasks/binary_classification.h"
#include "recblocks/tasks/item_retrieval.h"
#include "recblocks/tasks/multi_class_classification.h"
#include "recblocks/tasks/next_item.h"
#include "recblocks/tasks/regression.h"
#include "recblocks/tasks/task.h"

namespace recblocks {

// One task per TARGET column of the schema, in schema order (Merlin's
// parse_prediction_tasks / OutputBlock): a column tagged
// binary_classification (or BINARY) -> BinaryClassificationTask,
// regression -> RegressionTask, multi_class -> MultiClassClassificationTask
// over its cardinality. A target without one of these tags throws,
// naming it and its tags; no target column throws too.
std::vector<PredictionTask> prediction_tasks(const Schema& schema);

// Every task kind of PredictionTask::from_json with its JSON keys (key,
// type, default, doc): the common ones, then its section's as
// "<section>.<key>" ("retrieval.temperature").
struct TaskKindDoc {
  std::string kind;
  std::vector<options::FieldDoc> options;
};
std::vector<TaskKindDoc> task_kind_docs();
// task_kind_docs() as text: each kind, then one line per key (what
// `recblocks options` prints).
std::string task_kinds_help();

}  // namespace recblocks
