// Batch (loader.h): the columns of one batch, views of the loader's buffers
// or of a whole dataset.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ostream>

#include "data/gather.h"
#include "data/loader_internal.h"
#include "recblocks/data/loader.h"

namespace recblocks {
namespace detail {

namespace {

std::shared_ptr<BatchLayout> make_layout(Schema schema) {
  auto layout = std::make_shared<BatchLayout>();
  for (const ColumnSchema& c : schema) {
    layout->names.push_back(c.name());
    layout->is_list.push_back(c.is_ragged());
  }
  layout->schema = std::move(schema);
  return layout;
}

// Indices of the columns with (targets = true) or without the TARGET tag.
std::vector<std::size_t> indices_by_target(const BatchLayout& layout, bool targets) {
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < layout.schema.size(); ++i) {
    if (layout.schema[i].has_tag(Tags::TARGET) == targets) indices.push_back(i);
  }
  return indices;
}

std::shared_ptr<BatchLayout> sub_layout(const BatchLayout& layout,
                                        const std::vector<std::size_t>& indices) {
  std::vector<ColumnSchema> columns;
  columns.reserve(indices.size());
  for (std::size_t i : indices) columns.push_back(layout.schema[i]);
  return make_layout(Schema(std::move(columns)));
}

}  // namespace

std::shared_ptr<const BatchLayout> make_layout_with_split(Schema schema) {
  auto layout = make_layout(std::move(schema));
  layout->feature_indices = indices_by_target(*layout, false);
  layout->target_indices = indices_by_target(*layout, true);
  layout->features = sub_layout(*layout, layout->feature_indices);
  layout->targets = sub_layout(*layout, layout->target_indices);
  return layout;
}

}  // namespace detail

// ---- Batch ------------------------------------------------------------------

Batch::Batch(std::shared_ptr<const detail::BatchLayout> layout, std::vector<Entry> columns,
             std::int64_t rows)
    : layout_(std::move(layout)), columns_(std::move(columns)), rows_(rows) {}

Batch::Batch(const Dataset& dataset)
    : layout_(detail::make_layout_with_split(dataset.schema())), rows_(dataset.num_rows()) {
  for (const std::string& name : layout_->names) {
    const Column& c = dataset.column(name);
    columns_.push_back(c.is_list() ? Entry{Tensor(), c.ragged()} : Entry{c.values, {}});
  }
}

const std::vector<std::string>& Batch::names() const {
  static const std::vector<std::string> kNone;
  return layout_ ? layout_->names : kNone;
}

const Schema& Batch::schema() const {
  static const Schema kEmpty;
  return layout_ ? layout_->schema : kEmpty;
}

bool Batch::contains(std::string_view name) const {
  const auto& n = names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

std::size_t Batch::index_of(std::string_view name) const {
  const auto& n = names();
  const auto it = std::find(n.begin(), n.end(), name);
  RB_CHECK(it != n.end(), ValueError, "Batch: no column '{}' (available: {})", name,
           n.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(n, ", ")));
  return static_cast<std::size_t>(it - n.begin());
}

bool Batch::is_list(std::string_view name) const { return layout_->is_list[index_of(name)]; }

const Tensor& Batch::tensor(std::string_view name) const {
  const std::size_t i = index_of(name);
  RB_CHECK(!layout_->is_list[i], ValueError,
           "Batch: '{}' is a list column (values + offsets); use ragged(\"{}\")", name, name);
  return columns_[i].dense;
}

const RaggedTensor& Batch::ragged(std::string_view name) const {
  const std::size_t i = index_of(name);
  RB_CHECK(layout_->is_list[i], ValueError,
           "Batch: '{}' is not a list column (it is a tensor of shape {}); use tensor(\"{}\")",
           name, columns_[i].dense.shape(), name);
  return columns_[i].ragged;
}

Batch Batch::subset(std::shared_ptr<const detail::BatchLayout> layout,
                    const std::vector<std::size_t>& indices) const {
  std::vector<Entry> columns;
  columns.reserve(indices.size());
  for (std::size_t i : indices) columns.push_back(columns_[i]);
  return Batch(std::move(layout), std::move(columns), rows_);
}

Batch Batch::features() const {
  if (!layout_) return {};
  if (layout_->features) return subset(layout_->features, layout_->feature_indices);
  const auto indices = detail::indices_by_target(*layout_, false);
  return subset(detail::sub_layout(*layout_, indices), indices);
}

Batch Batch::targets() const {
  if (!layout_) return {};
  if (layout_->targets) return subset(layout_->targets, layout_->target_indices);
  const auto indices = detail::indices_by_target(*layout_, true);
  return subset(detail::sub_layout(*layout_, indices), indices);
}

Batch Batch::select(const std::vector<std::string>& names) const {
  std::vector<std::size_t> indices;
  indices.reserve(names.size());
  for (const std::string& name : names) indices.push_back(index_of(name));
  if (!layout_) return {};
  return subset(detail::sub_layout(*layout_, indices), indices);
}

