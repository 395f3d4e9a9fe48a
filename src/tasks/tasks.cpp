#include "recblocks/tasks/tasks.h"

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>

#include "recblocks/core/error.h"

namespace recblocks {

using json = nlohmann::json;

namespace {

// A kind's section as rows of the docs: "<section>.<key>", then `extra`.
template <class Options>
std::vector<options::FieldDoc> section_docs(std::string_view section,
                                            std::vector<options::FieldDoc> extra) {
  std::vector<options::FieldDoc> rows = options::document<Options>();
  rows.insert(rows.end(), extra.begin(), extra.end());
  for (options::FieldDoc& row : rows) row.key = fmt::format("{}.{}", section, row.key);
  return rows;
}

const options::FieldDoc kItemCountsDoc = {"item_counts", "[int]|null", "null",
                                          "each item id's training count (set by Model::fit)",
                                          false};

std::vector<options::FieldDoc> no_section() { return {}; }
std::vector<options::FieldDoc> retrieval_docs() {
  return section_docs<ItemRetrievalOptions>("retrieval", {kItemCountsDoc});
}
std::vector<options::FieldDoc> next_item_docs() {
  return section_docs<NextItemOptions>(
      "next_item",
      {{"domain", "string", "(the target)", "the item id domain the output is tied to", false},
       kItemCountsDoc});
}

// The task kinds by their JSON "kind": each reads its own section.
using TaskFromJson = PredictionTask (*)(std::string target, TaskOptions options, const json& json);
struct TaskKind {
  std::string_view name;
  TaskFromJson from_json;
  std::string_view section;  // its own key ("" for none)
  std::vector<options::FieldDoc> (*section_docs)();
};
constexpr TaskKind kTaskKinds[] = {
    {BinaryClassificationTask::kKind, &BinaryClassificationTask::from_task_json, "", &no_section},
    {RegressionTask::kKind, &RegressionTask::from_task_json, "", &no_section},
    {MultiClassClassificationTask::kKind, &MultiClassClassificationTask::from_task_json, "",
     &no_section},
    {ItemRetrievalTask::kKind, &ItemRetrievalTask::from_task_json, "retrieval", &retrieval_docs},
    {NextItemPredictionTask::kKind, &NextItemPredictionTask::from_task_json, "next_item",
     &next_item_docs}};

const TaskKind& task_kind(const std::string& name) {
  for (const TaskKind& kind : kTaskKinds) {
    if (kind.name == name) return kind;
  }
  std::string expected;
  constexpr std::size_t kCount = std::size(kTaskKinds);
  for (std::size_t i = 0; i < kCount; ++i) {
    expected += fmt::format("{}{}",
                            i == 0            ? ""
                            : i + 1 == kCount ? " or "
                                              : ", ",
                            kTaskKinds[i].name);
  }
  throw ValueError(fmt::format("task kind '{}' is unknown (expected {})", name, expected));
}

// Every key of a task's JSON: kind, target and num_classes, the common
// options, the kinds' sections (each kind reads its own).
struct TaskJson {
  std::string kind;
  std::string target;
  std::optional<std::int64_t> num_classes;
  TaskOptions options;
  json retrieval;
  json next_item;

  static auto section_codec() {
    return options::codec<json>(
        "object", [](const json& j) { return j; },
        [](const json& j, const options::Path& path) {
          if (!j.is_object()) options::type_error(path, "an object", j);
          return j;
        });
  }
  static auto option_fields() {
    using O = TaskJson;
    return options::table<O>(
        "task", options::field("kind", &O::kind, "the task kind").required(),
        options::field("target", &O::target, "the target column").required(),
        options::field("num_classes", &O::num_classes,
                       "multi-class: the classes; next item: the catalogue size"),
        options::flatten(&O::options),
        options::field("retrieval", &O::retrieval,
                       "item_retrieval_task: its settings (ItemRetrievalOptions)", section_codec()),
        options::field("next_item", &O::next_item,
                       "next_item_prediction_task: its settings (NextItemOptions)",
                       section_codec()));
  }
};

PredictionTask from_json_checked(const json& j) {
  RB_CHECK(j.is_object(), ValueError, "a task must be a JSON object, got {}", j.dump());
  TaskJson read = options::from_json<TaskJson>(j, "task");
  const TaskKind& kind = task_kind(read.kind);
  return kind.from_json(std::move(read.target), std::move(read.options), j);
}

}  // namespace

std::vector<TaskKindDoc> task_kind_docs() {
  std::vector<options::FieldDoc> common = options::document<TaskJson>();
  std::vector<TaskKindDoc> out;
  for (const TaskKind& kind : kTaskKinds) {
    TaskKindDoc doc{std::string(kind.name), {}};
    // The common keys, without the other kinds' sections.
    for (const options::FieldDoc& row : common) {
      const bool section = row.key == "retrieval" || row.key == "next_item";
      if (!section) doc.options.push_back(row);
    }
    for (options::FieldDoc& row : kind.section_docs()) doc.options.push_back(std::move(row));
    out.push_back(std::move(doc));
  }
  return out;
}

std::string task_kinds_help() {
  std::string out;
  for (const TaskKindDoc& d : task_kind_docs())
    out += d.kind + "\n" + options::format_docs(d.options);
  return out;
}

PredictionTask PredictionTask::from_json(const json& j) {
  try {
    return from_json_checked(j);
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("task {}: a value has the wrong type: {}", j.dump(), e.what()));
  }
}

std::vector<PredictionTask> prediction_tasks(const Schema& schema) {
  std::vector<PredictionTask> tasks;
  for (const ColumnSchema& column : schema) {
    if (!column.has_tag(Tags::TARGET)) continue;
    if (column.has_tag(Tags::BINARY_CLASSIFICATION) || column.has_tag(Tags::BINARY)) {
      tasks.push_back(BinaryClassificationTask(column.name()));
    } else if (column.has_tag(Tags::REGRESSION)) {
      tasks.push_back(RegressionTask(column.name()));
    } else if (column.has_tag(Tags::MULTI_CLASS)) {
      tasks.push_back(MultiClassClassificationTask(column.name(), column.cardinality()));
    } else {
      throw ValueError(
          fmt::format("target column '{}' (tags {}) has no task tag: expected "
                      "binary_classification, regression or "
                      "multi_class",
                      column.name(), to_string(column.tags())));
    }
  }
  RB_CHECK(!tasks.empty(), ValueError,
           "the schema has no TARGET column to derive prediction tasks from");
  return tasks;
}

}  // namespace recblocks