Batch Batch::take(std::span<const std::int64_t> rows) const {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    RB_CHECK(0 <= rows[i] && rows[i] < rows_, ValueError,
             "Batch::take: rows[{}] = {} out of range for {} rows", i, rows[i], rows_);
  }
  const auto n = static_cast<std::int64_t>(rows.size());
  std::vector<Entry> columns;
  columns.reserve(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (layout_->is_list[c]) {
      const RaggedTensor& from = columns_[c].ragged;
      const Tensor& values = from.values();
      Tensor offsets = Tensor::empty({n + 1}, DType::kInt64);
      const std::int64_t nnz = data_detail::gather_offsets(from.offsets().data<std::int64_t>(),
                                                           rows, offsets.data<std::int64_t>());
      Shape shape = values.shape();
      shape[0] = nnz;
      Tensor gathered = Tensor::empty(shape, values.dtype());
      const auto value_bytes =
          static_cast<std::size_t>(values.numel() / std::max<std::int64_t>(values.size(0), 1)) *
          dtype_size(values.dtype());
      data_detail::gather_list_values(values.raw(), value_bytes,
                                      from.offsets().data<std::int64_t>(), rows, gathered.raw());
      columns.push_back(Entry{Tensor(), RaggedTensor(std::move(gathered), std::move(offsets))});
    } else {
      const Tensor& from = columns_[c].dense;
      Shape shape = from.shape();
      shape[0] = n;
      Tensor gathered = Tensor::empty(shape, from.dtype());
      const auto row_bytes =
          static_cast<std::size_t>(from.numel() / std::max<std::int64_t>(from.size(0), 1)) *
          dtype_size(from.dtype());
      data_detail::gather_rows(from.raw(), row_bytes, rows, gathered.raw());
      columns.push_back(Entry{std::move(gathered), {}});
    }
  }
  return Batch(layout_, std::move(columns), n);
}

namespace {

void check_rows(std::string_view name, std::int64_t rows, std::int64_t expected, bool empty) {
  RB_CHECK(empty || rows == expected, ShapeError,
           "Batch::with_column: '{}' has {} rows, the batch has {}", name, rows, expected);
}

}  // namespace

Batch Batch::with_column(const ColumnSchema& column, const Tensor& values) const {
  RB_CHECK(values.rank() >= 1, ShapeError,
           "Batch::with_column: '{}' has shape {}, expected [rows, ...]", column.name(),
           values.shape());
  check_rows(column.name(), values.size(0), rows_, columns_.empty());
  RB_CHECK(!column.is_ragged(), ValueError,
           "Batch::with_column: '{}' is a ragged list column; pass a RaggedTensor", column.name());
  const Schema schema = this->schema().with_column(column);
  std::vector<Entry> columns;
  for (const ColumnSchema& c : schema) {
    columns.push_back(c.name() == column.name() ? Entry{values, {}} : columns_[index_of(c.name())]);
  }
  return Batch(detail::make_layout(schema), std::move(columns), values.size(0));
}

Batch Batch::with_column(const ColumnSchema& column, const RaggedTensor& values) const {
  check_rows(column.name(), values.rows(), rows_, columns_.empty());
  RB_CHECK(column.is_ragged(), ValueError,
           "Batch::with_column: '{}' is not a ragged list column in its schema; pass a Tensor",
           column.name());
  const Schema schema = this->schema().with_column(column);
  std::vector<Entry> columns;
  for (const ColumnSchema& c : schema) {
    columns.push_back(c.name() == column.name() ? Entry{Tensor(), values}
                                                : columns_[index_of(c.name())]);
  }
  return Batch(detail::make_layout(schema), std::move(columns), values.rows());
}

namespace detail {

Batch LoaderAccess::slice(const std::shared_ptr<const BatchLayout>& layout, const Dataset& data,
                          std::int64_t begin, std::int64_t end) {
  RB_CHECK(0 <= begin && begin <= end && end <= data.num_rows(), ValueError,
           "Batch: rows [{}, {}) out of range for {} rows", begin, end, data.num_rows());
  std::vector<Batch::Entry> columns;
  columns.reserve(layout->names.size());
  for (const std::string& name : layout->names) {
    const Column c = data.column(name).slice(begin, end);
    columns.push_back(c.is_list() ? Batch::Entry{Tensor(), c.ragged()}
                                  : Batch::Entry{c.values, {}});
  }
  return Batch(layout, std::move(columns), end - begin);
}

}  // namespace detail

Dataset Batch::to_dataset() const {
  std::map<std::string, Column> columns;
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    const Entry& e = columns_[c];
    columns.emplace(layout_->names[c], layout_->is_list[c]
                                           ? Column{e.ragged.values(), e.ragged.offsets()}
                                           : Column{e.dense, Tensor()});
  }
  return Dataset(schema(), std::move(columns));
}

std::string Batch::str(int edge_items) const {
  std::string out = fmt::format("Batch(rows={}, columns={})", rows_, columns_.size());
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    out += fmt::format("\n{}: {}", layout_->names[i],
                       layout_->is_list[i] ? columns_[i].ragged.str(edge_items)
                                           : columns_[i].dense.str(edge_items));
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Batch& batch) { return os << batch.str(); }

}  // namespace recblocks
